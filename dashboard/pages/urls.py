from __future__ import annotations

from django.urls import path

from dashboard.pages import keys, overview

app_name = "pages"
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("overview/fragment/", overview.overview_fragment, name="overview_fragment"),
    path("accounts/<int:pk>/", overview.account, name="account"),
    # The keys and errors pages and the two operator POSTs (dashboard/pages/keys.py).
    path("accounts/<int:pk>/test-key/", keys.test_key, name="test_key"),
    path("keys/", keys.keys, name="keys"),
    path("errors/", keys.errors, name="errors"),
    path("errors/<int:pk>/acknowledge/", keys.acknowledge_error, name="acknowledge_error"),
]
