"""What the page modules share: rendering in the display time zone (a whole page, or a long
partial through Jinja2), the 400 for a query parameter a page does not know, the chart's range
parameter, and crypto amounts as text.

Why Jinja2 for the long partials (templates/jinja2/): rendering alone, 500 rows, best of 15 on
the 2-CPU development machine (Django templates with {% url %} per row; in brackets with the
links written out):

    partial                       HTML f-strings (before)   Django templates   Jinja2
    keys page, 500 key cards      13 ms                     140 (104) ms       25 ms
    overview, 500 table rows      2.5 ms                    59 (44) ms         6.4 ms
    errors filter, 500 options    5.3 ms                    8.5 ms             5.5 ms

The keys page takes ~60-80 ms in all at 500 keys, so the template language would have doubled
it. The errors filter's options cost about the same either way (its accounts query dominates).

Desks (accounts.desks): every page reads only the accounts its user may see. `visible(request)` is
the set to filter by (None: every account), `account_or_404` answers 404 (never 403) for an
account the user does not see, and `shown_name` names an account that is not visible as "another
account" (a transfer's other side, a sub-account's master).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.template import engines
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from accounts import desks
from accounts.models import Account
from snapshots import numbers, queries

# How a page or the API names an account the user does not see (accounts.desks).
ANOTHER_ACCOUNT = "another account"
# Django's words for an unknown id: an account of another desk is answered the same way.
NOT_VISIBLE = "No Account matches the given query."


def visible(request: Any) -> frozenset[int] | None:
    """The ids of the accounts the request's user sees; None: every account (cached on the user)."""
    return desks.visible_account_ids(request.user)


def sees(ids: frozenset[int] | None, account_id: int | None) -> bool:
    """Whether `account_id` is in `ids` (visible(request)); None (no account) is not."""
    return account_id is not None and (ids is None or account_id in ids)


def account_or_404(request: Any, pk: int, queryset: Any = None) -> Account:
    """The account `pk` (from `queryset`, default every account) when the user sees it; 404 for
    an unknown one and for one of a desk the user does not see (it does not learn it exists)."""
    if not desks.can_see(request.user, pk):
        raise Http404(NOT_VISIBLE)
    account: Account = get_object_or_404(queryset if queryset is not None else Account, pk=pk)
    return account


def visible_or_404(request: Any, row: Model, field: str = "account_id") -> None:
    """404 when the row's account (its `field`) is not one the user sees."""
    if not desks.can_see(request.user, getattr(row, field)):
        raise Http404(NOT_VISIBLE)


def shown_name(account: Account | None, ids: frozenset[int] | None) -> str:
    """The account's name when the user sees it (`ids`: visible(request)), else "another account";
    "" for no account."""
    if account is None:
        return ""
    return account.name if sees(ids, account.pk) else ANOTHER_ACCOUNT


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """A Django template with times shown in the display zone (`zone` names it on the page)."""
    zone = settings.DISPLAY_TIME_ZONE
    with timezone.override(ZoneInfo(zone)):
        return render(request, template, {**context, "zone": zone}, status=status)


def render_partial(request: HttpRequest | None, template: str, context: dict[str, Any]) -> SafeString:
    """A Jinja2 template under templates/jinja2/, in the display zone, as markup a page's Django
    template inserts as it is. Jinja2 escaped every value in it (autoescape is on)."""
    with timezone.override(ZoneInfo(settings.DISPLAY_TIME_ZONE)):
        html = engines["jinja2"].get_template(template).render(context, request)
    return mark_safe(html)  # noqa: S308 (rendered with autoescape on)


class BadQuery(ValueError):
    """A query parameter the page does not know: answered with 400 and the allowed values."""


def bad_request(error: BadQuery, request: HttpRequest | None = None) -> HttpResponse:
    """400 naming the allowed values: with the request, the project's 400 page (templates/400.html,
    with the top bar and menu); without it, the message as plain text."""
    if request is None:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    return render_page(request, "400.html", {"message": str(error)}, status=400)


def chart_range(request: HttpRequest, default: str = queries.DEFAULT_RANGE) -> str:
    """The ?range= of a chart (`default` when absent: the pages pass queries.default_range, the
    shortest range that holds all the history); BadQuery for a range the charts do not have."""
    range_key = queries.range_or_none(request.GET.get("range"), default)
    if range_key is None:
        raise BadQuery(f"Unknown range. Use one of: {', '.join(queries.RANGES)}.")
    return range_key


def amount(value: Decimal | None, ccy: str | None = None) -> str:
    """An amount as people read it (snapshots.numbers.format_amount): USD-like currencies with 2
    places, other currencies and plain numbers with at most 8, trailing zeros trimmed:
    1234.500000 -> "1,234.5"; ("0.000123000000", "BTC") -> "0.000123"; -2 -> "\u22122" (the minus
    sign, as on every page); None -> "—"."""
    return numbers.format_amount(value, ccy, minus=numbers.MINUS)


@dataclass(frozen=True)
class ChangeText:
    """A change as the pages show it: "+12.30 USD", "+1.23%" ("\u22125.50 USD", "\u22120.50%": the minus
    sign), and since when when the history is shorter than the period (queries.Change.since, aware
    UTC; the template shows it in the zone). Unknown: value "—", percent "" (one dash, not two)."""

    value: str
    percent: str
    since: datetime | None
    css_class: str
    amount: str = numbers.UNKNOWN  # the value without its currency, for a table's USD column
    mixed: bool = False  # some accounts over the whole period, some since their first data

    @classmethod
    def of(cls, change: queries.Change | None) -> ChangeText:
        """None (unknown) -> value and amount "—", no percent (the page says why beside it); a
        known change over a baseline of zero or below has no percentage either."""
        if change is None:
            return cls(numbers.UNKNOWN, "", None, "")
        ratio = change.ratio
        return cls(
            numbers.format_money(change.usd, "USD", sign=True, minus=numbers.MINUS),
            "" if ratio is None else numbers.format_percent(ratio, minus=numbers.MINUS),
            change.since,
            numbers.sign_class(change.usd),
            numbers.format_amount(change.usd, "USD", sign=True, minus=numbers.MINUS),
            change.mixed,
        )

    @property
    def known(self) -> bool:
        return self.value != numbers.UNKNOWN


def span(seconds: float) -> str:
    """A read interval in words: "5 min 40 s", "1 min", "45 s"."""
    minutes, rest = divmod(round(seconds), 60)
    return " ".join(
        part for part in (f"{minutes} min" if minutes else "", f"{rest} s" if rest else "") if part
    )
