"""Helpers for the tests that read the cash-flow ledger: CashFlow rows written directly, as
ledger.sync stores them."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.models import Account
from ledger.models import CashFlow, FlowKind, FlowSource

# The OKX record each kind is read from (okx-reference.md 8.7): both sides of a master <-> sub
# transfer come from the master's sub-account transfer history.
SOURCES = {
    FlowKind.DEPOSIT: FlowSource.DEPOSIT_HISTORY,
    FlowKind.WITHDRAWAL: FlowSource.WITHDRAWAL_HISTORY,
    FlowKind.TRANSFER_IN: FlowSource.SUBACCOUNT_BILLS,
    FlowKind.TRANSFER_OUT: FlowSource.SUBACCOUNT_BILLS,
}
_okx_ids = itertools.count(1)
_AS_AMOUNT: Any = object()  # usd not given: the USD value is the amount (a stablecoin at 1 USD)


def stored_flow(
    account: Account,
    kind: str,
    amount: str,
    at: datetime,
    okx_id: str | None = None,
    *,
    usd: str | None = _AS_AMOUNT,
    ccy: str = "USDT",
    source: str | None = None,
    **fields: Any,
) -> CashFlow:
    """One saved CashFlow of `amount` `ccy` (signed from the account's side) at `at`.

    `usd` is its USD value: the amount unless given, None for a flow that could not be priced
    (then pass the reason as usd_basis); usd_price is 1 when valued, None when not. `source`
    follows from `kind` unless given; `okx_id` is a fresh number when not given. Other model
    fields (state, counts, fee, counterparty, counterparty_name, usd_basis, ...) pass through."""
    value = Decimal(amount) if usd is _AS_AMOUNT else None if usd is None else Decimal(usd)
    return CashFlow.objects.create(
        account=account,
        kind=kind,
        source=source or SOURCES[FlowKind(kind)],
        okx_id=okx_id if okx_id is not None else str(next(_okx_ids)),
        occurred_at=at,
        ccy=ccy,
        amount=Decimal(amount),
        usd_price=None if value is None else Decimal(1),
        usd_value=value,
        **fields,
    )
