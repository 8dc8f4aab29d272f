"""Typed, validated results of the endpoints the client reads (dataclasses, not database rows).

Each `from_okx` reads one object of OKX's answer through okxapi.validation.Fields: money is
Decimal parsed from OKX's strings, finite and storable in NUMERIC(38, 18); an empty string means
"not applicable" to OKX (okx-reference.md 2.2), so it becomes None, never 0. Timestamps are epoch
milliseconds as strings and become timezone-aware UTC datetimes. Anything else (NaN, 1e400, a
wrong shape, a required field missing) raises validation.MalformedData naming the field and the
value, which the client turns into a MalformedResponse (a recorded, diagnosed error).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from okxapi.validation import Fields, MalformedData

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Text limits: the columns that store these fields (BalanceLine.ccy 32, Account.uid 32, labels
# and sub-account names 100, PositionLine inst_type/margin_mode 16, pos_side 8) and OKX's own
# bounds (an IP list holds at most 20 addresses).
CCY_CHARS = 32
UID_CHARS = 32
NAME_CHARS = 100
IP_LIST_CHARS = 20 * 40
PERM_CHARS = 200


def one_of(row: Fields, key: str, allowed: Collection[str], problem: str, *, required: bool = False) -> str:
    """A code OKX documents as one of a closed set (a close type, an ADL level): the value as
    sent, "" when absent or "" and not `required`; MalformedData saying `problem` otherwise."""
    code = row.text(key, required=required)
    if code and code not in allowed:
        raise MalformedData(f"{row.where}.{key}", code, problem)
    return code


def to_set(value: str) -> frozenset[str]:
    """OKX joins permissions with commas: "read_only,withdraw,trade"."""
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def to_tuple(value: str) -> tuple[str, ...]:
    """OKX joins IPs with commas; "" means no IP is bound."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class AccountConfig:
    uid: str
    main_uid: str
    label: str
    perm: frozenset[str]
    ip: tuple[str, ...]
    acct_lv: str
    pos_mode: str
    account_type: str

    @property
    def is_master(self) -> bool:
        return bool(self.uid) and self.uid == self.main_uid

    @classmethod
    def from_okx(cls, row: Fields) -> AccountConfig:
        """`uid`, `mainUid` and `perm` are required: OKX's "Get account configuration" returns
        them for every key ("Account ID of current request", "The permission of the current
        requesting API key"), and the identity and permission checks stand on them."""
        return cls(
            uid=row.text("uid", required=True, limit=UID_CHARS),
            main_uid=row.text("mainUid", required=True, limit=UID_CHARS),
            label=row.text("label", limit=NAME_CHARS),
            perm=to_set(row.text("perm", required=True, limit=PERM_CHARS)),
            ip=to_tuple(row.text("ip", limit=IP_LIST_CHARS)),
            acct_lv=row.text("acctLv"),
            pos_mode=row.text("posMode"),
            account_type=row.text("type"),
        )


@dataclass(frozen=True)
class CurrencyBalance:
    """One element of `details` of OKX's "Get balance" (okx-reference.md 8.4). The risk fields
    apply to Futures mode (acctLv 2) only, "only with a cross position", and are None elsewhere:

    - `mgn_ratio` `mgnRatio` "Cross maintenance margin ratio of currency", a ratio (1.5 = 150 %);
      signed, like the account's (see Balance).
    - `imr` / `mmr` "Cross initial / maintenance margin requirement at the currency level", in
      `ccy`, >= 0 (a requirement is never negative).
    """

    ccy: str
    eq: Decimal | None
    eq_usd: Decimal | None
    cash_bal: Decimal | None
    avail_bal: Decimal | None
    avail_eq: Decimal | None
    frozen_bal: Decimal | None
    upl: Decimal | None
    mgn_ratio: Decimal | None = None
    imr: Decimal | None = None
    mmr: Decimal | None = None

    @classmethod
    def from_okx(cls, row: Fields) -> CurrencyBalance:
        """`ccy` and `eq` ("Equity of currency") are required: OKX's "Get balance" lists both for
        every account mode."""
        return cls(
            ccy=row.text("ccy", required=True, limit=CCY_CHARS),
            eq=row.number("eq", required=True),
            eq_usd=row.number("eqUsd"),
            cash_bal=row.number("cashBal"),
            avail_bal=row.number("availBal"),
            avail_eq=row.number("availEq"),
            frozen_bal=row.number("frozenBal"),
            upl=row.number("upl"),
            mgn_ratio=row.number("mgnRatio"),
            imr=row.amount("imr"),
            mmr=row.amount("mmr"),
        )


