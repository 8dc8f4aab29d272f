"""Snapshots of balances and positions: one row per account per refresh cycle, with its lines.

Money is Decimal end to end: 38 digits with 18 after the point hold any OKX amount (OKX sends at
most 18 decimals for token amounts) with 20 digits before it. Every amount is a
snapshots.money.MoneyField: numeric(38,18) on PostgreSQL, canonical decimal text on SQLite, so it
reads back exactly as OKX sent it on both (compare and aggregate it as that module says).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Final, TypedDict

from django.db import IntegrityError, models, transaction
from django.db.models.functions import TruncDay, TruncHour

from accounts.models import Account
from snapshots.money import MoneyField


class MoneyDigits(TypedDict):
    """The precision of every amount column (typed so that `**MONEY` checks as arguments). Each
    column says `null=True` itself: mypy's Django plugin reads nullability from the call only."""

    max_digits: int
    decimal_places: int


MONEY: Final[MoneyDigits] = {"max_digits": 38, "decimal_places": 18}
RAW_DAYS = 7
HOURLY_DAYS = 90


class Wallet(models.TextChoices):
    TRADING = "trading", "trading account"
    FUNDING = "funding", "funding account"


class SnapshotQuerySet(models.QuerySet["Snapshot"]):
    def equity_history(self, account: Account) -> SnapshotQuerySet:
        return self.filter(account=account).order_by("taken_at").only("taken_at", "total_equity_usd")

    def thin(self, now: datetime) -> int:
        """Retention: raw for RAW_DAYS, then the first of each hour until HOURLY_DAYS, then the
        first of each day. Returns the number of snapshots deleted (their lines go with them)."""
        hourly = self.filter(
            taken_at__lt=now - timedelta(days=RAW_DAYS), taken_at__gte=now - timedelta(days=HOURLY_DAYS)
        )
        daily = self.filter(taken_at__lt=now - timedelta(days=HOURLY_DAYS))
        deleted = 0
        for rows, bucket in ((hourly, TruncHour("taken_at")), (daily, TruncDay("taken_at"))):
            keep = (
                rows.annotate(bucket=bucket).values("account_id", "bucket").annotate(first=models.Min("id"))
            )
            deleted += rows.exclude(id__in=keep.values("first")).delete()[1].get("snapshots.Snapshot", 0)
        return deleted


