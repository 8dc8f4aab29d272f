"""Typed, validated results of the endpoints the client reads (dataclasses, not database rows).

Money is Decimal parsed from OKX's strings; an empty string means "not applicable" to OKX
(okx-reference.md 2.2), so it becomes None, never 0. Timestamps are epoch milliseconds as strings
and become timezone-aware UTC datetimes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

logger = logging.getLogger(__name__)

Row = dict[str, Any]


def to_decimal(value: Any) -> Decimal | None:
    """Decimal from an OKX number string; None for "", None or anything that is not finite."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        logger.warning("OKX sent a non-numeric amount; treating it as missing")
        return None
    return number if number.is_finite() else None


def to_datetime(value: Any) -> datetime | None:
    """UTC datetime from epoch milliseconds (string or number); None for "" or garbage."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        millis = int(str(value))
    except ValueError:
        logger.warning("OKX sent a non-numeric timestamp; treating it as missing")
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def to_set(value: Any) -> frozenset[str]:
    """OKX joins permissions with commas: "read_only,withdraw,trade"."""
    return frozenset(part.strip() for part in str(value or "").split(",") if part.strip())


def to_tuple(value: Any) -> tuple[str, ...]:
    """OKX joins IPs with commas; "" means no IP is bound."""
    return tuple(part.strip() for part in str(value or "").split(",") if part.strip())


def to_bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


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
    def from_okx(cls, row: Row) -> AccountConfig:
        return cls(
            uid=str(row.get("uid", "")),
            main_uid=str(row.get("mainUid", "")),
            label=str(row.get("label", "")),
            perm=to_set(row.get("perm")),
            ip=to_tuple(row.get("ip")),
            acct_lv=str(row.get("acctLv", "")),
            pos_mode=str(row.get("posMode", "")),
            account_type=str(row.get("type", "")),
        )


@dataclass(frozen=True)
class CurrencyBalance:
    ccy: str
    eq: Decimal | None
    eq_usd: Decimal | None
    cash_bal: Decimal | None
    avail_bal: Decimal | None
    avail_eq: Decimal | None
    frozen_bal: Decimal | None
    upl: Decimal | None

    @classmethod
    def from_okx(cls, row: Row) -> CurrencyBalance:
        return cls(
            ccy=str(row.get("ccy", "")),
            eq=to_decimal(row.get("eq")),
            eq_usd=to_decimal(row.get("eqUsd")),
            cash_bal=to_decimal(row.get("cashBal")),
            avail_bal=to_decimal(row.get("availBal")),
            avail_eq=to_decimal(row.get("availEq")),
            frozen_bal=to_decimal(row.get("frozenBal")),
            upl=to_decimal(row.get("upl")),
        )


@dataclass(frozen=True)
class Balance:
    total_eq: Decimal | None
    updated: datetime | None
    details: list[CurrencyBalance] = field(default_factory=list)

    @classmethod
    def from_okx(cls, row: Row) -> Balance:
        return cls(
            total_eq=to_decimal(row.get("totalEq")),
            updated=to_datetime(row.get("uTime")),
            details=[CurrencyBalance.from_okx(item) for item in row.get("details") or []],
        )

    @classmethod
    def empty(cls) -> Balance:
        return cls(total_eq=None, updated=None, details=[])


@dataclass(frozen=True)
class Position:
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

    @classmethod
    def from_okx(cls, row: Row) -> Position:
        fields: dict[str, Any] = {name: str(row.get(key, "")) for name, key in _POSITION_TEXT.items()}
        fields.update((name, to_decimal(row.get(key))) for name, key in _POSITION_AMOUNTS.items())
        return cls(
            **fields,
            created=to_datetime(row.get("cTime")),
            updated=to_datetime(row.get("uTime")),
        )


_POSITION_TEXT = {
    "inst_id": "instId",
    "inst_type": "instType",
    "mgn_mode": "mgnMode",
    "pos_side": "posSide",
    "ccy": "ccy",
    "pos_id": "posId",
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
}


@dataclass(frozen=True)
class FundingBalance:
    ccy: str
    bal: Decimal | None
    frozen_bal: Decimal | None
    avail_bal: Decimal | None

    @classmethod
    def from_okx(cls, row: Row) -> FundingBalance:
        return cls(
            ccy=str(row.get("ccy", "")),
            bal=to_decimal(row.get("bal")),
            frozen_bal=to_decimal(row.get("frozenBal")),
            avail_bal=to_decimal(row.get("availBal")),
        )


@dataclass(frozen=True)
class AssetValuation:
    total_bal: Decimal | None
    funding: Decimal | None
    trading: Decimal | None
    earn: Decimal | None
    ts: datetime | None

    @classmethod
    def from_okx(cls, row: Row) -> AssetValuation:
        details = row.get("details") or {}
        return cls(
            total_bal=to_decimal(row.get("totalBal")),
            funding=to_decimal(details.get("funding")),
            trading=to_decimal(details.get("trading")),
            earn=to_decimal(details.get("earn")),
            ts=to_datetime(row.get("ts")),
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
    def from_okx(cls, row: Row) -> SubAccount:
        return cls(
            name=str(row.get("subAcct", "")),
            uid=str(row.get("uid", "")),
            label=str(row.get("label", "")),
            enabled=to_bool(row.get("enable")),
            account_type=str(row.get("type", "")),
            created=to_datetime(row.get("ts")),
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
    def from_okx(cls, row: Row) -> SubAccountApiKey:
        return cls(
            api_key=str(row.get("apiKey", "")),
            label=str(row.get("label", "")),
            perm=to_set(row.get("perm")),
            ip=to_tuple(row.get("ip")),
            created=to_datetime(row.get("ts")),
        )