@dataclass(frozen=True)
class Balance:
    """The one object of OKX's "Get balance" (GET /api/v5/account/balance; the master reads a
    sub-account's through /account/subaccount/balances, the same fields), okx-reference.md 8.4
    and 8.8.1. The risk figures are account-level and apply to Spot, Multi-currency and
    Portfolio margin modes (acctLv 1, 3, 4); in Futures mode (acctLv 2) OKX sends "" (None here)
    and reports them per currency in `details` (CurrencyBalance):

    - `adj_eq` `adjEq` "Adjusted / Effective equity in USD": the net fiat value of the assets
      that can back cross-margin positions, each currency at its discount rate. Signed: equity
      can fall below 0.
    - `imr` / `mmr` "Initial / Maintenance margin requirement in USD": the sum over cross
      positions and pending orders; >= 0.
    - `mgn_ratio` `mgnRatio` "Maintenance margin ratio in USD", a ratio, not USD (1.5 = 150 %;
      OKX liquidates as it falls to 100 %; a quiet account can show "70375.35"). Not refused
      when negative: OKX's ratio is equity over requirement, and equity below 0 (an account
      past its liquidation) is exactly the state that must not vanish as a malformed answer.
    - `notional_usd` `notionalUsd` "Notional value of positions in USD", >= 0.
    """

    total_eq: Decimal | None
    updated: datetime | None
    details: list[CurrencyBalance] = field(default_factory=list)
    adj_eq: Decimal | None = None
    imr: Decimal | None = None
    mmr: Decimal | None = None
    mgn_ratio: Decimal | None = None
    notional_usd: Decimal | None = None

    @classmethod
    def from_okx(cls, row: Fields) -> Balance:
        """`totalEq` ("Total account assets denominated in USD"), `uTime` and `details` (array of
        objects) are required: OKX's "Get balance" marks them applicable to every account mode
        (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-balance, "Distribution of
        applicable fields"). `details` may be empty: "The currency details will not be returned
        when cashBal and eq is both 0". The risk figures are optional (mode-dependent)."""
        return cls(
            total_eq=row.number("totalEq", required=True),
            updated=row.time("uTime", required=True),
            details=[CurrencyBalance.from_okx(item) for item in row.objects("details", required=True)],
            adj_eq=row.number("adjEq"),
            imr=row.amount("imr"),
            mmr=row.amount("mmr"),
            mgn_ratio=row.number("mgnRatio"),
            notional_usd=row.amount("notionalUsd"),
        )


# Instrument types whose `pos` counts contracts (OKX "Get positions": for MARGIN, `pos` is in
# `posCcy`, the "Position currency, only applicable to MARGIN positions").
CONTRACT_TYPES = frozenset({"SWAP", "FUTURES", "OPTION"})


