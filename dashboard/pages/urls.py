from __future__ import annotations

from django.urls import path

from dashboard.pages import account, errors, keys, overview, refresh_now, transfers

app_name = "pages"
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("overview/fragment/", overview.overview_fragment, name="overview_fragment"),
    path("accounts/<int:pk>/", account.account, name="account"),
    path("accounts/<int:pk>/test-key/", keys.test_key, name="test_key"),
    path("accounts/<int:pk>/refresh/", refresh_now.refresh_now, name="refresh_now"),
    path("keys/", keys.keys, name="keys"),
    path("errors/", errors.errors, name="errors"),
    path("transfers/", transfers.transfers, name="transfers"),
    path("transfers/transfers.csv", transfers.transfers_csv, name="transfers_csv"),
    path("errors/<int:pk>/acknowledge/", errors.acknowledge_error, name="acknowledge_error"),
    path("errors/account/<int:pk>/acknowledge/", errors.acknowledge_account, name="acknowledge_account"),
]
