"""Who may read the API: the same people who may read the pages (viewer, operator, key admin)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.roles import VIEW_DASHBOARD


class CanViewDashboard(BasePermission):
    """Signed in (session or token) and holding accounts.view_dashboard. DRF answers 401 to a
    request without credentials and 403 to a user without the permission."""

    message = "You need the dashboard's view permission (the viewer, operator or key admin role)."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user.is_authenticated and user.has_perm(VIEW_DASHBOARD))