@dataclass(frozen=True)
class Position:
    """One row of GET /api/v5/account/positions, fields as OKX defines them
    (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions):

    - `pos` "Quantity of positions": contracts for SWAP/FUTURES/OPTION, `pos_ccy` for MARGIN;
      "In the isolated margin mode, when doing manual transfers, a position with pos of `0` will
      be generated" (see `is_open`).
    - `pos_side` "long, pos is positive / short, pos is positive / net (FUTURES/SWAP/OPTION:
      positive pos means long position and negative pos means short position. For MARGIN, pos is
      always positive, posCcy being base currency means long position, posCcy being quote
      currency means short position.)" (see `side`).
    - `ccy` "Currency used for margin"; `upl` "Unrealized profit and loss calculated by mark
      price", in `ccy` (okx-reference.md 8.3: the doc example's inverse upl is a coin amount).
    - `usd_px` "Latest USD price of the ccy on the market, only applicable to
      FUTURES/SWAP/OPTION"; "" (None) elsewhere and from older OKX answers.
    - `liab_ccy` "Liabilities currency, only applicable to MARGIN".

    Risk (okx-reference.md 8.8.2):

    - `adl` "Auto-deleveraging (ADL) indicator. Divided into 6 levels, from 0 to 5, the smaller
      the number, the weaker the adl intensity", FUTURES/SWAP/OPTION only (None elsewhere);
      anything but "0".."5" is MalformedData.
    - `mgn_ratio` `mgnRatio` "Maintenance margin ratio", a ratio (1.5 = 150 %); signed, as the
      account's (Balance).
    - `mmr` "Maintenance margin requirement" and `imr` "Initial margin requirement, only
      applicable to cross" (None for isolated), in `ccy`, >= 0.
    """

    inst_id: str
    inst_type: str
    mgn_mode: str
    pos_side: str
    pos: Decimal | None
    avg_px: Decimal | None
    mark_px: Decimal | None
    upl: Decimal | None
    upl_ratio: Decimal | None
    lever: Decimal | None
    liq_px: Decimal | None
    notional_usd: Decimal | None
    margin: Decimal | None
    ccy: str
    pos_id: str
    created: datetime | None
    updated: datetime | None
    pos_ccy: str = ""
    liab_ccy: str = ""
    usd_px: Decimal | None = None
    adl: int | None = None
    mgn_ratio: Decimal | None = None
    mmr: Decimal | None = None
    imr: Decimal | None = None

    @classmethod
    def from_okx(cls, row: Fields) -> Position:
        """`instId`, `instType` and `pos` are required (what a position is); the other fields may
        be "" where OKX says they do not apply (validation: _POSITION_REQUIRED, _POSITION_LIMITS)."""
        fields: dict[str, Any] = {
            name: row.text(key, required=key in _POSITION_REQUIRED, limit=_POSITION_LIMITS.get(key, 64))
            for name, key in _POSITION_TEXT.items()
        }
        fields.update(
            (name, row.number(key, required=key in _POSITION_REQUIRED))
            for name, key in _POSITION_AMOUNTS.items()
        )
        adl = one_of(row, "adl", ADL_LEVELS, "not an ADL level from 0 to 5")
        return cls(
            **fields,
            created=row.time("cTime"),
            updated=row.time("uTime"),
            adl=int(adl) if adl else None,
            mmr=row.amount("mmr"),
            imr=row.amount("imr"),
        )

    @property
    def is_open(self) -> bool:
        """False for a `pos` "0" row: OKX returns those after manual margin transfers in isolated
        mode, and for an instrument that had a position (while its posId lives); they hold no
        exposure. An unreadable `pos` (None) stays open: unknown is not zero."""
        return self.pos is None or self.pos != 0

    @property
    def side(self) -> str:
        """ "long" or "short" in words ("" when OKX's answer does not say). long/short mode:
        posSide. net mode: the sign of `pos` for FUTURES/SWAP/OPTION; for MARGIN `pos` is always
        positive and `posCcy` tells: the base currency (before the "-" of instId) is long, the
        quote currency short."""
        if self.pos_side in ("long", "short"):
            return self.pos_side
        if self.inst_type == "MARGIN":
            base, _, quote = self.inst_id.partition("-")
            return {base: "long", quote: "short"}.get(self.pos_ccy, "") if self.pos_ccy else ""
        if self.pos is None or self.pos == 0:
            return ""
        return "long" if self.pos > 0 else "short"

    @property
    def size_unit(self) -> str:
        """What `pos` counts: "contracts" for SWAP/FUTURES/OPTION, the coin `posCcy` for MARGIN."""
        if self.inst_type in CONTRACT_TYPES:
            return "contracts"
        return self.pos_ccy if self.inst_type == "MARGIN" else ""


_POSITION_TEXT = {
    "inst_id": "instId",
    "inst_type": "instType",
    "mgn_mode": "mgnMode",
    "pos_side": "posSide",
    "ccy": "ccy",
    "pos_id": "posId",
    "pos_ccy": "posCcy",
    "liab_ccy": "liabCcy",
}
_POSITION_REQUIRED = frozenset({"instId", "instType", "pos"})
# The PositionLine columns these go to (inst_id 64, inst_type 16, margin_mode 16, pos_side 8).
_POSITION_LIMITS = {
    "instType": 16,
    "mgnMode": 16,
    "posSide": 8,
    "ccy": CCY_CHARS,
    "posCcy": CCY_CHARS,
    "liabCcy": CCY_CHARS,
}
_POSITION_AMOUNTS = {
    "pos": "pos",
    "avg_px": "avgPx",
    "mark_px": "markPx",
    "upl": "upl",
    "upl_ratio": "uplRatio",
    "lever": "lever",
    "liq_px": "liqPx",
    "notional_usd": "notionalUsd",
    "margin": "margin",
    "usd_px": "usdPx",
    "mgn_ratio": "mgnRatio",
}
# OKX's `adl` levels: "Divided into 6 levels, from 0 to 5".
ADL_LEVELS = frozenset({"0", "1", "2", "3", "4", "5"})


@dataclass(frozen=True)
class FundingBalance:
    ccy: str
    bal: Decimal | None
    frozen_bal: Decimal | None
    avail_bal: Decimal | None

    @classmethod
    def from_okx(cls, row: Fields) -> FundingBalance:
        """`ccy` and `bal` required (funding "Get balance": "Only asset information of a currency
        with a balance greater than 0 will be returned")."""
        return cls(
            ccy=row.text("ccy", required=True, limit=CCY_CHARS),
            bal=row.number("bal", required=True),
            frozen_bal=row.number("frozenBal"),
            avail_bal=row.number("availBal"),
        )


