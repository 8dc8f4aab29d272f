"""The senders: one function per channel kind, each returning a Result and never raising for a
transport problem. Secrets (webhook URLs, bot tokens) are decrypted here and go nowhere else:
errors are described by kind ("timed out", "HTTP 500"), never with requests' own messages,
which quote the URL; a response body is kept only with every secret scrubbed from it.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail

from accounts.crypto import DecryptionError
from alerts.models import DEFAULT_TELEGRAM_API, AlertChannel, ChannelKind, Delivery

logger = logging.getLogger(__name__)

TIMEOUT = (5, 10)  # connect, read (seconds)
BODY_NOTE_LENGTH = 120
# A client error other than these will not change on a retry (bad URL, revoked token, chat gone).
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Result:
    ok: bool
    http_status: int | None = None
    error: str = ""
    permanent: bool = False

    def describe(self) -> str:
        if self.ok:
            return f"HTTP {self.http_status}" if self.http_status else "sent"
        return self.error


def send(channel: AlertChannel, subject: str, text: str, payload: dict[str, Any]) -> Result:
    """Deliver one message through `channel`; `payload` is the generic webhook's JSON body."""
    try:
        if channel.kind == ChannelKind.EMAIL:
            return _send_email(channel, subject, text)
        if channel.kind == ChannelKind.SLACK:
            return _post(channel.secret_url(), {"text": text}, secrets=[channel.secret_url()])
        if channel.kind == ChannelKind.TELEGRAM:
            return _send_telegram(channel, text)
        return _post(channel.secret_url(), payload, secrets=[channel.secret_url()])
    except DecryptionError:
        return Result(False, error="a stored secret cannot be decrypted (FERNET_KEYS)", permanent=True)


def _send_email(channel: AlertChannel, subject: str, text: str) -> Result:
    recipients = channel.recipient_list()
    if not recipients:
        return Result(False, error="no recipients", permanent=True)
    try:
        send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    except (smtplib.SMTPException, OSError) as error:
        return Result(False, error=f"e-mail failed ({type(error).__name__})")
    return Result(True)


def _send_telegram(channel: AlertChannel, text: str) -> Result:
    token = channel.secret_token()
    base = (channel.api_base_url or DEFAULT_TELEGRAM_API).rstrip("/")
    url = f"{base}/bot{token}/sendMessage"
    return _post(url, {"chat_id": channel.chat_id, "text": text}, secrets=[token, url])


def _post(url: str, body: dict[str, Any], *, secrets: list[str]) -> Result:
    """POST JSON without following redirects: a webhook that redirects elsewhere is refused
    rather than handed the alert (and, for Telegram, the token in the path)."""
    try:
        response = requests.post(url, json=body, timeout=TIMEOUT, allow_redirects=False)
    except requests.Timeout:
        return Result(False, error="timed out")
    except requests.ConnectionError:
        return Result(False, error="could not connect")
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
    ):
        return Result(False, error="invalid URL", permanent=True)
    except requests.RequestException as error:
        return Result(False, error=f"request failed ({type(error).__name__})")
    status = response.status_code
    if 200 <= status < 300:
        return Result(True, http_status=status)
    if 300 <= status < 400:
        return Result(False, status, f"HTTP {status}: redirect not followed", permanent=True)
    note = _scrub(response.text[:BODY_NOTE_LENGTH], secrets)
    message = f"HTTP {status}" + (f": {note}" if note else "")
    return Result(False, status, message, permanent=400 <= status < 500 and status not in RETRYABLE_STATUSES)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return " ".join(text.split())


def webhook_payload(delivery: Delivery) -> dict[str, Any]:
    alert = delivery.alert
    return {
        "event": delivery.event,
        "rule": alert.rule,
        "state": alert.state,
        "stage": alert.stage,
        "subject": alert.subject,
        "account": alert.account.name if alert.account is not None else None,
        "title": delivery.subject,
        "text": delivery.text,
        "opened_at": _iso(alert.opened_at),
        "resolved_at": _iso(alert.resolved_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def send_test_alert(channel: AlertChannel) -> Result:
    """The admin's "send a test alert": the same path as a real alert, nothing recorded."""
    subject = "[OKX dashboard] Test alert"
    text = f"Test alert from the OKX team dashboard to the channel {channel.name}. No action needed."
    payload = {"event": "test", "rule": "test", "title": subject, "text": text}
    result = send(channel, subject, text, payload)
    logger.info("test alert to channel %s: %s", channel.name, result.describe())
    return result
