"""What the read-only API sends: explicit allow-lists of fields, money as exact decimal strings.

No serializer here is a ModelSerializer over all fields: a field reaches a response only when it
is named below, so a new model field (or a secret one) never leaks by default.

An account the user does not see (accounts.desks) is never named: a sub-account's master or a
transfer's other side of another desk is sent as id null and name "another account" (the
serializer context's "visible": the ids the user sees, None for every account).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from accounts.models import Account, AccountKind, Environment
from dashboard.pages.common import sees, shown_name
from ledger.models import CashFlow, FlowKind, FlowSource
from snapshots import risk
from snapshots.models import CloseType, Wallet
from snapshots.queries import DEMO_TRADING, EXCLUDED, AccountRow, Change, Totals
from snapshots.risk import LEVELS, AccountRisk

KEY_HEALTH = ("ok", "grace", "failing", "unchecked")
KEY_STATUSES = (*KEY_HEALTH, "none")  # none: no key of its own (read through its master)
# Why a total's change is null although the total is known (the overview's words).
NO_BASELINE = "no snapshot to compare with yet"
IN_TEAM_HELP = (
    "Whether the account is in the team's totals, chart and PnL: live and not excluded from team "
    "totals (demo-trading accounts never are; a key admin may exclude a test account or a client's money)."
)
NOT_IN_TEAM_HELP = f'Why in_team is false: "{DEMO_TRADING}" or "{EXCLUDED}"; null when it is true.'


def visible_ids(field: serializers.Field) -> frozenset[int] | None:
    """The ids of the accounts the request's user sees, from the serializer context ("visible");
    None (every account) when the view gives none."""
    ids: frozenset[int] | None = field.context.get("visible")
    return ids


def _master(field: serializers.Field, account: Account) -> tuple[int | None, str | None]:
    """(id, name) of the account's master: (None, "another account") when the user does not see
    it; (None, None) without a master."""
    if not account.master_id:
        return None, None
    ids = visible_ids(field)
    return (account.master_id if sees(ids, account.master_id) else None), shown_name(account.master, ids)


def money(**kwargs: Any) -> serializers.DecimalField:
    """A stored Decimal as a plain decimal string, trailing zeros dropped ("1234.5", never
    "1.2345E+3" or "1234.500000000000000000"): the exact value, ready for Decimal(...)."""
    kwargs.setdefault("allow_null", True)
    return serializers.DecimalField(
        max_digits=None, decimal_places=None, normalize_output=True, coerce_to_string=True, **kwargs
    )


def utc_time(**kwargs: Any) -> serializers.DateTimeField:
    """ISO 8601 in UTC ("...Z") whatever time zone a request may have activated for display."""
    return serializers.DateTimeField(default_timezone=UTC, **kwargs)


class ReasonField(serializers.CharField):
    """A reason or note that is "" when there is none, sent as null (as equity_unknown_reason)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> Any:  # str | None (the stubs say str)
        return str(value) if value else None


@dataclass(frozen=True)
class AccountRowWithRisk(AccountRow):
    """An overview row with its margin and liquidation risk (snapshots.risk.account_risk), as
    AccountRowSerializer reads it."""

    risk: AccountRisk | None = None

    @classmethod
    def of(cls, row: AccountRow, risk: AccountRisk) -> AccountRowWithRisk:
        return cls(**row.__dict__, risk=risk)


class WarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    date = serializers.DateField(allow_null=True)
    severity = serializers.CharField()