@dataclass(frozen=True)
class AssetValuation:
    total_bal: Decimal | None
    funding: Decimal | None
    trading: Decimal | None
    earn: Decimal | None
    ts: datetime | None

    @classmethod
    def from_okx(cls, row: Fields) -> AssetValuation:
        """`totalBal`, `ts` and the `details` object are required ("Get account asset valuation":
        totalBal "Valuation of total account assets", details "Asset valuation details for each
        account" with funding, trading, classic, earn)."""
        details = row.object("details", required=True)
        return cls(
            total_bal=row.number("totalBal", required=True),
            funding=details.number("funding"),
            trading=details.number("trading"),
            earn=details.number("earn"),
            ts=row.time("ts", required=True),
        )


@dataclass(frozen=True)
class SubAccount:
    name: str
    uid: str
    label: str
    enabled: bool
    account_type: str
    created: datetime | None

    @classmethod
    def from_okx(cls, row: Fields) -> SubAccount:
        """`subAcct` and `uid` are required: the list is read to map names to UIDs."""
        return cls(
            name=row.text("subAcct", required=True, limit=NAME_CHARS),
            uid=row.text("uid", required=True, limit=UID_CHARS),
            label=row.text("label", limit=NAME_CHARS),
            enabled=row.flag("enable"),
            account_type=row.text("type"),
            created=row.time("ts"),
        )


@dataclass(frozen=True)
class SubAccountApiKey:
    # The public key string: not a secret, but kept out of repr so it never lands in a log line.
    api_key: str = field(repr=False)
    label: str
    perm: frozenset[str]
    ip: tuple[str, ...]
    created: datetime | None

    @classmethod
    def from_okx(cls, row: Fields) -> SubAccountApiKey:
        """`apiKey` is required: our key is found among them by its fingerprint."""
        return cls(
            api_key=row.text("apiKey", required=True, limit=NAME_CHARS),
            label=row.text("label", limit=NAME_CHARS),
            perm=to_set(row.text("perm", limit=PERM_CHARS)),
            ip=to_tuple(row.text("ip", limit=IP_LIST_CHARS)),
            created=row.time("ts"),
        )


@dataclass(frozen=True)
class Ticker:
    """One row of GET /api/v5/market/tickers (OKX "Get tickers",
    https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-tickers): `instId`
    ("Instrument ID", e.g. SOL-USDT), `last` ("Last traded price", in the quote currency; None
    when OKX sends "") and `ts` ("Ticker data generation time", ms)."""

    inst_id: str
    last: Decimal | None
    ts: datetime | None

    @classmethod
    def from_okx(cls, row: Fields) -> Ticker:
        """`instId` is required: a price without its pair says nothing."""
        return cls(
            inst_id=row.text("instId", required=True, limit=NAME_CHARS),
            last=row.number("last"),
            ts=row.time("ts"),
        )


@dataclass(frozen=True)
class IndexTicker:
    """One row of GET /api/v5/market/index-tickers (OKX "Get index tickers",
    https://www.okx.com/docs-v5/en/#public-data-rest-api-get-index-tickers): `instId` ("Index",
    e.g. BTC-USD, USDC-USD), `idxPx` ("Latest index price", in the index's quote currency; None
    when OKX sends "") and `ts` ("Index price update time", ms)."""

    inst_id: str
    idx_px: Decimal | None
    ts: datetime | None

    @classmethod
    def from_okx(cls, row: Fields) -> IndexTicker:
        """`instId` is required: a price without its index says nothing."""
        return cls(
            inst_id=row.text("instId", required=True, limit=NAME_CHARS),
            idx_px=row.number("idxPx"),
            ts=row.time("ts"),
        )


# Instrument types of OKX's "Get instruments" the client asks for (`OPTION` also needs an
# `instFamily`, which the product has no use for).
INSTRUMENT_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES"})


