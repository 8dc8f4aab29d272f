"""Numbers for people: the one place that turns an amount into text on the pages, and that
reports, the CSV writers and alerts may use too (it imports nothing above snapshots).

Decimals per currency, always that many (no trimming), so a column of BTC lines up:
- USD and the USD stablecoins (USDT, USDC, ...), EUR and GBP: 2 places, "1,234.50": totals are
  read in cents, and OKX's own steps for these (USDC-USDT's lot size) would only add noise.
- A coin OKX gives a precision for: that many places (snapshots/precision.py: the decimals of
  the lot size of its spot pair on OKX, `lotSz` of GET /api/v5/public/instruments): BTC 8
  ("0.05000000"), ETH 6 ("1.250000"), a coin traded in whole units 0 ("12,000").
- Any other currency (OKX has no precision for it, or none was read yet): at most 8 places
  (BTC's satoshi; OKX sends up to 18 for some coins), trailing zeros trimmed: "0.000123", "1.5",
  "12". Never 12-18 places.
- Prices, sizes and other plain numbers without a currency: at most 8 places, trimmed.
- A price (format_price) is in its instrument's quote currency (price_ccy), with 2 places for a
  USD-like one (a coin's size precision says nothing about its prices, so other quote currencies
  keep the plain rule), but never fewer than PRICE_DIGITS significant digits: a price under a
  dollar keeps its digits ("0.12345 USDT"), one of 70,588.23529412 becomes "70,588.24 USDT".
- Leverage (format_leverage): "5" and the multiplication sign U+00D7 after it.

Signs: a change or a PnL always carries one, "+12.30" / "-5.50" / "0.00" (zero has none).
Pages write a loss with the minus sign (minus=MINUS: U+2212, as typeset); CSVs, the API and
anything a program reads keep the ASCII hyphen (the default) so the number parses.
Unknown (None) is "—", never 0: callers put the reason beside it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

from snapshots import precision

UNKNOWN = "—"
MINUS = "\u2212"  # U+2212 MINUS SIGN, the one pages use (minus=MINUS); data files keep "-"
# Currencies shown like dollars: 2 places (cents), kept even when zero ("12.50").
TWO_PLACES = frozenset({"USD", "USDT", "USDC", "USDG", "DAI", "FDUSD", "TUSD", "PYUSD", "EUR", "GBP"})
MAX_PLACES = 8
PRICE_DIGITS = 6  # significant digits a price keeps at least (OKX's tick sizes are finer below $1)
TIMES = "\u00d7"  # MULTIPLICATION SIGN, after a leverage
# Room for 20 digits before the point and OKX's up to 18 after (NUMERIC(38, 18)): no rounding
# and no InvalidOperation where the default 28 digits would not hold an amount at 18 places.
_EXACT = Context(prec=60)


def places(ccy: str | None) -> int | None:
    """How many decimals an amount of `ccy` shows, always (no trimming): 2 for USD-like
    currencies, OKX's precision for a coin it gives one for (precision.places_of), else None (up
    to MAX_PLACES, trailing zeros trimmed)."""
    if ccy is None:
        return None
    code = ccy.upper()
    return 2 if code in TWO_PLACES else precision.places_of(code)


def _usd_places(ccy: str | None) -> int | None:
    """2 for a USD-like currency, else None: the places of a price's quote currency."""
    return 2 if ccy is not None and ccy.upper() in TWO_PLACES else None


