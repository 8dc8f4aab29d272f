"""Template filters for numbers as people read them ({% load amounts %}), over
snapshots.numbers, the one formatting place of every surface:

    {{ line.equity|amount:line.ccy }}        "0.00012300" (BTC: OKX's 8 places), "1,234.50" (USDT)
    {{ total|money:"USD" }}                  "1,234.50"
    {{ pnl|signed:"USD" }}                   "+12.30", "\u22125.50"
    {{ ratio|percent }}                      "+1.23%" (a ratio: 0.0123)

Each currency has its places (snapshots.numbers: cents for USD-like ones, OKX's precision for a
coin, read once per request). None is "—" (the page says why beside it). These are for pages: a
loss has the minus sign U+2212 (numbers.MINUS); CSVs and the API format through
snapshots.numbers with its ASCII "-".
"""

from __future__ import annotations

from decimal import Decimal

from django import template

from snapshots import numbers

register = template.Library()


def _decimal(value: object) -> Decimal | None:
    """What a template hands over: a Decimal, a number, or "" for a missing attribute (None)."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


@register.filter
def amount(value: object, ccy: str | None = None) -> str:
    """An amount of `ccy` without the code (snapshots.numbers.format_amount)."""
    return numbers.format_amount(_decimal(value), ccy, minus=numbers.MINUS)


@register.filter
def money(value: object, ccy: str = "USD") -> str:
    """Like amount, for a money column (default USD: two places)."""
    return numbers.format_amount(_decimal(value), ccy, minus=numbers.MINUS)


@register.filter
def signed(value: object, ccy: str | None = None) -> str:
    """A change or PnL with its sign: "+12.30"; "\u22125.50"; "0.00"."""
    return numbers.format_amount(_decimal(value), ccy, sign=True, minus=numbers.MINUS)


@register.filter
def percent(ratio: object) -> str:
    """A ratio as a signed percentage with two places: 0.0123 -> "+1.23%"."""
    return numbers.format_percent(_decimal(ratio), minus=numbers.MINUS)