class AccountRowSerializer(serializers.Serializer):
    """One row of the overview's accounts table (snapshots.queries.AccountRow)."""

    id = serializers.IntegerField(source="account.id")
    name = serializers.CharField(source="account.name")
    kind = serializers.ChoiceField(source="account.kind", choices=AccountKind.choices)
    master = serializers.SerializerMethodField(
        help_text="The master's id (a sub-account); null without one, or when it is an account of a "
        'desk the user does not see (master_name is then "another account").'
    )
    master_name = serializers.SerializerMethodField(help_text="The master's name; null without one.")
    environment = serializers.ChoiceField(source="account.environment", choices=Environment.choices)
    equity_usd = money(help_text="null when unknown (equity_unknown_reason says why).")
    equity_unknown_reason = serializers.CharField(
        allow_null=True, help_text='Why equity_usd is null ("never read"), else null.'
    )
    in_total = serializers.SerializerMethodField(
        help_text="Whether equity_usd is in totals.equity_usd: an account in team totals (in_team) "
        "with a known equity. Demo-trading accounts are in demo_totals instead."
    )
    in_team = serializers.BooleanField(source="in_team_totals", help_text=IN_TEAM_HELP)
    not_in_team_reason = serializers.CharField(allow_null=True, help_text=NOT_IN_TEAM_HELP)
    share = money(
        help_text="This account's part of its group's total equity (in team totals: the team's total; "
        "demo: the demo subtotal; excluded from team totals: their subtotal), 0 to 1, of the "
        "accounts the user sees."
    )
    change_24h_usd = money()
    upl_usd = money(
        help_text="Unrealised PnL of the open positions in USD: the sum of the positions' upl_usd; "
        "positions without a USD value are left out and counted in upl_unpriced_positions."
    )
    upl_unpriced_positions = serializers.IntegerField(
        source="upl_unpriced", help_text="Open positions whose PnL has no USD value (left out of upl_usd)."
    )
    open_positions = serializers.IntegerField(
        allow_null=True,
        help_text="Positions with a size other than 0; null when unknown (positions_unknown_reason).",
    )
    positions_unknown_reason = serializers.CharField(
        allow_null=True,
        help_text='Why open_positions and upl_usd are null: "not readable through the master key" '
        '(a sub-account read with its master\'s key) or "never read" (no snapshot); else null.',
    )
    key_status = serializers.ChoiceField(choices=KEY_STATUSES)
    warnings = WarningSerializer(many=True)
    last_refresh_at = utc_time(allow_null=True)
    stale = serializers.BooleanField()
    unpriced_holdings = serializers.ListField(
        child=serializers.CharField(),
        help_text="Currencies the latest snapshot holds but could not price (no USD price in the "
        "cycle's price table): left out of equity_usd, never counted as 0.",
    )
    # Margin and liquidation risk of the latest snapshot (snapshots.risk; docs/valuation.md "Risk").
    margin_ratio_pct = money(
        source="risk.margin_ratio_pct",
        help_text="OKX's mgnRatio (GET /api/v5/account/balance, or the master's "
        "/api/v5/account/subaccount/balances) in percent: 150 is a ratio of 1.5; OKX liquidates as it "
        "falls toward 100. Futures mode has no account figure: the lowest per-currency "
        "details[].mgnRatio (risk_note says so). null when unknown (margin_ratio_unknown_reason).",
    )
    margin_ratio_unknown_reason = serializers.SerializerMethodField(
        help_text='Why margin_ratio_pct is null (e.g. "never read", OKX\'s answer has none); else null.'
    )
    adj_equity_usd = money(
        source="risk.adj_equity_usd",
        help_text="OKX's adjEq: adjusted equity in USD, the assets that back cross margin at their "
        "discount rates; null where OKX gives none (Futures mode) or when never read "
        "(adj_equity_unknown_reason).",
    )
    adj_equity_unknown_reason = ReasonField(
        source="risk.adj_equity_unknown_reason",
        help_text=f'Why adj_equity_usd is null: "never read", "{risk.FUTURES_NO_FIGURE}", '
        f'"{risk.NOT_RECORDED}" or "{risk.OKX_SENT_NONE}"; else null.',
    )
    imr_usd = money(
        source="risk.imr_usd",
        help_text="OKX's imr: initial margin of the cross positions and pending orders, USD; null as "
        "adj_equity_usd (imr_unknown_reason).",
    )
    imr_unknown_reason = ReasonField(
        source="risk.imr_unknown_reason", help_text="Why imr_usd is null, as adj_equity_unknown_reason."
    )
    mmr_usd = money(
        source="risk.mmr_usd",
        help_text="OKX's mmr: maintenance margin of the cross positions and pending orders, USD; null "
        "as adj_equity_usd (mmr_unknown_reason).",
    )
    mmr_unknown_reason = ReasonField(
        source="risk.mmr_unknown_reason", help_text="Why mmr_usd is null, as adj_equity_unknown_reason."
    )
    risk_note = ReasonField(
        source="risk.note",
        help_text="How the risk figures were taken or why they are null, as the refresh stored it; "
        "else null.",
    )
    nearest_liq_distance_pct = money(
        source="risk.nearest_distance_pct",
        help_text="The open position nearest its liquidation: how far its mark price (markPx) may move "
        "against it before its estimated liquidation price (liqPx), in percent of the mark; 0 at or "
        "past it. null when unknown (nearest_liq_unknown_reason).",
    )
    nearest_liq_inst_id = ReasonField(
        source="risk.nearest_inst_id", help_text="That position's instrument (OKX's instId); else null."
    )
    nearest_liq_unknown_reason = serializers.SerializerMethodField(
        help_text='Why nearest_liq_distance_pct is null: "no open positions", "positions are not '
        'readable through the master key", "never read", or no liquidation price from OKX; else null.'
    )
    risk_level = serializers.SerializerMethodField(
        help_text="The worse of the two figures' levels as the pages colour them: danger (margin ratio "
        "under 150% or a position within 10% of liquidation), warn (under 300%, within 20%), ok; none "
        "when nothing can be liquidated (no cross margin in use, and no open position or none OKX "
        'gives a liquidation price for, such as options: the overview says "no positions" or '
        '"nothing at risk"); or unknown when both figures are.'
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """Serializer.to_representation (the same values), over the fields listed once: DRF walks
        self.fields again for every row, ~15 % of /api/v1/accounts at 500 rows."""
        fields = self.__dict__.get("_listed_fields")
        if fields is None:
            fields = self.__dict__["_listed_fields"] = list(self._readable_fields)
        data: dict[str, Any] = {}
        for field in fields:
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            data[field.field_name] = None if attribute is None else field.to_representation(attribute)
        return data

    def get_in_total(self, row: Any) -> bool:
        return bool(row.in_team_totals and row.equity_usd is not None)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_master(self, row: AccountRow) -> int | None:
        return _master(self, row.account)[0]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_master_name(self, row: AccountRow) -> str | None:
        return _master(self, row.account)[1]

    # The reasons in the pages' words (snapshots.risk.AccountRisk, as dashboard.pages.overview.RiskText).
    def get_margin_ratio_unknown_reason(self, row: AccountRowWithRisk) -> str | None:
        return (row.risk.margin_reason or None) if row.risk else None

    def get_nearest_liq_unknown_reason(self, row: AccountRowWithRisk) -> str | None:
        return (row.risk.distance_reason or None) if row.risk else None

    @extend_schema_field(serializers.ChoiceField(choices=LEVELS))
    def get_risk_level(self, row: AccountRowWithRisk) -> str:
        return row.risk.level if row.risk else "unknown"


class NotInTotalSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account.id")
    name = serializers.CharField(source="account.name")
    reason = serializers.CharField()


class TotalsSerializer(serializers.Serializer):
    """Sums over the active accounts of one group (snapshots.queries.totals): the team's (live,
    not excluded from team totals) or demo trading's, of the accounts the user sees."""

    environment = serializers.ChoiceField(choices=Environment.choices)
    equity_usd = money(allow_null=False, help_text="The sum of equity_usd of the accounts it counts.")
    change_24h_usd = money(
        source="change_24h.usd",
        default=None,
        help_text="The change in equity over 24 h, as the overview shows it: each counted account "
        "against its equity 24 h ago or, with less history, its first snapshot (change_24h_since); "
        "null when unknown (change_24h_unknown_reason).",
    )
    change_24h_since = utc_time(
        source="change_24h.since",
        default=None,
        allow_null=True,
        help_text='The earliest first snapshot counted from (the overview\'s "since first data") when '
        "some account has less than 24 h of history; null when every one is counted over the whole 24 h.",
    )
    change_24h_unknown_reason = serializers.SerializerMethodField(
        help_text="Why change_24h_usd is null (the overview's words); else null."
    )
    change_7d_usd = money(source="change_7d.usd", default=None, help_text="As change_24h_usd, over 7 days.")
    change_7d_since = utc_time(
        source="change_7d.since", default=None, allow_null=True, help_text="As change_24h_since, over 7 days."
    )
    change_7d_unknown_reason = serializers.SerializerMethodField(
        help_text="Why change_7d_usd is null; else null."
    )
    last_refresh_at = utc_time(allow_null=True)
    stale_accounts = serializers.IntegerField()
    accounts = serializers.IntegerField(
        help_text="Active accounts of this group (live: those in team totals, in_team)."
    )
    counted = serializers.IntegerField(help_text="How many of them equity_usd covers.")
    not_in_total = NotInTotalSerializer(many=True, help_text="The accounts equity_usd leaves out, and why.")
    unpriced_holdings = serializers.IntegerField(
        help_text="Holdings (one per account and currency) of the counted accounts that have no USD "
        "price and are left out of equity_usd."
    )

    def get_change_24h_unknown_reason(self, totals: Totals) -> str | None:
        return self._change_reason(totals, totals.change_24h)

    def get_change_7d_unknown_reason(self, totals: Totals) -> str | None:
        return self._change_reason(totals, totals.change_7d)

    def _change_reason(self, totals: Totals, change: Change | None) -> str | None:
        """No total: the overview's reason (context "no_total_reason" by environment); else none
        to compare with."""
        if change is not None:
            return None
        if not totals.counted:
            return self.context.get("no_total_reason", {}).get(totals.environment) or NO_BASELINE
        return NO_BASELINE


class AccountsSerializer(serializers.Serializer):
    totals = TotalsSerializer(
        help_text="The team's totals: the accounts in team totals (in_team) only: never demo trading, "
        "never an account excluded from team totals; a desk-limited user's, over their desks' accounts."
    )
    demo_totals = TotalsSerializer(help_text="The demo-trading accounts' own subtotal (paper money).")
    accounts = AccountRowSerializer(many=True)


class BalanceLineSerializer(serializers.Serializer):
    wallet = serializers.ChoiceField(choices=Wallet.choices)
    ccy = serializers.CharField()
    equity = money()
    usd_value = money()
    available = money()
    frozen = money()


class PositionLineSerializer(serializers.Serializer):
    inst_id = serializers.CharField()
    inst_type = serializers.CharField()
    side = serializers.CharField(help_text='"long" or "short" ("" when OKX\'s answer does not say).')
    pos_side = serializers.CharField(help_text="OKX's posSide: long, short or net.")
    size = money(help_text="OKX's pos as sent: negative for a short in net mode.")
    size_unit = serializers.CharField(help_text='"contracts", or the coin (posCcy) of a MARGIN position.')
    avg_price = money()
    mark_price = money()
    upl = money(help_text="Unrealised PnL in upl_ccy (OKX's margin currency ccy).")
    upl_ccy = serializers.CharField()
    upl_usd = money(help_text="upl in USD; null when unknown (upl_usd_basis says why).")
    upl_usd_price = money(help_text="The USD price of upl_ccy used for upl_usd.")
    upl_usd_basis = serializers.CharField(help_text="How upl_usd was priced, or why it is unknown.")
    upl_ratio = money()
    leverage = money()
    liq_price = money()
    margin_mode = serializers.CharField()
    notional_usd = money()


class SnapshotHeadSerializer(serializers.Serializer):
    """Which snapshot the lines come from; taken_at is null when the account has none yet."""

    account = serializers.IntegerField(source="account.id")
    taken_at = utc_time(source="snapshot.taken_at", allow_null=True, default=None)
    via_master = serializers.BooleanField(source="snapshot.via_master", default=False)


class BalancesSerializer(SnapshotHeadSerializer):
    total_equity_usd = money(source="snapshot.total_equity_usd", default=None)
    trading_equity_usd = money(source="snapshot.trading_equity_usd", default=None)
    funding_usd = money(source="snapshot.funding_usd", default=None)
    unpriced_funding = serializers.ListField(
        child=serializers.CharField(), source="snapshot.unpriced_funding", default=list
    )
    prices_note = serializers.CharField(
        source="snapshot.prices_note",
        default="",
        help_text="Why the funding prices are not this cycle's own (the last table read within 15 min "
        'is used and this says how old), or why there were none; "" when they are this cycle\'s.',
    )
    earn_usd = money(
        source="snapshot.earn_usd",
        default=None,
        help_text="Earn (simple earn / savings) in USD: OKX's GET /api/v5/asset/asset-valuation "
        "details.earn; included in total_equity_usd. null when not read (earn_unknown_reason).",
    )
    earn_unknown_reason = serializers.SerializerMethodField(
        help_text='Why earn_usd is null ("not readable through the master key", "not read this '
        'cycle (rate limit)", "never read"), or a note on the value used; else null.'
    )
    balances = BalanceLineSerializer(many=True)

    def get_earn_unknown_reason(self, data: Any) -> str | None:
        snapshot = data["snapshot"]
        if snapshot is None:
            return "never read"
        return snapshot.earn_unread or (None if snapshot.earn_usd is not None else "not read")


class PositionsSerializer(SnapshotHeadSerializer):
    positions = PositionLineSerializer(
        many=True, allow_null=True, help_text="null when unknown (positions_unknown_reason says why)."
    )
    positions_unknown_reason = serializers.CharField(
        allow_null=True,
        help_text='"not readable through the master key" or "never read" when positions is null.',
    )


class ClosedPositionSerializer(serializers.Serializer):
    """One row of OKX's positions history as stored (snapshots.models.ClosedPosition; GET
    /api/v5/account/positions-history). Amounts are in ccy, OKX's margin currency."""

    inst_id = serializers.CharField(help_text="OKX's instId.")
    inst_type = serializers.CharField(help_text="MARGIN, SWAP, FUTURES or OPTION.")
    pos_id = serializers.CharField(help_text="OKX's posId.")
    margin_mode = serializers.CharField(source="mgn_mode", help_text="cross or isolated.")
    pos_side = serializers.CharField(help_text="OKX's posSide: long, short (hedge mode) or net.")
    direction = serializers.CharField(help_text="long or short.")
    close_type = serializers.ChoiceField(
        choices=CloseType.choices,
        help_text="OKX's type, the latest close type of the position: 1 closed in part, 2 closed, "
        "3 liquidated, 4 liquidated in part, 5 auto-deleveraged in part, 6 auto-deleveraged.",
    )
    close_type_label = serializers.CharField(
        source="get_close_type_display", help_text="close_type in words."
    )
    forced = serializers.BooleanField(help_text="A liquidation or an auto-deleveraging (types 3 to 6).")
    ccy = serializers.CharField(help_text="The currency of the amounts (OKX's margin currency ccy).")
    leverage = money(help_text="OKX's lever.")
    open_avg_price = money(help_text="OKX's openAvgPx.")
    close_avg_price = money(help_text="OKX's closeAvgPx.")
    trigger_price = money(help_text="OKX's triggerPx: the mark price that set off a liquidation or ADL.")
    open_max_size = money(help_text="OKX's openMaxPos: the largest size the position had.")
    closed_size = money(help_text="OKX's closeTotalPos: the size closed (contracts for derivatives).")
    realized_pnl = money(
        help_text="OKX's realizedPnl, in ccy: pnl + fee + funding_fee + liq_penalty (+ settled PnL)."
    )
    pnl = money(help_text="OKX's pnl, in ccy: the PnL of the closes, fees excluded.")
    fee = money(help_text="OKX's fee, in ccy (negative: paid).")
    funding_fee = money(help_text="OKX's fundingFee, in ccy.")
    liq_penalty = money(help_text="OKX's liqPenalty, in ccy (negative; liquidations only).")
    opened_at = utc_time(help_text="OKX's cTime.")
    closed_at = utc_time(help_text="OKX's uTime: the latest update, the close.")


class EquityPointSerializer(serializers.Serializer):
    time = utc_time()
    equity_usd = money(allow_null=False)


class EquitySerializer(serializers.Serializer):
    account = serializers.IntegerField()
    range = serializers.CharField()
    points = EquityPointSerializer(many=True)


class KeySerializer(serializers.Serializer):
    """An active key as the keys page shows it (dashboard.pages.keys.KeyRow): never its
    ciphertext, nothing derived from a secret but the last four characters of the API key, which
    OKX itself shows."""

    id = serializers.IntegerField(source="credential.id")
    account = serializers.IntegerField(source="credential.account_id")
    account_name = serializers.CharField(source="credential.account.name")
    # The metaclass takes declared fields out of the class, so this does not shadow Field.label;
    # the stubs cannot see that.
    label = serializers.CharField(source="credential.label")  # type: ignore[assignment]
    fingerprint = serializers.CharField(source="credential.display_fingerprint")
    status = serializers.ChoiceField(choices=KEY_HEALTH, help_text="unchecked: not yet checked with OKX")
    health_message = serializers.CharField(source="credential.health_reason")
    health_checked_at = utc_time(source="credential.health_checked_at", allow_null=True)
    warnings = WarningSerializer(many=True, help_text="As of now: date rules are recomputed on each read.")
    deadline = serializers.DateField(allow_null=True, help_text="The nearest idle deletion or expiry.")
    days_left = serializers.IntegerField(allow_null=True)
    permissions = serializers.ListField(child=serializers.CharField(), source="credential.permissions")
    ip_binding = serializers.ListField(child=serializers.CharField(), source="credential.ip_binding")
    okx_created_at = utc_time(source="credential.okx_created_at", allow_null=True)
    created_at = utc_time(source="credential.created_at")
    activated_at = utc_time(source="credential.activated_at", allow_null=True)
    expires_on = serializers.DateField(source="credential.expires_on", allow_null=True)
    last_success_at = utc_time(source="credential.last_success_at", allow_null=True)
    failing_since = utc_time(source="credential.failing_since", allow_null=True)
    clock_offset_ms = serializers.IntegerField(source="credential.clock_offset_ms", allow_null=True)


class ApiErrorSerializer(serializers.Serializer):
    """One diagnosed error; `message` is OKX's text, verbatim (escape it when showing it)."""

    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    account_name = serializers.CharField(source="account.name")
    endpoint = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()
    category = serializers.CharField()
    meaning = serializers.CharField()
    steps = serializers.ListField(child=serializers.CharField())
    first_seen = utc_time()
    last_seen = utc_time()
    count = serializers.IntegerField()
    acknowledged = serializers.BooleanField()
    acknowledged_at = utc_time(allow_null=True)


class PeriodSerializer(serializers.Serializer):
    """ledger.pnl.Period: what the figures cover."""

    key = serializers.CharField(help_text="The period asked for: today, 24h, 7d, 30d, mtd, ytd or custom.")
    # See KeySerializer.label.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text='In words: "Last 24 hours", "Month to date", or a custom period\'s two days.'
    )
    start = utc_time()
    end = utc_time(help_text="Now, or the end of a custom period's last day when that is earlier.")