@dataclass(frozen=True)
class Instrument:
    """One row of GET /api/v5/public/instruments (OKX "Get instruments",
    https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments), the fields the product
    reads (snapshots/precision.py: how many decimals a coin is shown with):

    - `inst_id` "Instrument ID"; `inst_type` "Instrument type" (SPOT, MARGIN, SWAP, ...).
    - `base_ccy` "Base currency, e.g. BTC in BTC-USDT" and `quote_ccy` "Quote currency, e.g. USDT
      in BTC-USDT", "Only applicable to SPOT/MARGIN" ("" elsewhere).
    - `lot_sz` "Lot size. If it is a derivatives contract, the value is the number of contracts.
      If it is SPOT/MARGIN, the value is the quantity in base currency": the step in which OKX
      trades the base currency (BTC-USDT "0.00000001"). Above 0 (a step of nothing is no step);
      None when OKX sends "" (a listing announced before its fields are set: "Other fields will
      be "" temporarily").
    - `state` "Instrument status": live, suspend, preopen, test.
    """

    inst_id: str
    inst_type: str
    base_ccy: str
    quote_ccy: str
    lot_sz: Decimal | None
    state: str

    @property
    def lot_places(self) -> int | None:
        """The decimals of `lot_sz` as a number without trailing zeros: "0.00000001" -> 8,
        "0.000001" -> 6, "0.50" -> 1, "1" and "10" -> 0; None without a lot size. Exact (no
        rounding context): validation already bounds it to 18 places."""
        if self.lot_sz is None:
            return None
        text = format(self.lot_sz, "f")
        return len(text.partition(".")[2].rstrip("0"))

    @classmethod
    def from_okx(cls, row: Fields) -> Instrument:
        """`instId` and `instType` are required (which instrument); the rest may be "" where OKX
        says they do not apply. MalformedData for a lot size of 0 or below."""
        return cls(
            inst_id=row.text("instId", required=True, limit=NAME_CHARS),
            inst_type=row.text("instType", required=True, limit=16),
            base_ccy=row.text("baseCcy", limit=CCY_CHARS),
            quote_ccy=row.text("quoteCcy", limit=CCY_CHARS),
            lot_sz=row.amount("lotSz", strict=True),
            state=row.text("state", limit=16),
        )


# --- the ledger (okx-reference.md 8.7): flows between accounts, in and out of OKX, and bills ---

# The CashFlow columns these go to (okx_id 64, state 8, counterparty_name 100); a chain's
# transaction hash is 66 characters on EVM chains, longer elsewhere.
OKX_ID_CHARS = 64
STATE_CHARS = 8
TX_ID_CHARS = 200
# The master's sub-account transfer history documents only these two `type`s: the sign of every
# flow depends on it, so another value is refused rather than guessed.
TRANSFER_TYPES = {"0": "master to sub-account", "1": "sub-account to master"}
# Deposit states that put the money in the account ("1" deposit credited, "2" deposit successful);
# withdrawal state "2" is "Success", its only final state in which money left.
CREDITED_STATES = frozenset({"1", "2"})
COMPLETED_STATE = "2"


@dataclass(frozen=True)
class SubAccountTransfer:
    """One row of GET /api/v5/asset/subaccount/bills, master key only (OKX "Get history of
    sub-account transfer", https://www.okx.com/docs-v5/en/#sub-account-rest-api-get-history-of-sub-account-transfer;
    "Transfer records are available from September 28, 2022 onwards"):

    - `bill_id` "Bill ID"; `ccy` "Transfer currency"; `amount` `amt` "Transfer amount", in `ccy`,
      always above 0 (the direction is in `type`).
    - `type` "0": "Transfers from master account to sub-account", "1": "Transfers from
      sub-account to master account" (see `to_sub`).
    - `sub_acct` "Sub-account name" (the other side; the master is the caller).
    - `ts` "Bill ID creation time", aware UTC.
    """

    bill_id: str
    ccy: str
    amount: Decimal
    type: str
    sub_acct: str
    ts: datetime

    @property
    def to_sub(self) -> bool:
        """True when the money went from the master to `sub_acct` (type "0")."""
        return self.type == "0"

    @classmethod
    def from_okx(cls, row: Fields) -> SubAccountTransfer:
        """Every field is required: OKX's response table lists these six and nothing else, and a
        flow without its id, currency, amount, direction, sub-account or time cannot be booked."""
        kind = one_of(
            row, "type", TRANSFER_TYPES, "not 0 (master to sub) or 1 (sub to master)", required=True
        )
        return cls(
            bill_id=row.text("billId", required=True, limit=OKX_ID_CHARS),
            ccy=row.text("ccy", required=True, limit=CCY_CHARS),
            amount=_present(row.amount("amt", required=True, strict=True)),
            type=kind,
            sub_acct=row.text("subAcct", required=True, limit=NAME_CHARS),
            ts=_present(row.time("ts", required=True)),
        )


