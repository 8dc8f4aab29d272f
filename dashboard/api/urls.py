"""/api/v1/: the read-only JSON API, its OpenAPI schema and the CSV exports.

Account ids are matched as any text and validated by the views, so a malformed id answers a
JSON 400 rather than Django's HTML 404; anything else under /api/v1/ answers a JSON 404. The
documentation page (docs) is the one HTML page here: a browser that is not signed in is sent to
the login page, as on the dashboard's pages.
"""

from __future__ import annotations

from django.urls import path, re_path

from accounts.roles import viewer_required
from dashboard.api import exports, views

app_name = "api"
urlpatterns = [
    path("accounts", views.AccountsView.as_view(), name="accounts"),
    path("accounts.csv", exports.AccountsCsvView.as_view(), name="accounts_csv"),
    path("accounts/<str:id>", views.AccountView.as_view(), name="account"),
    path("accounts/<str:id>/balances", views.BalancesView.as_view(), name="balances"),
    path("accounts/<str:id>/balances.csv", exports.BalancesCsvView.as_view(), name="balances_csv"),
    path("accounts/<str:id>/positions", views.PositionsView.as_view(), name="positions"),
    path("accounts/<str:id>/equity", views.EquityView.as_view(), name="equity"),
    path("accounts/<str:id>/closed-positions", views.ClosedPositionsView.as_view(), name="closed_positions"),
    path("keys", views.KeysView.as_view(), name="keys"),
    path("errors", views.ErrorsView.as_view(), name="errors"),
    path("pnl", views.PnlView.as_view(), name="pnl"),
    path("flows", views.FlowsView.as_view(), name="flows"),
    path("flows.csv", exports.FlowsCsvView.as_view(), name="flows_csv"),
    path("schema", views.SchemaView.as_view(), name="schema"),
    path("docs", viewer_required(views.DocsView.as_view()), name="docs"),
    re_path(r"^.*$", views.not_found, name="not_found"),
]
