"""A period's PnL split into trading fees, funding fees and interest, from the account's bills as
ledger.sync summed them into BillDay (own key only; OKX keeps the bills 3 months). The sums are
of whole UTC days; "the rest" (PnL minus these three) is the caller's, and only when the days are
exactly the PnL's window (Breakdown.covers). Reads rows only: pages never call the exchange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from ledger.models import BillDay, LedgerSync
from ledger.sync import BILLS

FIELDS = ("trading_fees_usd", "funding_fees_usd", "interest_usd")
NOT_READ = "this account's bills are not read (they need a key of the account's own)"
NOT_BACK = "its bills are read back to {day} only (OKX keeps 3 months; the backfill goes on)"


@dataclass(frozen=True)
class Breakdown:
    """USD sums over the UTC days [first_day, last_day] overlapping the period, signed as OKX
    sends them (negative = paid): `trading_fees_usd` (bills' `fee`: charged or rebated),
    `funding_fees_usd` (funding fee bills, type 8), `interest_usd` (interest deductions, type 7).
    All three None with `unknown_reason` when a bill was not priced or not read."""

    trading_fees_usd: Decimal | None
    funding_fees_usd: Decimal | None
    interest_usd: Decimal | None
    unknown_reason: str
    first_day: date
    last_day: date

    def covers(self, start: datetime, end: datetime) -> bool:
        """The days are exactly the window (start, end]: it runs from a UTC midnight to a UTC
        midnight, so no bill outside it is summed and none inside it left out. Only then may
        the sums be set against a figure of that window (the PnL's "rest")."""
        opens = datetime.combine(self.first_day, time(0), tzinfo=UTC)
        closes = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=UTC)
        return start == opens and end == closes


def breakdown(account_id: int, start: datetime, end: datetime) -> Breakdown:
    """The breakdown of (start, end] (aware datetimes) for one account, by whole UTC days: the bill
    days are UTC days, so a period that starts or ends within a day counts that whole day.
    Unknown when the account's bills were never read, when the backfill has not reached `start`
    yet, or when a day holds a bill that could not be priced (its reason)."""
    first = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    unknown = _unread(account_id, start)
    if unknown:
        return Breakdown(None, None, None, unknown, first, last)
    sums = dict.fromkeys(FIELDS, Decimal(0))
    for row in BillDay.objects.filter(account_id=account_id, day__gte=first, day__lte=last).order_by(
        "day", "ccy"
    ):
        if any(getattr(row, name) is None for name in FIELDS):
            reason = f"a bill of {row.day:%Y-%m-%d} in {row.ccy} has no USD value: {row.usd_basis}"
            return Breakdown(None, None, None, reason, first, last)
        for name in FIELDS:
            sums[name] += getattr(row, name)
    return Breakdown(sums[FIELDS[0]], sums[FIELDS[1]], sums[FIELDS[2]], "", first, last)


def _unread(account_id: int, start: datetime) -> str:
    sync = LedgerSync.objects.filter(account_id=account_id).values_list("progress", flat=True).first()
    progress = (sync or {}).get(BILLS)
    if not progress:
        return NOT_READ
    if progress.get("done"):
        return ""
    oldest = progress.get("oldest_ms")
    if oldest is None:
        return NOT_READ
    reached = datetime.fromtimestamp(oldest / 1000, tz=UTC)
    return NOT_BACK.format(day=f"{reached:%Y-%m-%d}") if reached > start else ""