@dataclass(frozen=True)
class Deposit:
    """One row of GET /api/v5/asset/deposit-history, the calling account's own (OKX "Get deposit
    history", https://www.okx.com/docs-v5/en/#funding-account-rest-api-get-deposit-history):

    - `dep_id` "Deposit ID"; `ccy` "Currency"; `amount` `amt` "Deposit amount", in `ccy`, >= 0.
    - `state` "Status of deposit", kept as sent: "0" waiting for confirmation, "1" deposit
      credited, "2" deposit successful, "8" pending (deposits of the coin suspended), "11"
      address blacklisted, "12" account or deposit frozen, "13" sub-account deposit interception,
      "14" KYC limit, "17" (request table only) Travel Rule vendor. A state OKX may add later is
      kept too: it simply is not `credited`.
    - `ts` "The timestamp that the deposit record is created", aware UTC.
    - `tx_id` "Hash record of the deposit" ("" for an internal transfer); `chain` "Chain name".
    """

    dep_id: str
    ccy: str
    amount: Decimal
    state: str
    ts: datetime
    tx_id: str
    chain: str

    @property
    def credited(self) -> bool:
        """The money is in the account: state "1" (credited) or "2" (successful)."""
        return self.state in CREDITED_STATES

    @classmethod
    def from_okx(cls, row: Fields) -> Deposit:
        """`depId`, `ccy`, `amt`, `state` and `ts` are required (what a deposit is and whether it
        counts); `txId` and `chain` may be "" (internal transfers have no chain)."""
        return cls(
            dep_id=row.text("depId", required=True, limit=OKX_ID_CHARS),
            ccy=row.text("ccy", required=True, limit=CCY_CHARS),
            amount=_present(row.amount("amt", required=True)),
            state=row.text("state", required=True, limit=STATE_CHARS),
            ts=_present(row.time("ts", required=True)),
            tx_id=row.text("txId", limit=TX_ID_CHARS),
            chain=row.text("chain"),
        )


@dataclass(frozen=True)
class Withdrawal:
    """One row of GET /api/v5/asset/withdrawal-history, the calling account's own (OKX "Get
    withdrawal history", https://www.okx.com/docs-v5/en/#funding-account-rest-api-get-withdrawal-history):

    - `wd_id` "Withdrawal ID"; `ccy` "Currency"; `amount` `amt` "Withdrawal amount", in `ccy`,
      >= 0, without the fee (okx-reference.md 8.7.4).
    - `fee` "Withdrawal fee amount", >= 0, in `fee_ccy` "Withdrawal fee currency" (0 for
      internal transfers).
    - `state` "Status of withdrawal", kept as sent: pending "19"/"17"/"10"/"0", review
      "4"/"5"/"6"/"8"/"9"/"12", approved "7", in progress "1"/"15"/"16", cancelling "-3", final
      "-2" cancelled, "-1" failed, "2" success (see `completed`). An unknown state is kept.
    - `ts` "Time the withdrawal request was submitted", aware UTC.
    - `tx_id` "Hash record of the withdrawal" ("" for internal transfers).
    """

    wd_id: str
    ccy: str
    amount: Decimal
    fee: Decimal
    fee_ccy: str
    state: str
    ts: datetime
    tx_id: str

    @property
    def completed(self) -> bool:
        """The money has left: state "2" ("Success")."""
        return self.state == COMPLETED_STATE

    @classmethod
    def from_okx(cls, row: Fields) -> Withdrawal:
        """`wdId`, `ccy`, `amt`, `fee`, `state` and `ts` are required (what a withdrawal is and what
        left the account); `feeCcy` too when the fee is above 0, else the fee's currency is unknown."""
        fee = _present(row.amount("fee", required=True))
        return cls(
            wd_id=row.text("wdId", required=True, limit=OKX_ID_CHARS),
            ccy=row.text("ccy", required=True, limit=CCY_CHARS),
            amount=_present(row.amount("amt", required=True)),
            fee=fee,
            fee_ccy=row.text("feeCcy", required=fee > 0, limit=CCY_CHARS),
            state=row.text("state", required=True, limit=STATE_CHARS),
            ts=_present(row.time("ts", required=True)),
            tx_id=row.text("txId", limit=TX_ID_CHARS),
        )


# OKX's candle rows are arrays: "[ts,o,h,l,c,confirm]".
CANDLE_COLUMNS = ("ts", "o", "h", "l", "c", "confirm")
CONFIRM_STATES = {"0": False, "1": True}


