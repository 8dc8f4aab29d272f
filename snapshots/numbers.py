"""Numbers for people: the one place that turns an amount into text on the pages, and that
reports, the CSV writers and alerts may use too (it imports nothing above snapshots).

Decimals per currency (OKX's own precision where the product knows it; it stores no instrument
or currency precision today, so these are the display rules per kind of currency):
- USD and the USD stablecoins (USDT, USDC, ...): always 2 places: "1,234.50".
- Any other currency (BTC, ETH, SOL, ...): at most 8 places (BTC's satoshi; OKX sends up to 18
  for some coins), trailing zeros trimmed: "0.000123", "1.5", "12". Never 12-18 places.
- Prices, sizes and other plain numbers without a currency: at most 8 places, trimmed.

Signs: a change or a PnL always carries one, "+12.30" / "-5.50" / "0.00" (zero has none).
Pages write a loss with the minus sign (minus=MINUS: U+2212, as typeset); CSVs, the API and
anything a program reads keep the ASCII hyphen (the default) so the number parses.
Unknown (None) is "—", never 0: callers put the reason beside it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

UNKNOWN = "—"
MINUS = "\u2212"  # U+2212 MINUS SIGN, the one pages use (minus=MINUS); data files keep "-"
# Currencies shown like dollars: 2 places, kept even when zero ("12.50").
TWO_PLACES = frozenset({"USD", "USDT", "USDC", "USDG", "DAI", "FDUSD", "TUSD", "PYUSD", "EUR", "GBP"})
MAX_PLACES = 8


def places(ccy: str | None) -> int | None:
    """How many decimals an amount of `ccy` shows: 2 for USD-like currencies (fixed), else None
    (up to MAX_PLACES, trailing zeros trimmed)."""
    return 2 if ccy is not None and ccy.upper() in TWO_PLACES else None


def format_amount(
    value: Decimal | None, ccy: str | None = None, *, sign: bool = False, minus: str = "-"
) -> str:
    """An amount of `ccy` as text with thousands separators, without the currency code.

    format_amount(Decimal("1234.5"), "USD") -> "1,234.50"
    format_amount(Decimal("0.000123000000"), "BTC") -> "0.000123"
    format_amount(Decimal("0.123456789"), "BTC") -> "0.12345679" (rounded half up at 8 places)
    format_amount(Decimal("5"), "USD", sign=True) -> "+5.00"; None -> "—".
    format_amount(Decimal("-5"), "USD", minus=MINUS) -> "\u22125.00" (pages; the default "-" for data).
    """
    if value is None:
        return UNKNOWN
    if not value.is_finite():
        return UNKNOWN
    fixed = places(ccy)
    if fixed is not None:
        rounded = value.quantize(Decimal(1).scaleb(-fixed), rounding=ROUND_HALF_UP)
        text = f"{rounded:,.{fixed}f}"
    else:
        rounded = value.quantize(Decimal(1).scaleb(-MAX_PLACES), rounding=ROUND_HALF_UP)
        text = f"{rounded:,f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    if rounded == 0:
        return text.lstrip("-")  # no "-0.00"
    if rounded < 0:
        return minus + text[1:]
    return f"+{text}" if sign else text


def format_money(value: Decimal | None, ccy: str = "USD", *, sign: bool = False, minus: str = "-") -> str:
    """format_amount with the currency after it: "1,234.50 USD", "+0.0012 BTC"; None -> "—"."""
    text = format_amount(value, ccy, sign=sign, minus=minus)
    return text if text == UNKNOWN else f"{text} {ccy}"


def format_percent(ratio: Decimal | None, *, sign: bool = True, places: int = 2, minus: str = "-") -> str:
    """A ratio (0.0123) as a percentage with its sign: "+1.23%"; "-0.50%" ("\u22120.50%" with
    minus=MINUS, on pages); None -> "—"."""
    if ratio is None or not ratio.is_finite():
        return UNKNOWN
    pct = (ratio * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if pct == 0:
        return f"{abs(pct):.{places}f}%"
    text = f"{pct:,.{places}f}%"
    if pct < 0:
        return minus + text[1:]
    return f"+{text}" if sign else text


def sign_class(value: Decimal | None) -> str:
    """The CSS class of a signed figure: "pos", "neg" or "" (zero or unknown)."""
    return "" if not value else "pos" if value > 0 else "neg"
