"""The Jinja2 environment of the long partials (templates/jinja2/): the keys page's cards, the
overview's table rows and the errors filter's account list, hundreds of rows each, which the
Django template language renders several times slower (figures in dashboard/pages/common.py).

Django's Jinja2 backend builds it with autoescape on and gives each render csrf_input and
csrf_token when it has the request. Templates get Django's url and static, url_for_id for a link
on every row, one filter for times in the current (display) zone, and the number filters of
snapshots.numbers (amount, money, percent).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from jinja2 import Environment, StrictUndefined

from snapshots import numbers

_ID = 987654321  # stands for the id in a reversed URL; no route has these digits elsewhere


def url(name: str, *args: Any) -> str:
    """{{ url("pages:account", account.pk) }}: reverse() with positional arguments."""
    return reverse(name, args=args)


def url_for_id(name: str) -> Callable[[int], str]:
    """For a link on every row: {% set account_url = url_for_id("pages:account") %} reverses once,
    then {{ account_url(account.pk) }} fills in each id (a reverse() costs ~18 us, ~9 ms per 500
    rows). The route takes one integer id."""
    head, tail = reverse(name, args=[_ID]).rsplit(str(_ID), 1)
    return lambda pk: f"{head}{int(pk)}{tail}"


def localtime(value: datetime, fmt: str) -> str:
    """{{ at|localtime("%Y-%m-%d %H:%M") }}: the time in the current zone (the pages set the display
    zone), formatted with strftime."""
    return timezone.localtime(value).strftime(fmt)


def environment(**options: Any) -> Environment:
    """Called by Django's Jinja2 backend with its options (autoescape, loader, auto_reload).

    A name the context lacks raises instead of rendering as nothing; block tags on lines of their
    own leave no blank lines, so a template reads like the markup it makes.
    """
    options.pop("autoescape", None)  # on, whatever the settings say
    options.update(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env = Environment(autoescape=True, **options)
    env.globals.update(url=url, url_for_id=url_for_id, static=static)
    env.filters.update(
        localtime=localtime,
        # Numbers as people read them (snapshots.numbers; the same as {% load amounts %}).
        amount=numbers.format_amount,
        money=numbers.format_money,
        percent=numbers.format_percent,
    )
    return env
