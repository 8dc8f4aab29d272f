"""The read-only JSON API (/api/v1/): DRF generic views over the pages' read model.

Rows come from snapshots.queries (the overview's accounts, equity series, latest
snapshots), dashboard.pages.keys (key warnings as of now, urgency) and the ledger (PnL net of
transfers from ledger.performance, the cash flows themselves), so the API always says what the
pages say. A desk-limited user (accounts.desks) reads the accounts of their desks only: every list
is limited to them, the totals and the team's PnL are over those in team totals, and a route
naming another account answers 404, as for an unknown id.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import generics
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import desks
from accounts.history import ApiError
from accounts.models import ENCRYPTED_FIELDS, Credential, CredentialStatus, Environment
from dashboard.api import serializers as s
from dashboard.api.params import (
    MAX_ID,
    EquityParams,
    ErrorParams,
    FlowParams,
    PnlParams,
    StrictLimitOffsetPagination,
    account_from_path,
    validated,
)
from dashboard.api.permissions import CanViewDashboard
from dashboard.api.renderers import JsonErrorsMixin
from dashboard.pages.account import closed_unknown_reason
from dashboard.pages.common import visible
from dashboard.pages.keys import key_rows
from dashboard.pages.overview import no_total_reason
from ledger.models import CashFlow
from ledger.performance import account_pnl, team_pnl
from snapshots import queries
from snapshots.models import ClosedPosition
from snapshots.risk import AccountRisk

# Raw schema of DRF's validation errors: {"field": ["message", ...]}.
VALIDATION_ERROR = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
REFUSALS = {401: s.ProblemSerializer, 403: s.ProblemSerializer}
FOR_ACCOUNT = {**REFUSALS, 400: VALIDATION_ERROR, 404: s.ProblemSerializer}
ACCOUNT_ID = OpenApiParameter(
    "id",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    OpenApiParameter.PATH,
    description="The account's id (as in /api/v1/accounts).",
)


class ApiView(generics.GenericAPIView):
    permission_classes = [CanViewDashboard]


class AccountsView(ApiView):
    serializer_class = s.AccountsSerializer

    @extend_schema(
        operation_id="list_accounts",
        summary="Every active account (of the user's desks) with its latest figures, and the totals",
        responses={200: s.AccountsSerializer, **REFUSALS},
    )
    def get(self, request: Request) -> Response:
        ids = visible(request)
        rows = queries.account_rows(ids)
        # The team's totals leave demo trading and the accounts excluded from team totals out;
        # demo trading has its own subtotal (no query when there is no demo account with equity).
        data = {
            "totals": queries.totals(rows),
            "demo_totals": queries.totals(rows, Environment.DEMO),
            "accounts": with_risk(rows),
        }
        # Why a total (and so its change) is unknown, in the overview's words.
        team = [row for row in rows if row.group == queries.TEAM]
        reasons = {Environment.LIVE: no_total_reason(team)}
        context = {**self.get_serializer_context(), "no_total_reason": reasons}
        return Response(self.get_serializer(data, context=context).data)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "visible": visible(self.request)}


class AccountView(ApiView):
    serializer_class = s.AccountRowSerializer

    @extend_schema(
        operation_id="get_account",
        summary="One active account's row of the overview (its share is of the team's total)",
        parameters=[ACCOUNT_ID],
        responses={200: s.AccountRowSerializer, **FOR_ACCOUNT},
    )
    def get(self, request: Request, id: str) -> Response:
        account = account_from_path(id, request.user)
        # The whole table (a fixed number of queries): the share needs every visible account's equity.
        ids = visible(request)
        row = next((row for row in queries.account_rows(ids) if row.account.pk == account.pk), None)
        if row is None:
            raise NotFound("This account is paused (inactive); its balances and history remain readable.")
        return Response(self.get_serializer(with_risk([row])[0]).data)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "visible": visible(self.request)}


def with_risk(rows: list[queries.AccountRow]) -> list[s.AccountRowWithRisk]:
    """The rows with their risk (snapshots.risk.account_risk of the rows' latest snapshots: a fixed
    number of queries)."""
    risks = queries.rows_risk(rows)
    return [
        s.AccountRowWithRisk.of(row, risks.get(row.account.pk) or AccountRisk.never_read(row.account.pk))
        for row in rows
    ]


class BalancesView(ApiView):
    serializer_class = s.BalancesSerializer

    @extend_schema(
        operation_id="get_balances",
        summary="Balances by currency of the account's latest snapshot (trading and funding)",
        parameters=[ACCOUNT_ID],
        responses={200: s.BalancesSerializer, **FOR_ACCOUNT},
    )
    def get(self, request: Request, id: str) -> Response:
        account = account_from_path(id, request.user)
        snapshot = queries.latest_snapshot(account)
        lines = list(snapshot.balances.all()) if snapshot else []
        data = {"account": account, "snapshot": snapshot, "balances": lines}
        return Response(self.get_serializer(data).data)


class PositionsView(ApiView):
    serializer_class = s.PositionsSerializer

    @extend_schema(
        operation_id="get_positions",
        summary="Open positions of the account's latest snapshot",
        parameters=[ACCOUNT_ID],
        responses={200: s.PositionsSerializer, **FOR_ACCOUNT},
    )
    def get(self, request: Request, id: str) -> Response:
        account = account_from_path(id, request.user)
        snapshot = queries.latest_snapshot(account)
        # A size of 0 is no position (rows stored before the refresh dropped OKX's pos "0" rows).
        lines = [p for p in snapshot.positions.all() if p.size != 0] if snapshot else []
        # Unknown is never an empty list: null with the reason.
        reason = (
            queries.NEVER_READ
            if snapshot is None
            else queries.NOT_READABLE_VIA_MASTER
            if snapshot.via_master
            else None
        )
        data = {
            "account": account,
            "snapshot": snapshot,
            "positions": None if reason else lines,
            "positions_unknown_reason": reason,
        }
        return Response(self.get_serializer(data).data)


class ClosedPositionsPage(StrictLimitOffsetPagination):
    """The paginated list of an account's closed positions, with the account and why the list is
    unknown (`results` null) or may be incomplete."""

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        results = paginated["properties"]["results"]
        paginated["properties"] = {
            "account": {"type": "integer"},
            "unknown_reason": {
                "type": "string",
                "nullable": True,
                "description": "Why the list is unknown (results null when nothing is stored) or may be "
                'incomplete: "not readable without the account\'s own key" (OKX gives positions history '
                "only to the account's own key; rows stored while it had one are still listed), "
                '"never read", or why the latest snapshot\'s reading of it is incomplete ("still being '
                'read back: 2026-10-02 14:05 UTC reached", "could not be read: exchange busy on '
                '/api/v5/account/positions-history"); null only when it is read up to the latest '
                "snapshot and back to the 3 months OKX keeps (an empty list is then: none closed).",
            },
            **paginated["properties"],
            "results": {**results, "nullable": True, "description": "Newest first; null when unknown."},
        }
        paginated["required"] = ["account", "unknown_reason", "count", "results"]
        return paginated


class ClosedPositionsView(generics.ListAPIView, ApiView):
    serializer_class = s.ClosedPositionSerializer
    pagination_class = ClosedPositionsPage

    def get_queryset(self) -> QuerySet:
        self.account = account_from_path(self.kwargs["id"], self.request.user)
        return ClosedPosition.objects.filter(account=self.account).order_by("-closed_at", "-id")

    def get_paginated_response(self, data: Any) -> Response:
        account = self.account
        own_key = account.active_credential() is not None
        reason = closed_unknown_reason(own_key, queries.latest_snapshot(account))
        response = super().get_paginated_response(data)
        results = None if reason and not data else response.data["results"]
        response.data = {"account": account.pk, "unknown_reason": reason, **response.data, "results": results}
        return response

    @extend_schema(
        operation_id="list_closed_positions",
        summary="The account's closed positions (OKX's positions history, the last 3 months), newest first",
        parameters=[ACCOUNT_ID],
        responses={200: s.ClosedPositionSerializer(many=True), **FOR_ACCOUNT},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class EquityView(ApiView):
    serializer_class = s.EquitySerializer

    @extend_schema(
        operation_id="get_equity",
        summary="The account's equity over a range, downsampled to at most ~300 points",
        parameters=[ACCOUNT_ID, EquityParams],
        responses={200: s.EquitySerializer, **FOR_ACCOUNT},
    )
    def get(self, request: Request, id: str) -> Response:
        account = account_from_path(id, request.user)
        range_key = validated(EquityParams, request)["range"]
        points = [
            {"time": when, "equity_usd": value} for when, value in queries.equity_series(account, range_key)
        ]
        data = {"account": account.pk, "range": range_key, "points": points}
        return Response(self.get_serializer(data).data)


class KeysView(ApiView):
    """Active credentials, most urgent first (as on the keys page). Only the allow-listed fields
    of KeySerializer leave; the encrypted columns are not even read."""

    serializer_class = s.KeySerializer

    def get_queryset(self) -> QuerySet:
        keys = (
            Credential.objects.filter(status=CredentialStatus.ACTIVE)
            .select_related("account", "account__master")
            .defer(*ENCRYPTED_FIELDS)
        )
        return desks.limit_to_visible(keys, self.request.user)

    @extend_schema(
        operation_id="list_keys",
        summary="Every active API key with its health, warnings as of now and dates",
        responses={200: s.KeySerializer(many=True), **REFUSALS},
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        today = now.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE)).date()  # as the keys page does
        rows = key_rows(self.get_queryset(), today=today, now=now)
        rows.sort(key=lambda row: row.urgency)
        return Response(self.get_serializer(rows, many=True).data)


class ErrorsView(generics.ListAPIView, ApiView):
    serializer_class = s.ApiErrorSerializer
    pagination_class = StrictLimitOffsetPagination

    def get_queryset(self) -> QuerySet:
        params = validated(ErrorParams, self.request)
        rows = ApiError.objects.select_related("account").order_by("-last_seen", "-pk")
        return ErrorParams.apply(desks.limit_to_visible(rows, self.request.user), params)

    @extend_schema(
        operation_id="list_errors",
        summary="The diagnosed error history, newest first, filtered and paginated",
        parameters=[ErrorParams],
        responses={200: s.ApiErrorSerializer(many=True), 400: VALIDATION_ERROR, **REFUSALS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PnlView(ApiView):
    serializer_class = s.PnlSerializer

    @extend_schema(
        operation_id="get_pnl",
        summary="PnL net of transfers over a period: per active account (of the user's desks) and the team",
        parameters=[PnlParams],
        responses={200: s.PnlSerializer, 400: VALIDATION_ERROR, **REFUSALS},
    )
    def get(self, request: Request) -> Response:
        window = validated(PnlParams, request)["window"]
        accounts = list(desks.visible_accounts(request.user).filter(active=True).order_by("name", "pk"))
        figures = account_pnl([account.pk for account in accounts], window)
        rows = [
            {
                **_as_dict(figures[account.pk]),
                "account": account,
                "in_team": account.in_team_totals,
                "not_in_team_reason": queries.not_in_team_reason(account),
            }
            for account in accounts
        ]
        data = {"period": window, "team": team_pnl(window, visible(request)), "accounts": rows}
        return Response(self.get_serializer(data).data)


def _as_dict(figures: Any) -> dict[str, Any]:
    """A PnL dataclass as a dict, so an account's row can carry the account beside its figures."""
    return {field.name: getattr(figures, field.name) for field in fields(figures)}


