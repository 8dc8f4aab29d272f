"""The keys page's cards as HTML built in Python: 500 keys through the template language (two
{% url %}, a {% csrf_token %}, date filters and nested loops per card) took ~0.4-0.8 s.

Every text from the database or OKX goes through escape(); the markup matches what
templates/dashboard/keys.html rendered card by card.
"""

from __future__ import annotations

from datetime import datetime
from html import escape as _escape
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.forms.utils import flatatt
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe


def escape(text: object) -> str:
    """Django's escape() without its lazy-string and SafeString wrapping (same characters)."""
    return _escape(str(text))


PAUSED = (
    '<span class="badge none" title="The dashboard does not refresh this account, so it does not use'
    ' this key">account paused</span>'
)


def key_cards(rows: list, request, *, can_operate: bool) -> SafeString:
    """One <article> per KeyRow (dashboard.pages.keys), in the given order."""
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    # One masked token for every form on the page (each is valid for this session).
    token = escape(get_token(request)) if can_operate else ""
    # The account URLs differ only by id: reverse once, fill in the id per card.
    account_url = reverse("pages:account", args=[0]).replace("/0/", "/{}/")
    test_url = reverse("pages:test_key", args=[0]).replace("/0/", "/{}/")
    html = "".join(_card(row, zone, token, account_url, test_url) for row in rows)
    return mark_safe(html)  # noqa: S308 (every text in it went through escape())


def _card(row, zone: ZoneInfo, token: str, account_url: str, test_url: str) -> str:
    credential, account = row.credential, row.account
    state = " failing" if row.status == "failing" else " deadline" if row.deadline else ""
    master = f" of {escape(account.master.name)}" if account.master else ""
    label = f" · {escape(credential.label)}" if credential.label else ""
    return (
        f'<article class="card key{state}" id="key-{credential.pk}" data-account="{escape(account.name)}">\n'
        '    <div class="who-key">\n'
        f'      <div class="name"><a href="{account_url.format(account.pk)}">{escape(account.name)}</a>'
        "</div>\n"
        f'      <div class="meta">{escape(account.get_kind_display())}{master} · '
        f"{escape(account.get_environment_display())}</div>\n"
        f'      <div class="meta">key <code>{escape(credential.display_fingerprint)}</code>{label}</div>\n'
        f'      <p><span class="badge {escape(row.status)}">{escape(row.status)}</span>\n'
        f"        {'' if account.active else PAUSED}</p>\n"
        f"      {_deadline(row)}\n"
        f"      {_checked(credential.health_checked_at, zone)}\n"
        "    </div>\n"
        f'    <div>\n      <h3 class="muted">Warnings</h3>\n      {_warnings(row)}\n    </div>\n'
        f'    <div class="todo">\n      <h3>What to do</h3>\n      {_steps(row.steps)}\n'
        f'      <div class="actions">\n        {_actions(row, token, test_url)}\n      </div>\n'
        "    </div>\n  </article>\n  "
    )


def _deadline(row) -> str:
    text = row.deadline_text
    return f'<div class="deadline-note">{escape(text)}</div>' if text else ""


def _checked(at: datetime | None, zone: ZoneInfo) -> str:
    if at is None:
        return '<div class="meta">not checked yet</div>'
    return f'<div class="meta">checked {at.astimezone(zone):%Y-%m-%d %H:%M}</div>'


def _warnings(row) -> str:
    if row.warnings:
        items = "".join(_warning(w) for w in row.warnings)
        return f'<ul class="warnings">{items}</ul>'
    if row.status in ("failing", "grace"):
        return '<p class="muted">None recorded: OKX refused the key before the check could read it.</p>'
    return '<p class="muted">None.</p>'


def _warning(warning: dict) -> str:
    severity = escape(warning.get("severity", ""))
    when = f' <span class="when">({escape(warning["date"])})</span>' if warning.get("date") else ""
    message = escape(warning.get("message", ""))
    return f'<li><span class="badge {severity}">{severity}</span> {message}{when}</li>'


def _steps(steps: list[str]) -> str:
    if not steps:
        return '<p class="muted">Nothing: this key is healthy.</p>'
    return "<ol>" + "".join(f"<li>{escape(step)}</li>" for step in steps) + "</ol>"


def _actions(row, token: str, test_url: str) -> str:
    parts = []
    if row.rotate_url:
        parts.append(
            f'<a class="button small secondary" href="{escape(row.rotate_url)}">Rotate in the admin</a>'
        )
    if token:
        parts.append(
            f'<form method="post" action="{test_url.format(row.account.pk)}" class="inline">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
            '<button type="submit" class="small secondary">Test this key now</button></form>'
        )
    return "\n        ".join(parts)


class QuickSelect(forms.Select):
    """A <select> whose options are written here, not through one widget template per option:
    the errors filter lists every account (500 options took ~0.1-0.2 s through the templates)."""

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None) -> SafeString:
        chosen = set(self.format_value(value))
        options, selected = [], False
        for option_value, label in self.choices:
            text = "" if option_value is None else str(option_value)
            mark = " selected" if not selected and text in chosen else ""
            selected = selected or bool(mark)
            options.append(f'<option value="{escape(text)}"{mark}>{escape(label)}</option>')
        others = flatatt(self.build_attrs(self.attrs, attrs))  # sorted, after the name as Django's
        body = "\n  ".join(options)
        return mark_safe(f'<select name="{escape(name)}"{others}>\n  {body}\n</select>')  # noqa: S308 (escaped)