class PnlFiguresSerializer(serializers.Serializer):
    """ledger.performance.PnL: the profit or loss over the period net of transfers, i.e. the
    change in equity minus the net inflow (deposits, withdrawals and transfers counted in USD at
    their time). Unknown figures are null, with the reason in unknown_reason: never 0."""

    pnl_usd = money(
        source="pnl",
        help_text="end_equity_usd - start_equity_usd - net_inflow_usd; null when unknown (unknown_reason).",
    )
    return_pct = money(
        help_text="Time-weighted return in percent: daily Modified Dietz returns (days in the display "
        "time zone) chain-linked; null when unknown."
    )
    net_inflow_usd = money(
        source="net_inflow",
        help_text="Money that entered (+) or left (-) during the period: deposits credited, withdrawals "
        "completed and transfers, each in USD at its time.",
    )
    max_drawdown_pct = money(
        help_text="The largest peak-to-trough fall of the time-weighted return index over the period, "
        "in percent (0 when none); null when unknown."
    )
    start_equity_usd = money(
        source="start_equity", help_text="Total equity at started_at (less Earn when a note says so)."
    )
    end_equity_usd = money(
        source="end_equity", help_text="Total equity at ended_at (less Earn when a note says so)."
    )
    started_at = utc_time(
        allow_null=True,
        help_text="When the figures start: the time of the last reading at or before the period's start "
        '(a note says "from the reading of ..." when it is more than an hour earlier), or of the '
        'account\'s first reading when that is later (a note says "since the first reading, ...").',
    )
    ended_at = utc_time(
        allow_null=True, help_text="The time of the last reading at or before the period's end."
    )
    unknown_reason = ReasonField(
        help_text="Why pnl_usd is null (e.g. a flow without a USD price); else null."
    )
    notes = serializers.ListField(
        child=serializers.CharField(),
        help_text='How the figures were made when it matters: "without Earn", "since the first reading, '
        '...", "may include transfers with other sub-accounts ...".',
    )