def flow_rows(request: Request) -> QuerySet[CashFlow]:
    """The ledger's flows that the query string asks for (FlowParams), of the accounts the user
    sees, newest first; the JSON list and flows.csv read the same rows."""
    params = validated(FlowParams, request)
    rows = CashFlow.objects.select_related("account", "counterparty").order_by("-occurred_at", "-pk")
    return FlowParams.apply(desks.limit_to_visible(rows, request.user), params)


class FlowsView(generics.ListAPIView, ApiView):
    serializer_class = s.FlowSerializer
    pagination_class = StrictLimitOffsetPagination

    def get_queryset(self) -> QuerySet:
        return flow_rows(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        # A transfer's other side is named only when the user sees it (FlowSerializer).
        return {**super().get_serializer_context(), "visible": visible(self.request)}

    @extend_schema(
        operation_id="list_flows",
        summary="The cash-flow ledger (deposits, withdrawals, transfers): newest first, filtered, paginated",
        parameters=[FlowParams],
        responses={200: s.FlowSerializer(many=True), 400: VALIDATION_ERROR, **REFUSALS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema(exclude=True)
@api_view(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
def not_found(request: Request) -> Response:
    """Any other path under /api/v1/: a JSON 404, so scripts never have to parse an HTML page."""
    raise NotFound("No such API endpoint; the list is in /api/v1/schema (to read: /api/v1/docs).")


class SchemaView(JsonErrorsMixin, SpectacularAPIView):
    """The OpenAPI 3 schema: YAML by default, JSON with ?format=json or Accept: application/json."""


class DocsView(SpectacularSwaggerSplitView):
    """The browsable documentation (/api/v1/docs): Swagger UI over /api/v1/schema, with "Try it
    out" using the signed-in session. Swagger UI's files come from drf-spectacular-sidecar through
    the dashboard's static files, and its start-up script is this view's `?script` answer (a
    separate file, not inline), so the page keeps the strict CSP. The URL configuration wraps it in
    viewer_required: anonymous visitors go to the login page like on every other page."""

    url_name = "api:schema"
    template_name = "dashboard/api_docs.html"
    title = "OKX team dashboard API"