def format_amount(
    value: Decimal | None, ccy: str | None = None, *, sign: bool = False, minus: str = "-"
) -> str:
    """An amount of `ccy` as text with thousands separators, without the currency code.

    format_amount(Decimal("1234.5"), "USD") -> "1,234.50"
    format_amount(Decimal("0.05"), "BTC") -> "0.05000000" (OKX's 8 places for BTC, when read)
    format_amount(Decimal("0.000123000000"), "BTC") -> "0.000123" (no precision read: trimmed)
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
        rounded = value.quantize(Decimal(1).scaleb(-fixed), rounding=ROUND_HALF_UP, context=_EXACT)
        text = f"{rounded:,.{fixed}f}"
    else:
        rounded = value.quantize(Decimal(1).scaleb(-MAX_PLACES), rounding=ROUND_HALF_UP, context=_EXACT)
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


def format_percent(
    ratio: Decimal | None,
    *,
    sign: bool = True,
    places: int = 2,
    minus: str = "-",
    rounding: str = ROUND_HALF_UP,
) -> str:
    """A ratio (0.0123) as a percentage with its sign: "+1.23%"; "-0.50%" ("\u22120.50%" with
    minus=MINUS, on pages); None -> "—". `rounding`: a decimal module mode, half up unless the
    caller must never show a figure higher than it is (ROUND_FLOOR: snapshots.risk)."""
    if ratio is None or not ratio.is_finite():
        return UNKNOWN
    pct = (ratio * 100).quantize(Decimal(1).scaleb(-places), rounding=rounding)
    if pct == 0:
        return f"{abs(pct):.{places}f}%"
    text = f"{pct:,.{places}f}%"
    if pct < 0:
        return minus + text[1:]
    return f"+{text}" if sign else text


def price_ccy(inst_id: str) -> str:
    """The currency an instrument's prices are in, from OKX's instId: the quote currency of a
    spot/margin pair or a swap/future ("BTC-USDT-SWAP" and "BTC-USDT": USDT; "BTC-USD-SWAP": USD);
    an option's ("BTC-USD-250328-60000-C") are in its coin, BTC (OKX quotes coin-margined options in
    the coin). "" for an instId without a quote part."""
    parts = inst_id.split("-")
    if len(parts) < 2:
        return ""
    return parts[0] if len(parts) == 5 and parts[-1] in ("C", "P") else parts[1]


def format_price(
    value: Decimal | None, ccy: str | None = None, *, minus: str = "-", code: bool = True
) -> str:
    """A price with its currency (price_ccy): the currency's decimals (format_amount), and at least
    PRICE_DIGITS significant digits, at most MAX_PLACES places, trailing zeros past the currency's
    places trimmed; code=False leaves the currency out (a table that writes it once). None -> "—".

    format_price(Decimal("70588.23529412"), "USDT") -> "70,588.24 USDT"
    format_price(Decimal("0.123456789"), "USDT") -> "0.123457 USDT"
    format_price(Decimal("3150"), "USDT") -> "3,150.00 USDT"
    format_price(Decimal("0.05123"), "BTC") -> "0.05123 BTC"; (Decimal("60000")) -> "60,000"
    """
    if value is None or not value.is_finite():
        return UNKNOWN
    fixed = _usd_places(ccy)
    if fixed is not None and value != 0:
        # Places for PRICE_DIGITS significant digits: 70,588.2 needs 1, 0.123457 needs 6.
        wanted = min(MAX_PLACES, max(fixed, PRICE_DIGITS - 1 - value.adjusted()))
        rounded = value.quantize(Decimal(1).scaleb(-wanted), rounding=ROUND_HALF_UP)
        text = f"{abs(rounded):,f}"
        if "." in text and wanted > fixed:  # trim the digits past the currency's own places
            whole, _, part = text.partition(".")
            text = f"{whole}.{part[:fixed]}{part[fixed:].rstrip('0')}"
        text = minus + text if rounded < 0 else text
    else:
        text = format_amount(value, ccy if fixed is not None else None, minus=minus)
    return f"{text} {ccy}" if ccy and code else text


def format_leverage(value: Decimal | None) -> str:
    """OKX's lever as "5" then TIMES ("12.5" then TIMES); None -> "—"."""
    text = format_amount(value)
    return text if text == UNKNOWN else f"{text}{TIMES}"


def sign_class(value: Decimal | None) -> str:
    """The CSS class of a signed figure: "pos", "neg" or "" (zero or unknown)."""
    return "" if not value else "pos" if value > 0 else "neg"