@dataclass(frozen=True)
class IndexCandle:
    """One row of GET /api/v5/market/history-index-candles (public; OKX "Get index candlesticks
    history", https://www.okx.com/docs-v5/en/#public-data-rest-api-get-index-candlesticks-history):

    - `ts` "Opening time of the candlestick", aware UTC (the candle covers [ts, ts + bar)).
    - `close` `c` "Close price", in the index's quote currency (USD for "BTC-USD"), above 0.
    - `confirmed` `confirm` "1": "completed", "0": "uncompleted" (its close is the latest price).
    """

    ts: datetime
    close: Decimal
    confirmed: bool

    @classmethod
    def from_okx(cls, row: Fields) -> IndexCandle:
        """`ts`, `c` and `confirm` are required: a price needs its time and whether it is final."""
        confirm = one_of(
            row, "confirm", CONFIRM_STATES, "not 0 (uncompleted) or 1 (completed)", required=True
        )
        return cls(
            ts=_present(row.time("ts", required=True)),
            close=_present(row.amount("c", required=True, strict=True)),
            confirmed=CONFIRM_STATES[confirm],
        )


@dataclass(frozen=True)
class AccountBill:
    """One row of GET /api/v5/account/bills (last 7 days) or /account/bills-archive (last 3
    months), the trading account's own ledger (OKX "Get bills details (last 7 days)",
    https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-bills-details-last-7-days, and
    "(last 3 months)": the same fields). Amounts are in `ccy` "Account balance currency":

    - `bill_id` "Bill ID"; `type` "Bill type" and `sub_type` "Bill subtype", kept as sent
      (okx-reference.md 8.7.3: "1" transfer, "2" trade, "8" funding fee, ...; an unknown code is
      kept, to be shown as "other").
    - `bal_chg` "Change in balance amount at the account level", signed (+ in, - out).
    - `fee` "Fee": negative = charged by the platform, positive = rebate; None when "".
    - `pnl` "Profit and loss" (also the funding fee's amount for subType "173"); None when "".
    - `interest` "Interest"; None when "".
    - `inst_id` "Instrument ID" and `inst_type` "Instrument type" ("" when not from trading).
    - `ts` "The time when the balance complete update", aware UTC.
    """

    bill_id: str
    type: str
    sub_type: str
    ccy: str
    bal_chg: Decimal
    fee: Decimal | None
    pnl: Decimal | None
    interest: Decimal | None
    inst_id: str
    inst_type: str
    ts: datetime

    @classmethod
    def from_okx(cls, row: Fields) -> AccountBill:
        """`billId`, `type`, `ccy`, `balChg` and `ts` are required (what a bill is, and the
        balance change it made); the others may be "" where OKX says they do not apply."""
        return cls(
            bill_id=row.text("billId", required=True, limit=OKX_ID_CHARS),
            type=row.text("type", required=True, limit=STATE_CHARS),
            sub_type=row.text("subType", limit=STATE_CHARS),
            ccy=row.text("ccy", required=True, limit=CCY_CHARS),
            bal_chg=_present(row.number("balChg", required=True)),
            fee=row.number("fee"),
            pnl=row.number("pnl"),
            interest=row.number("interest"),
            inst_id=row.text("instId"),
            inst_type=row.text("instType", limit=16),
            ts=_present(row.time("ts", required=True)),
        )


# --- risk (okx-reference.md 8.8): positions closed by the trader, by liquidation or by ADL ---

# OKX's positions-history `type`, "the latest type if there are several types for the same
# position" (request table; the response table lists "5" as "ADL" and no "6").
CLOSE_TYPES = {
    "1": "close position partially",
    "2": "close all",
    "3": "liquidation",
    "4": "partial liquidation",
    "5": "ADL, position not fully closed",
    "6": "ADL, position fully closed",
}