class AccountPnlSerializer(PnlFiguresSerializer):
    id = serializers.IntegerField(source="account.id")
    name = serializers.CharField(source="account.name")
    kind = serializers.ChoiceField(source="account.kind", choices=AccountKind.choices)
    environment = serializers.ChoiceField(source="account.environment", choices=Environment.choices)
    in_team = serializers.BooleanField(help_text=IN_TEAM_HELP)
    not_in_team_reason = ReasonField(help_text=NOT_IN_TEAM_HELP)


class PnlSerializer(serializers.Serializer):
    period = PeriodSerializer()
    team = PnlFiguresSerializer(
        help_text="The team (the accounts in team totals, in_team; a desk-limited user's: of their "
        "desks): transfers between its accounts cancel out; deposits, withdrawals and transfers with "
        "other accounts count."
    )
    accounts = AccountPnlSerializer(
        many=True, help_text="Every active account (of the user's desks), by name."
    )


class FlowSerializer(serializers.Serializer):
    """One row of the cash-flow ledger (ledger.models.CashFlow), signed from the account's side."""

    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    account_name = serializers.CharField(source="account.name")
    kind = serializers.ChoiceField(choices=FlowKind.choices)
    # See KeySerializer.label: a declared field, not Field.source.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=FlowSource.choices, help_text="The OKX history the flow was read from."
    )
    okx_id = serializers.CharField(help_text="OKX's billId, depId or wdId.")
    occurred_at = utc_time(help_text="OKX's ts.")
    ccy = serializers.CharField(help_text="The currency of amount.")
    amount = money(
        allow_null=False,
        help_text="In ccy: + into the account, - out of it. A withdrawal's includes its fee when OKX "
        "charged the fee in ccy.",
    )
    fee = money(help_text="A withdrawal's fee as OKX reports it (fee); null for other flows.")
    state = serializers.CharField(help_text='OKX\'s state of a deposit or withdrawal; "" for transfers.')
    counts = serializers.BooleanField(
        help_text="Whether the state moves money (deposits credited, withdrawals completed, transfers): "
        "only these enter PnL."
    )
    usd_price = money(help_text="USD per unit of ccy at occurred_at; null when unpriced.")
    usd_value = money(help_text="amount in USD at occurred_at; null when unpriced (usd_basis says why).")
    usd_basis = serializers.CharField(help_text="How usd_value was priced, or why it is unknown.")
    counterparty = serializers.SerializerMethodField(
        help_text="The other account when the dashboard tracks it and the user sees it; else null."
    )
    counterparty_name = serializers.SerializerMethodField(
        help_text="The other account's name, or OKX's name for it (a sub-account the dashboard does not "
        'track), or "another account" (one of a desk the user does not see); "" for deposits and '
        "withdrawals."
    )

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_counterparty(self, flow: CashFlow) -> int | None:
        return flow.counterparty_id if sees(visible_ids(self), flow.counterparty_id) else None

    def get_counterparty_name(self, flow: CashFlow) -> str:
        return counterparty_name(flow, visible_ids(self))


def counterparty_name(flow: CashFlow, ids: frozenset[int] | None = None) -> str:
    """The tracked account's name ("another account" when it is not in `ids`, the accounts the
    user sees; None: every account), else the name OKX gave the other side."""
    return shown_name(flow.counterparty, ids) if flow.counterparty else flow.counterparty_name


class ProblemSerializer(serializers.Serializer):
    """The body of a 401, 403, 404 or 405."""

    detail = serializers.CharField()
