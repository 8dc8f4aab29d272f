"""CSV exports: the overview's accounts table, one account's balances and the cash-flow ledger,
with the same access rules as the JSON API (session or token, accounts.view_dashboard) and the
same desk limits (accounts.desks: a desk-limited user's rows are their desks' accounts; another
account is "another account"). Errors answer in JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard.api.params import FlowParams, account_from_path
from dashboard.api.permissions import CanViewDashboard
from dashboard.api.renderers import CSVRenderer, JsonErrorsMixin, Table
from dashboard.api.serializers import AccountRowWithRisk, counterparty_name
from dashboard.api.views import ACCOUNT_ID, FOR_ACCOUNT, REFUSALS, VALIDATION_ERROR, flow_rows, with_risk
from dashboard.pages.common import shown_name, visible
from ledger.models import CashFlow
from snapshots import queries
from snapshots.models import Snapshot

ACCOUNT_COLUMNS = (
    "id",
    "name",
    "kind",
    "master",
    "environment",
    "equity_usd",
    "share",
    "change_24h_usd",
    "upl_usd",
    "upl_unpriced_positions",
    "open_positions",
    "key_status",
    "warnings",
    "last_refresh_at",
    "stale",
    "in_total",
    "equity_unknown_reason",
    "positions_unknown_reason",
    "unpriced_holdings",
    # Margin and liquidation risk, as /api/v1/accounts names them (snapshots.risk.AccountRisk).
    "margin_ratio_pct",
    "margin_ratio_unknown_reason",
    "adj_equity_usd",
    "adj_equity_unknown_reason",
    "imr_usd",
    "imr_unknown_reason",
    "mmr_usd",
    "mmr_unknown_reason",
    "risk_note",
    "nearest_liq_distance_pct",
    "nearest_liq_inst_id",
    "nearest_liq_unknown_reason",
    "risk_level",
    # Whether the account is in the team's totals, and why not (issue 21), as /api/v1/accounts.
    "in_team",
    "not_in_team_reason",
)
BALANCE_COLUMNS = (
    "account", "taken_at", "wallet", "ccy", "equity", "usd_value", "available", "frozen",
    "usd_value_unknown_reason",
)  # fmt: skip
FLOW_COLUMNS = (
    "id", "account", "occurred_at", "kind", "ccy", "amount", "fee", "state", "counts", "usd_price",
    "usd_value", "usd_value_unknown_reason", "counterparty", "source", "okx_id",
)  # fmt: skip
# Why a balance line has no USD value: a funding coin the cycle's price table could not price;
# a trading line for which OKX sent no eqUsd.
UNPRICED_REASONS = {"funding": "unpriced: no USD price for this currency", "trading": "OKX sent no eqUsd"}
# Earn is one USD figure (OKX's asset valuation `details.earn`), not per currency: its row has the
# wallet "earn", the currency USD and no amount columns.
EARN_WALLET = "earn"
SHARE_PLACES = Decimal("0.0001")  # a share of 0 to 1: 0.0001 is 0.01 %
CSV_FILE = OpenApiResponse(OpenApiTypes.STR, description="A CSV file: a header row, then one row per item.")


def _csv_responses(refusals: dict[int, Any]) -> dict[Any, Any]:
    """The file as text/csv; every refusal as JSON (see CsvView.finalize_response)."""
    return {
        (200, "text/csv"): CSV_FILE,
        **{(code, "application/json"): body for code, body in refusals.items()},
    }


class CsvView(JsonErrorsMixin, generics.GenericAPIView):
    permission_classes = [CanViewDashboard]
    renderer_classes = [CSVRenderer]

    @staticmethod
    def attachment(table: Table, filename: str) -> Response:
        return Response(table, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%d-%H%M")


class AccountsCsvView(CsvView):
    @extend_schema(
        operation_id="accounts_csv",
        summary="The overview's accounts table as CSV (amounts in USD, times UTC)",
        responses=_csv_responses(REFUSALS),
    )
    def get(self, request: Request) -> Response:
        ids = visible(request)
        rows = with_risk(queries.account_rows(ids))
        table = Table(ACCOUNT_COLUMNS, (_account_cells(row, ids) for row in rows))
        return self.attachment(table, f"accounts-{_stamp(timezone.now())}.csv")


def _account_cells(row: AccountRowWithRisk, ids: frozenset[int] | None) -> list[Any]:
    account, risk = row.account, row.risk
    assert risk is not None  # with_risk gives every row one
    return [
        account.pk,
        account.name,
        account.kind,
        shown_name(account.master, ids) or None,
        account.environment,
        row.equity_usd,
        row.share.quantize(SHARE_PLACES) if row.share is not None else None,
        row.change_24h_usd,
        row.upl_usd,
        row.upl_unpriced,
        row.open_positions,
        row.key_status,
        "; ".join(w.get("message", "") for w in row.warnings),  # words, not internal codes
        row.last_refresh_at,
        row.stale,
        # Unknown is an empty cell with its reason, never 0; demo trading and the accounts excluded
        # from team totals are not in the total.
        row.in_team_totals and row.equity_usd is not None,
        row.equity_unknown_reason,
        row.positions_unknown_reason,
        " ".join(row.unpriced_holdings),
        # Unknown risk figures too: an empty cell beside its reason (the JSON's words).
        risk.margin_ratio_pct,
        risk.margin_reason,
        risk.adj_equity_usd,
        risk.adj_equity_unknown_reason,
        risk.imr_usd,
        risk.imr_unknown_reason,
        risk.mmr_usd,
        risk.mmr_unknown_reason,
        risk.note,
        risk.nearest_distance_pct,
        risk.nearest_inst_id,
        risk.distance_reason,
        risk.level,
        row.in_team_totals,
        row.not_in_team_reason,
    ]


class BalancesCsvView(CsvView):
    @extend_schema(
        operation_id="balances_csv",
        summary="Balances of the account's latest snapshot as CSV",
        parameters=[ACCOUNT_ID],
        responses=_csv_responses(FOR_ACCOUNT),
    )
    def get(self, request: Request, id: str) -> Response:
        account = account_from_path(id, request.user)
        snapshot = queries.latest_snapshot(account)
        table = Table(BALANCE_COLUMNS, _balance_cells(account.name, snapshot))
        taken = snapshot.taken_at if snapshot else timezone.now()
        return self.attachment(table, f"balances-{slugify(account.name) or account.pk}-{_stamp(taken)}.csv")


def _balance_cells(name: str, snapshot: Snapshot | None) -> Iterator[list[Any]]:
    if snapshot is None:
        return
    for line in snapshot.balances.all():
        yield [
            name,
            snapshot.taken_at,
            line.wallet,
            line.ccy,
            line.equity,
            line.usd_value,
            line.available,
            line.frozen,
            UNPRICED_REASONS.get(line.wallet, "unpriced") if line.usd_value is None else "",
        ]
    # Earn's value is in total_equity_usd; when it was not read the row says why (never 0).
    earn = snapshot.earn_usd
    note = snapshot.earn_unread or ("" if earn is not None else "not read")
    yield [name, snapshot.taken_at, EARN_WALLET, "USD", earn, earn, None, None, note]


class FlowsCsvView(CsvView):
    @extend_schema(
        operation_id="flows_csv",
        summary="The cash-flow ledger as CSV, with the filters of /api/v1/flows (all rows, newest first)",
        parameters=[FlowParams],
        responses=_csv_responses({400: VALIDATION_ERROR, **REFUSALS}),
    )
    def get(self, request: Request) -> Response:
        rows, ids = flow_rows(request), visible(request)
        table = Table(FLOW_COLUMNS, (_flow_cells(flow, ids) for flow in rows.iterator(chunk_size=500)))
        return self.attachment(table, f"flows-{_stamp(timezone.now())}.csv")


def _flow_cells(flow: CashFlow, ids: frozenset[int] | None) -> list[Any]:
    # An unpriced flow is an empty usd_value beside its reason, never 0.
    return [
        flow.pk,
        flow.account.name,
        flow.occurred_at,
        flow.kind,
        flow.ccy,
        flow.amount,
        flow.fee,
        flow.state,
        flow.counts,
        flow.usd_price,
        flow.usd_value,
        flow.usd_basis if flow.usd_value is None else "",
        counterparty_name(flow, ids),
        flow.source,
        flow.okx_id,
    ]