@dataclass(frozen=True)
class ClosedPositionRecord:
    """One row of GET /api/v5/account/positions-history, the calling account's own, the last 3
    months (OKX "Get positions history",
    https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions-history;
    okx-reference.md 8.8.4). One row per position, identified by (`pos_id`, `c_time`): OKX sends
    no row id, keeps one row per position and updates it in place as it closes in steps (the
    latest `type`, running totals, a later `u_time`), and "A posId expires 30 days after the last
    full close; a position opened after that gets a new posId", so only with its creation time
    does a posId name one position.

    - `inst_type`, `inst_id`, `mgn_mode` (cross/isolated), `pos_id` "Position ID", `pos_side`
      "Position side" (long/short in hedge mode, net), `direction` "Direction: long, short",
      `uly` "Underlying", `ccy` "Currency used for margin" (every amount below is in it).
    - `type` "The type of latest close position": one of CLOSE_TYPES ("3" liquidation, "4"
      partial liquidation, "5"/"6" ADL); anything else is MalformedData.
    - `lever` "Leverage"; `open_avg_px` / `close_avg_px` "Average price of opening / closing
      position"; `trigger_px` "trigger mark price. There is value when type is equal to 3, 4 or
      5. It is "" when type is equal to 1 or 2"; `open_max_pos` "Max quantity of position";
      `close_total_pos` "Position's cumulative closed volume". None of these six is ever
      negative (a price, a leverage, a size: the side is `direction`); a negative one is
      MalformedData.
    - `realized_pnl` "Realized profit and loss" = `pnl` + `fee` + `funding_fee` + `liq_penalty`
      + `settled_pnl`; `pnl` "Profit and loss (excluding the fee)"; `pnl_ratio` "Realized P&L
      ratio"; `fee` "Accumulated fee" (negative: charged, positive: rebate); `funding_fee`
      "Accumulated funding fee"; `liq_penalty` "Accumulated liquidation penalty. It is negative
      when there is a value"; `settled_pnl` "Accumulated settled P&L (calculated by settlement
      price)", cross FUTURES only. Signed as OKX sends them; None when "".
    - `c_time` "Created time of position" (required: the row's identity); `u_time` "Updated time
      of position" (OKX pages on it), aware UTC.
    """

    inst_type: str
    inst_id: str
    mgn_mode: str
    pos_id: str
    pos_side: str
    direction: str
    type: str
    ccy: str
    uly: str
    lever: Decimal | None
    open_avg_px: Decimal | None
    close_avg_px: Decimal | None
    trigger_px: Decimal | None
    open_max_pos: Decimal | None
    close_total_pos: Decimal | None
    pnl: Decimal | None
    pnl_ratio: Decimal | None
    realized_pnl: Decimal | None
    fee: Decimal | None
    funding_fee: Decimal | None
    liq_penalty: Decimal | None
    settled_pnl: Decimal | None
    c_time: datetime
    u_time: datetime

    @classmethod
    def from_okx(cls, row: Fields) -> ClosedPositionRecord:
        """`instId`, `instType`, `posId`, `cTime`, `type` and `uTime` are required (which
        position, how and when it was closed: `posId` and `cTime` are the stored row's identity);
        the others may be "" where OKX says they do not apply. MalformedData for a negative
        price, leverage or size (_CLOSED_UNSIGNED)."""
        text: dict[str, Any] = {
            name: row.text(key, required=key in _CLOSED_REQUIRED, limit=limit)
            for name, (key, limit) in _CLOSED_TEXT.items()
        }
        amounts: dict[str, Any] = {
            name: row.amount(key) if key in _CLOSED_UNSIGNED else row.number(key)
            for name, key in _CLOSED_AMOUNTS.items()
        }
        return cls(
            **text,
            **amounts,
            type=one_of(row, "type", CLOSE_TYPES, "not a close type from 1 to 6", required=True),
            c_time=_present(row.time("cTime", required=True)),
            u_time=_present(row.time("uTime", required=True)),
        )


_CLOSED_REQUIRED = frozenset({"instId", "instType", "posId"})
# The ClosedPosition columns these go to (pos_id and inst_id 64, inst_type and mgn_mode 16,
# pos_side and direction 8, ccy 32).
_CLOSED_TEXT = {
    "inst_type": ("instType", 16),
    "inst_id": ("instId", 64),
    "mgn_mode": ("mgnMode", 16),
    "pos_id": ("posId", OKX_ID_CHARS),
    "pos_side": ("posSide", 8),
    "direction": ("direction", 8),
    "ccy": ("ccy", CCY_CHARS),
    "uly": ("uly", 64),
}
# Never negative (OKX: "Leverage", "Average price of opening / closing position", "trigger mark
# price", "Max quantity of position", "Position's cumulative closed volume"; the side is
# `direction`); the PnL figures and fees are signed.
_CLOSED_UNSIGNED = frozenset({"lever", "openAvgPx", "closeAvgPx", "triggerPx", "openMaxPos", "closeTotalPos"})
_CLOSED_AMOUNTS = {
    "lever": "lever",
    "open_avg_px": "openAvgPx",
    "close_avg_px": "closeAvgPx",
    "trigger_px": "triggerPx",
    "open_max_pos": "openMaxPos",
    "close_total_pos": "closeTotalPos",
    "pnl": "pnl",
    "pnl_ratio": "pnlRatio",
    "realized_pnl": "realizedPnl",
    "fee": "fee",
    "funding_fee": "fundingFee",
    "liq_penalty": "liqPenalty",
    "settled_pnl": "settledPnl",
}


def _present(value: T | None) -> T:
    """The value of a required field (Fields raises MalformedData before returning None)."""
    assert value is not None
    return value
