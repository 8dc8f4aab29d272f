"""A webhook receiver's error reply that quotes the channel's secret in any form (issue 17.2):
Express's default 404 `Cannot POST /hooks/<token>`, the URL JSON-escaped, URL-encoded, cut
short, in another case; and (issue 17, break-it review) in hex, escapes, joined with zero-width
spaces, in fullwidth letters, base64 in short chunks, split in 7-character pieces. Delivered
for real to a local HTTP receiver; the delivery error shows the status in the product's words
and nothing of the token, on /alerts/ for a viewer, in the channel admin, in the stored rows
and in the logs. A reply without a secret is still shown."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote, unquote

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from alerts.engine import deliver_due
from alerts.models import AlertChannel, ChannelKind, Delivery
from tests.accounts_support import make_user
from tests.alerts_support import Receiver, firing_delivery, receiver

pytestmark = pytest.mark.django_db

# An obvious fake with a webhook token's shape (Slack-like: long, mixed case, digits).
TOKEN = "FAKEhookT0k3nXq9Zr7Lw2Mv8Ns4Pd6Kb"
CHANNELS = "/admin/alerts/alertchannel/"

# How a receiver's reply can quote the URL it was posted to; `url` is the channel's whole URL.
REPLIES: dict[str, Callable[[str], str]] = {
    "express 404": lambda url: (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
        f"</head>\n<body>\n<pre>Cannot POST /hooks/{TOKEN}</pre>\n</body>\n</html>\n"
    ),
    "json-escaped url": lambda url: json.dumps({"error": "no such hook", "url": url}).replace("/", "\\/"),
    "url-encoded": lambda url: f"unknown target={quote(url, safe='')}",
    "cut short": lambda url: f"no hook starting {TOKEN[:8]}",
    "other case": lambda url: f"CANNOT POST /HOOKS/{TOKEN.upper()}",
    "lower case, cut short": lambda url: f"hook {TOKEN.lower()[:12]}... not found",
    "html entities": lambda url: f"Cannot POST &#x2F;hooks&#x2F;{TOKEN}",
    "json unicode escapes": lambda url: json.dumps({"path": f"/hooks/{TOKEN}"}).replace("/", "\\u002f"),
    "double url-encoded": lambda url: quote(quote(url, safe=""), safe=""),
    "space-separated hex": lambda url: " ".join(f"{byte:02x}" for byte in url.encode()),
    "\\x escapes": lambda url: "no hook " + "".join(f"\\x{byte:02x}" for byte in TOKEN.encode()),
    "\\u{} escapes": lambda url: "no hook " + "".join(f"\\u{{{ord(char):x}}}" for char in TOKEN),
    "zero-width joined": lambda url: "unknown hook " + "\u200b".join(TOKEN),
    "fullwidth": lambda url: "unknown hook " + "".join(chr(ord(char) + 0xFEE0) for char in TOKEN),
    "base64 in short chunks": lambda url: " ".join(_chunks(base64.b64encode(url.encode()).decode(), 20)),
    "7-character pieces": lambda url: "|".join(_chunks(TOKEN, 7)),
}


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def leaks(text: str) -> list[str]:
    """Every 8-character piece of the token found in `text`, in any case, as written or
    HTML-, JSON-, \\x-, \\u{}- or URL-decoded, in its letters and digits alone (after NFKC), and
    the token's hex (16 digits) or base64 (8 characters, any alignment) in those (written here,
    not taken from the product)."""
    forms = [text]
    for _ in range(3):
        text = unquote(html.unescape(text).replace("\\/", "/"))
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        text = re.sub(
            r"\\x([0-9a-fA-F]{2})|\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m[1] or m[2], 16)), text
        )
        forms.append(text)
    forms += [re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", form).lower()) for form in forms]
    token = TOKEN.lower()
    pieces = {token[i : i + 8] for i in range(len(token) - 7)}
    encoded = TOKEN.encode().hex()
    pieces |= {encoded[i : i + 16] for i in range(len(encoded) - 15)}
    for offset in range(3):
        b64 = base64.b64encode(b"\0" * offset + TOKEN.encode()).decode().lower()
        b64 = re.sub(r"[^0-9a-z]", "", b64)[4:-4]
        pieces |= {b64[i : i + 8] for i in range(len(b64) - 7)}
    return sorted({piece for piece in pieces for form in forms if piece in form.lower()})


@pytest.fixture
def hook():
    with receiver() as hook:
        yield hook


def hook_channel(hook: Receiver) -> AlertChannel:
    channel = AlertChannel(name="ops hook", kind=ChannelKind.WEBHOOK)
    channel.set_url(f"{hook.url}/hooks/{TOKEN}")
    channel.save()
    return channel


def test_the_leak_finder_of_these_tests_sees_every_reply_form():
    url = f"http://127.0.0.1:8000/hooks/{TOKEN}"
    for name, reply in REPLIES.items():
        assert leaks(reply(url)), name


@pytest.mark.parametrize("form", list(REPLIES))
def test_a_reply_quoting_the_secret_in_any_form_is_shown_nowhere(client, hook, caplog, form):
    caplog.set_level(logging.DEBUG)
    channel = hook_channel(hook)
    delivery = firing_delivery(channel)
    hook.status, hook.reply = 404, REPLIES[form](channel.secret_url())

    assert deliver_due() == {delivery.pk: "failed"}
    assert hook.to(f"/hooks/{TOKEN}")  # the receiver did get the alert

    delivery.refresh_from_db()
    channel.refresh_from_db()
    assert (delivery.http_status, delivery.error) == (
        404,
        "receiver answered HTTP 404 (reply not kept: it may quote the channel's secret)",
    )
    assert channel.last_error == delivery.error
    stored = [delivery.error, channel.last_error, *Delivery.objects.values_list("error", flat=True)]
    assert leaks(" ".join(stored)) == []
    assert leaks(caplog.text) == []

    client.force_login(make_user("viewer"))
    page = client.get("/alerts/").content.decode()
    assert "receiver answered HTTP 404" in page and leaks(page) == []

    client.force_login(make_user("key_admin"))
    for admin_page in (CHANNELS, f"{CHANNELS}{channel.pk}/change/"):
        html_text = client.get(admin_page).content.decode()
        assert "receiver answered HTTP 404" in html_text and leaks(html_text) == []
    caplog.clear()
    tested = client.post(f"{CHANNELS}{channel.pk}/test/", follow=True).content.decode()
    assert "Test alert to ops hook: failed, receiver answered HTTP 404" in tested
    assert leaks(tested) == [] and leaks(caplog.text) == []


def test_a_reply_without_the_secret_is_kept_to_explain_the_failure(client, hook):
    channel = hook_channel(hook)
    delivery = firing_delivery(channel)
    hook.status, hook.reply = 400, '{"ok": false, "error": "invalid_payload"}'
    deliver_due()
    delivery.refresh_from_db()
    assert delivery.error == 'receiver answered HTTP 400: {"ok": false, "error": "invalid_payload"}'
    client.force_login(make_user("viewer"))
    assert "invalid_payload" in client.get("/alerts/").content.decode()


def test_a_long_token_like_run_in_a_kept_reply_is_masked(hook):
    """Whatever a receiver does to a secret that is not recognised (a hash; base64 is: see
    REPLIES), a long run of token characters is not kept."""
    channel = hook_channel(hook)
    delivery = firing_delivery(channel)
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    hook.status, hook.reply = 403, f"denied for session {digest}"
    deliver_due()
    delivery.refresh_from_db()
    assert delivery.error == "receiver answered HTTP 403: denied for session …"


@pytest.fixture
def back_to_latest(transactional_db):
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_errors_stored_before_the_fix_lose_the_reply(back_to_latest):
    """A database of the previous release keeps "HTTP 404: Cannot POST /hooks/<token>": the
    migration leaves only the status, in today's words."""
    executor = MigrationExecutor(connection)
    before = [("alerts", "0002_settings_ranges_and_alert_run")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    now = timezone.now()
    account = old.get_model("accounts", "Account").objects.create(name="desk")
    alert = old.get_model("alerts", "Alert").objects.create(
        rule="account_stale",
        subject="account:1",
        title="t",
        message="m",
        opened_at=now,
        changed_at=now,
        account_id=account.pk,
    )
    channel = old.get_model("alerts", "AlertChannel").objects.create(
        name="ops hook", kind="webhook", last_error=f"HTTP 404: Cannot POST /hooks/{TOKEN}"
    )
    old.get_model("alerts", "Delivery").objects.create(
        alert=alert,
        channel=channel,
        channel_name="ops hook",
        event="firing",
        subject="s",
        text="t",
        http_status=404,
        error=f"HTTP 404: Cannot POST /hooks/{TOKEN}",
        created_at=now,
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Delivery.objects.get().error == "receiver answered HTTP 404"
    assert AlertChannel.objects.get().last_error == "receiver answered HTTP 404"
