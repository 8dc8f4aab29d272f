"""The cash-flow ledger: money that entered or left an account without being profit or loss.

One row per account per OKX record (idempotent by OKX's id): a transfer between the master and a
sub-account (the master's sub-account transfer history, GET /api/v5/asset/subaccount/bills, gives
one row on each side), a deposit (GET /api/v5/asset/deposit-history) and a withdrawal
(GET /api/v5/asset/withdrawal-history). Transfers between an account's own funding and trading
wallets are internal to the account and never stored. PnL over a period is the change in equity
minus the net inflow of the counted flows (ledger/pnl.py); okx-reference.md 8.7 gives the sources.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from accounts.models import Account
from snapshots.models import MONEY
from snapshots.money import MoneyField


class FlowKind(models.TextChoices):
    DEPOSIT = "deposit", "deposit"
    WITHDRAWAL = "withdrawal", "withdrawal"
    TRANSFER_IN = "transfer_in", "transfer in"
    TRANSFER_OUT = "transfer_out", "transfer out"


EXTERNAL_KINDS = frozenset({FlowKind.DEPOSIT, FlowKind.WITHDRAWAL})


class FlowSource(models.TextChoices):
    """The OKX record a flow was read from (with `okx_id`, what makes it unique per account)."""

    SUBACCOUNT_BILLS = "subaccount_bills", "master's sub-account transfer history"
    DEPOSIT_HISTORY = "deposit_history", "deposit history"
    WITHDRAWAL_HISTORY = "withdrawal_history", "withdrawal history"
    FUNDING_BILLS = "funding_bills", "funding account bills"


class CashFlow(models.Model):
    """One flow into (+) or out of (-) one account, in `ccy`, with its USD value at `occurred_at`.

    `amount` is signed from the account's side: a master-to-sub transfer of 10,000 USDT is -10000
    on the master's row and +10000 on the sub-account's. A withdrawal's amount is what left the
    account (OKX's `amt` plus `fee` when the fee is in the same currency; `fee` keeps the fee).
    `counts` says whether the record's state moves money (okx-reference.md 8.7.4: deposits once
    credited, state 1 or 2; withdrawals unless failed, -1, or cancelled, -2, since OKX takes the
    money at the request; transfers always): a pending record is kept and its state updated when
    read again, and only counted flows enter PnL. A deposit counted only on a later read is dated
    when that read saw it (OKX gives no credit time); a counted withdrawal OKX later fails or
    cancels stays counted, and a reversal row (okx_id "<wdId>:returned", the amount back, dated
    when it was seen) books the refund, so no past period changes. `usd_value` is null when the flow
    could not be priced, with the reason in `usd_basis` (then the PnL of a period holding it is
    unknown, never computed as if the flow were 0)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="cash_flows")
    kind = models.CharField(max_length=16, choices=FlowKind.choices)
    source = models.CharField(max_length=24, choices=FlowSource.choices)
    okx_id = models.CharField("OKX id", max_length=64, help_text="billId, depId or wdId as OKX sent it.")
    occurred_at = models.DateTimeField(help_text="OKX's ts (UTC).")
    ccy = models.CharField(max_length=32)
    amount = MoneyField(**MONEY)
    fee = MoneyField(**MONEY, null=True, blank=True)
    state = models.CharField(max_length=8, blank=True, default="", help_text="OKX's state; '' for transfers.")
    counts = models.BooleanField(default=True, help_text="The state moves money (counted in PnL).")
    usd_price = MoneyField("USD price of the currency", **MONEY, null=True, blank=True)
    usd_value = MoneyField("value (USD, signed)", **MONEY, null=True, blank=True)
    usd_basis = models.CharField(max_length=200, blank=True, default="")
    # The other side when it is one of ours; else None with OKX's name for it (a sub-account not
    # added to the dashboard, an address): a transfer with an untracked account leaves the team.
    counterparty = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    counterparty_name = models.CharField(max_length=100, blank=True, default="")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "source", "okx_id"], name="one_flow_per_okx_record")
        ]
        indexes = [models.Index(fields=["account", "occurred_at"], name="flow_account_time_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.amount} {self.ccy} @ {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def external(self) -> bool:
        """Money entering or leaving OKX (a deposit or a withdrawal)."""
        return self.kind in EXTERNAL_KINDS


class LedgerSync(models.Model):
    """Where the ledger of one account stands: the backfill's progress per source and the last
    incremental read. `progress` is {source: {"oldest_ms": int | None, "done": bool, "rows": int,
    "newest_ms": int | None, "gap": {"after_ms": int, "newest_ms": int} | None}}: the backfill
    pages back from `oldest_ms` until OKX returns a short page (`done`); each run reads the newest
    records down to `newest_ms` (the newest ts stored), and `gap` is where that read stopped when
    more came than one run reads (the next run goes on from `after_ms`). ledger.sync explains."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="ledger_sync")
    progress = models.JSONField(default=dict, blank=True)
    backfill_started_at = models.DateTimeField(null=True, blank=True)
    backfill_done_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_problem = models.CharField(max_length=300, blank=True, default="")

    def __str__(self) -> str:
        return f"ledger of {self.account_id}"

    @property
    def backfill_done(self) -> bool:
        return self.backfill_done_at is not None


class BillDay(models.Model):
    """One account's trading fees, funding fees and interest of one UTC day in one currency,
    summed from its trading-account bills (GET /api/v5/account/bills, last 7 days, and
    /api/v5/account/bills-archive, last 3 months; okx-reference.md 8.7.3), own key only.

    Signs as OKX sends them (negative = charged, positive = received or rebated):
    - `trading_fees`: the bills' `fee` ("negative = charged, positive = rebate"), every bill type
      except 7 (interest) and 8 (funding fee), whose amounts are below.
    - `funding_fees`: `balChg` of type 8 bills (subType 173 expense, 174 income).
    - `interest`: `balChg` of type 7 bills (interest deduction, negative).
    Each bill is summed once: ledger.sync keeps the range of billIds already summed (billIds grow
    with time) in LedgerSync.progress["account_bills"]. The USD columns add each bill's USD value
    at its time (ledger/valuation.py); a bill that could not be priced makes them null, with the
    reason in `usd_basis`, for good."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="bill_days")
    day = models.DateField(help_text="UTC day of the bills' ts.")
    ccy = models.CharField(max_length=32)
    trading_fees = MoneyField(**MONEY, default=Decimal(0))
    funding_fees = MoneyField(**MONEY, default=Decimal(0))
    interest = MoneyField(**MONEY, default=Decimal(0))
    trading_fees_usd = MoneyField(**MONEY, null=True, blank=True, default=Decimal(0))
    funding_fees_usd = MoneyField(**MONEY, null=True, blank=True, default=Decimal(0))
    interest_usd = MoneyField(**MONEY, null=True, blank=True, default=Decimal(0))
    usd_basis = models.CharField(max_length=200, blank=True, default="", help_text="Why USD is unknown.")
    bills = models.PositiveIntegerField(default=0, help_text="Bills summed into this row.")

    class Meta:
        ordering = ["-day", "ccy"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "ccy"], name="one_bill_day_per_account_ccy")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} {self.ccy}"