class Snapshot(models.Model):
    """One refresh of one account. `cycle` is the beat slot (epoch seconds // interval), unique per
    account, so a redelivered task writes nothing twice; the lines are written in the same
    transaction, so a snapshot is complete or absent."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="snapshots")
    cycle = models.BigIntegerField()
    taken_at = models.DateTimeField()
    total_equity_usd = MoneyField("total equity (USD)", **MONEY, null=True, blank=True)
    trading_equity_usd = MoneyField(**MONEY, null=True, blank=True)
    funding_usd = MoneyField("funding value (USD, priced currencies)", **MONEY, null=True, blank=True)
    # Funding balances carry no USD value at OKX; currencies not priced by the trading account
    # are listed here and left out of the totals.
    unpriced_funding = models.JSONField(default=list, blank=True)
    via_master = models.BooleanField(default=False, help_text="Read through the master's key: no positions.")
    # The USD prices this snapshot used ({ccy: "price"}, from the cycle's price table,
    # snapshots/prices.py), so that a past figure can be explained: funding 120 SOL x "150.1".
    prices = models.JSONField(default=dict, blank=True)
    # Why the prices are not this cycle's own ("OKX's market data could not be read: ...; the prices
    # read 3 min earlier are used"), or why there were none; "" when they are this cycle's.
    prices_note = models.CharField(max_length=300, blank=True, default="")
    # Earn (simple earn / savings) in USD: OKX's asset valuation `details.earn` ("Earn account").
    # Null when not read, with the reason in earn_unread ("not readable through the master key").
    earn_usd = MoneyField("Earn value (USD)", **MONEY, null=True, blank=True)
    earn_unread = models.CharField(max_length=200, blank=True, default="")
    # Account-level risk, as OKX reports it in GET /api/v5/account/balance (and, for a sub-account
    # read through its master, GET /api/v5/account/subaccount/balances: the same schema), see
    # docs/valuation.md "Risk". Null when OKX sends "" (not applicable in the account's mode, e.g.
    # Futures mode has no account-level figures) or when not read; risk_note says which.
    adj_equity_usd = MoneyField("adjusted equity (USD)", **MONEY, null=True, blank=True)  # adjEq
    imr_usd = MoneyField("initial margin requirement (USD)", **MONEY, null=True, blank=True)  # imr
    mmr_usd = MoneyField("maintenance margin requirement (USD)", **MONEY, null=True, blank=True)  # mmr
    # OKX's mgnRatio, a ratio (1.5 = 150 %; pages show percent). In Futures mode, where the account
    # has none, the lowest of details[].mgnRatio, named in risk_note.
    margin_ratio = MoneyField(**MONEY, null=True, blank=True)
    risk_note = models.CharField(max_length=200, blank=True, default="")
    # Why this account's stored positions history (ClosedPosition) may be incomplete at this
    # reading: "" when it was read up to now and back to OKX's three months; else the reason
    # ("still being read back: 2026-10-02 00:00 UTC reached", "could not be read: ...", "not readable through
    # the master key").
    history_note = models.CharField(max_length=200, blank=True, default="")

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        db_table = "dashboard_snapshot"  # the table this model had in the dashboard app
        ordering = ["-taken_at"]
        constraints = [models.UniqueConstraint(fields=["account", "cycle"], name="one_snapshot_per_cycle")]
        indexes = [models.Index(fields=["account", "taken_at"], name="snapshot_history_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} @ {self.taken_at:%Y-%m-%d %H:%M}"


class BalanceLine(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="balances")
    wallet = models.CharField(max_length=8, choices=Wallet.choices)
    ccy = models.CharField(max_length=32)
    equity = MoneyField(**MONEY, null=True, blank=True)
    usd_value = MoneyField(**MONEY, null=True, blank=True)
    available = MoneyField(**MONEY, null=True, blank=True)
    frozen = MoneyField(**MONEY, null=True, blank=True)

    class Meta:
        db_table = "dashboard_balanceline"  # the table this model had in the dashboard app
        ordering = ["wallet", "ccy"]

    def __str__(self) -> str:
        return f"{self.wallet} {self.ccy} {self.equity}"


class PositionLine(models.Model):
    """One open position of a snapshot (OKX's `pos` "0" rows are not stored: see
    snapshots.positions). `size` is OKX's `pos` as sent (negative for a net-mode short); `side`
    says long or short in words and `size_unit` what the size counts. `upl` is in `upl_ccy`
    (OKX's margin currency `ccy`); `upl_usd` is its USD value by snapshots.positions.upl_usd,
    null when unknown, with `upl_usd_basis` saying how it was priced or why it is unknown."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="positions")
    inst_id = models.CharField(max_length=64)
    inst_type = models.CharField(max_length=16)
    side = models.CharField(max_length=8, help_text='"long" or "short"; "" when OKX\'s answer does not say.')
    pos_side = models.CharField(
        max_length=8, blank=True, default="", help_text="OKX's posSide: long, short or net."
    )
    size = MoneyField(**MONEY, null=True, blank=True)
    size_unit = models.CharField(
        max_length=32, blank=True, default="", help_text='"contracts", or the coin (posCcy) for MARGIN.'
    )
    avg_price = MoneyField(**MONEY, null=True, blank=True)
    mark_price = MoneyField(**MONEY, null=True, blank=True)
    upl = MoneyField("unrealised PnL", **MONEY, null=True, blank=True)
    upl_ccy = models.CharField(
        "currency of the unrealised PnL",
        max_length=32,
        blank=True,
        default="",
        help_text="OKX's ccy (margin).",
    )
    upl_usd = MoneyField("unrealised PnL (USD)", **MONEY, null=True, blank=True)
    upl_usd_price = MoneyField("USD price of the PnL currency", **MONEY, null=True, blank=True)
    upl_usd_basis = models.CharField(max_length=200, blank=True, default="")
    upl_ratio = MoneyField(**MONEY, null=True, blank=True)
    leverage = MoneyField(**MONEY, null=True, blank=True)
    liq_price = MoneyField(**MONEY, null=True, blank=True)
    margin_mode = models.CharField(max_length=16)
    notional_usd = MoneyField(**MONEY, null=True, blank=True)
    # OKX's adl: "Auto-deleveraging (ADL) indicator", 0..5, higher = more likely to be
    # auto-deleveraged (FUTURES/SWAP/OPTION only; null elsewhere).
    adl = models.PositiveSmallIntegerField("auto-deleveraging rank", null=True, blank=True)
    margin_ratio = MoneyField(**MONEY, null=True, blank=True)  # the position's mgnRatio (a ratio)
    # How far the mark price may move against the position before its liquidation price, in
    # percent of the mark (snapshots.risk.liq_distance_pct); null when unknown, with the reason.
    liq_distance_pct = MoneyField("distance to liquidation (%)", **MONEY, null=True, blank=True)
    liq_distance_note = models.CharField(max_length=120, blank=True, default="")

    class Meta:
        db_table = "dashboard_positionline"  # the table this model had in the dashboard app
        ordering = ["inst_id"]

    def __str__(self) -> str:
        return f"{self.inst_id} {self.side} {self.size} {self.size_unit}".rstrip()

    @property
    def quantity(self) -> Decimal | None:
        """The size without its sign (the side says the direction)."""
        return None if self.size is None else abs(self.size)


class CloseType(models.TextChoices):
    """OKX positions-history `type`: "the latest type if there are several types for the same
    position" (GET /api/v5/account/positions-history)."""

    PARTIAL_CLOSE = "1", "closed in part"
    CLOSE = "2", "closed"
    LIQUIDATION = "3", "liquidated"
    PARTIAL_LIQUIDATION = "4", "liquidated in part"
    ADL_PARTIAL = "5", "auto-deleveraged in part"
    ADL = "6", "auto-deleveraged"


FORCED_CLOSES = frozenset(
    {CloseType.LIQUIDATION, CloseType.PARTIAL_LIQUIDATION, CloseType.ADL_PARTIAL, CloseType.ADL}
)


class ClosedPosition(models.Model):
    """One row of OKX's positions history (GET /api/v5/account/positions-history, the last three
    months, read with the account's own key: the master cannot read a sub-account's). OKX keeps
    one row per position (posId and its creation time cTime: a posId is reused after 30 days)
    and updates it in place as it closes in steps, with running totals and the latest close type;
    so does this table. Amounts are in `ccy`, OKX's margin currency; `realized_pnl` = pnl + fee +
    funding_fee + liq_penalty + settled PnL (OKX's definition). `forced_at` is when the dashboard
    first stored the position with a forced close type (liquidation or ADL), kept when a later
    update changes the type: the alert rules count from it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="closed_positions")
    pos_id = models.CharField(max_length=64)
    inst_id = models.CharField(max_length=64)
    inst_type = models.CharField(max_length=16)
    mgn_mode = models.CharField(max_length=16, blank=True, default="")
    pos_side = models.CharField(max_length=8, blank=True, default="")  # long/short/net
    direction = models.CharField(max_length=8, blank=True, default="")  # long/short
    close_type = models.CharField(max_length=2, choices=CloseType.choices)
    ccy = models.CharField(max_length=32, blank=True, default="")
    leverage = MoneyField(**MONEY, null=True, blank=True)
    open_avg_price = MoneyField(**MONEY, null=True, blank=True)
    close_avg_price = MoneyField(**MONEY, null=True, blank=True)
    trigger_price = MoneyField(**MONEY, null=True, blank=True)  # triggerPx: set for 3, 4, 5
    open_max_size = MoneyField(**MONEY, null=True, blank=True)  # openMaxPos
    closed_size = MoneyField(**MONEY, null=True, blank=True)  # closeTotalPos
    pnl = MoneyField(**MONEY, null=True, blank=True)
    realized_pnl = MoneyField(**MONEY, null=True, blank=True)
    fee = MoneyField(**MONEY, null=True, blank=True)
    funding_fee = MoneyField(**MONEY, null=True, blank=True)
    liq_penalty = MoneyField(**MONEY, null=True, blank=True)
    opened_at = models.DateTimeField()  # cTime
    closed_at = models.DateTimeField()  # uTime: the latest close
    stored_at = models.DateTimeField(auto_now_add=True)
    forced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-closed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "pos_id", "opened_at"], name="one_closed_position_row")
        ]
        indexes = [models.Index(fields=["account", "closed_at"], name="closed_position_idx")]

    def __str__(self) -> str:
        return f"{self.inst_id} {self.get_close_type_display()} @ {self.closed_at:%Y-%m-%d %H:%M}"

    @property
    def forced(self) -> bool:
        """A liquidation or an auto-deleveraging, not the trader's own close."""
        return self.close_type in FORCED_CLOSES


def write_snapshot(snapshot: Snapshot, balances: list[BalanceLine], positions: list[PositionLine]) -> bool:
    """Store a snapshot with its lines in one transaction; False when its cycle is already stored."""
    try:
        with transaction.atomic():
            if Snapshot.objects.filter(account_id=snapshot.account_id, cycle=snapshot.cycle).exists():
                return False
            snapshot.save()
            lines: list[BalanceLine | PositionLine] = [*balances, *positions]
            for line in lines:
                line.snapshot = snapshot
            BalanceLine.objects.bulk_create(balances)
            PositionLine.objects.bulk_create(positions)
    except IntegrityError:
        return False  # a concurrent writer stored this cycle first (the unique constraint)
    return True


def quantize(value: Decimal | None) -> Decimal | None:
    """Derived amounts (divisions) fit the columns' 18 decimal places. In a context of the
    columns' 38 digits: the default 28 would raise on any value of 10^10 or more."""
    if value is None:
        return None
    with localcontext(prec=MONEY["max_digits"]):
        return value.quantize(Decimal(1).scaleb(-MONEY["decimal_places"]))
