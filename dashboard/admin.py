"""Admin registrations of the dashboard app's areas (Django's autodiscovery imports this module)."""

from dashboard.reports import admin as reports_admin  # noqa: F401
