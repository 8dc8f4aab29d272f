"""The senders: one function per channel kind, each returning a Result and never raising for a
transport problem. Secrets (webhook URLs, bot tokens) are decrypted here and go nowhere else:
errors are sentences this module writes ("timed out", "receiver answered HTTP 404"), never the
HTTP client's own messages, which quote the URL. A receiver's error body is kept (its start) only
when no piece of a secret could be in it, in any form: see receiver_note().

One webhook POST is bounded in time and memory whatever the receiver does: DEADLINE_SECONDS for
the whole exchange (connect, send, status line, headers, reply), on the event loop's monotonic
clock, and at most REPLY_READ_BYTES of an error reply read (a 2xx reply is not read at all).
httpx's async client gives the deadline through cancellation, which also ends a receiver that
drips its headers; a per-read timeout alone does not (every byte arrives in time).
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
import smtplib
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail

from accounts.crypto import DecryptionError
from alerts.models import DEFAULT_TELEGRAM_API, AlertChannel, ChannelKind, Delivery

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10, connect=5)  # seconds, per connect / read / write
DEADLINE_SECONDS = 15  # the whole exchange of one POST
REPLY_READ_BYTES = 64 * 1024  # of an error reply; the rest is never read
BODY_NOTE_LENGTH = 120
# A piece of a secret this long (letters and digits only), or the whole of a shorter secret,
# anywhere in a reply's letters and digits counts as a quote of the secret.
SECRET_PIECE_LENGTH = 6
# Long runs of token-like characters are masked in a kept note, whatever they encode.
TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-+/=%.~:]{24,}")
# Escapes a receiver may write a secret in: \xNN, \u{N..}, \uNNNN, %uNNNN, 0xNN, and octal \NNN
# (the last group: OCTAL_GROUP).
ESCAPE = re.compile(
    r"\\x([0-9a-f]{2})|\\u\{([0-9a-f]{1,6})\}|\\u([0-9a-f]{4})|%u([0-9a-f]{4})|\b0x([0-9a-f]{2})|\\([0-7]{3})",
    re.IGNORECASE,
)
OCTAL_GROUP = 6
HEX_RUN = re.compile(r"[0-9a-f]{12,}")
NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
DECODE_ROUNDS = 3
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
    """Deliver one message through `channel`; `payload` is the generic webhook's JSON body.
    Takes at most DEADLINE_SECONDS (plus the time to search a reply for secrets)."""
    try:
        if channel.kind == ChannelKind.EMAIL:
            return _send_email(channel, subject, text)
        if channel.kind == ChannelKind.SLACK:
            url = channel.secret_url()
            return _post(url, {"text": text}, secrets=[url])
        if channel.kind == ChannelKind.TELEGRAM:
            return _send_telegram(channel, text)
        url = channel.secret_url()
        return _post(url, payload, secrets=[url])
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
    return _post(url, {"chat_id": channel.chat_id, "text": text}, secrets=[token, f"bot{token}"])


@dataclass
class _Reply:
    status: int | None = None
    body: bytearray = field(default_factory=bytearray)


def _post(url: str, body: dict[str, Any], *, secrets: list[str]) -> Result:
    """POST JSON without following redirects: a webhook that redirects elsewhere is refused
    rather than handed the alert (and, for Telegram, the token in the path). A user name and
    password in the URL (refused by the admin today, possibly stored before) are secrets too,
    with the Basic credentials made of them, which a receiver may echo."""
    try:
        reply = asyncio.run(_exchange(url, body))
    except TimeoutError:
        return Result(False, error=f"timed out (no answer within {DEADLINE_SECONDS} s)")
    except httpx.TimeoutException:
        return Result(False, error="timed out")
    except httpx.ConnectError:
        return Result(False, error="could not connect")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        return Result(False, error="invalid URL", permanent=True)
    except httpx.HTTPError as error:
        return Result(False, error=f"request failed ({type(error).__name__})")
    status = reply.status or 0
    if 200 <= status < 300:
        return Result(True, http_status=status)
    if 300 <= status < 400:
        message = f"receiver answered HTTP {status}, a redirect (not followed)"
        return Result(False, status, message, permanent=True)
    message = f"receiver answered HTTP {status}"
    note = receiver_note(reply.body.decode("utf-8", errors="replace"), [*secrets, *_userinfo(url)])
    if note is None:
        message += " (reply not kept: it may quote the channel's secret)"
    elif note:
        message += f": {note}"
    return Result(False, status, message, permanent=400 <= status < 500 and status not in RETRYABLE_STATUSES)


async def _exchange(url: str, body: dict[str, Any]) -> _Reply:
    """One POST under the overall deadline: the status and, for a 4xx/5xx, the first
    REPLY_READ_BYTES of the reply as sent (not decompressed; a compressed one is not read).
    Raises TimeoutError when no status came within the deadline, or httpx's error before one
    came; a reply still arriving at the deadline, or broken off, is kept as far as it came."""
    reply = _Reply()
    try:
        async with (
            asyncio.timeout(DEADLINE_SECONDS),
            httpx.AsyncClient(timeout=TIMEOUT, headers={"Accept-Encoding": "identity"}) as client,
            client.stream("POST", url, json=body) as response,
        ):
            reply.status = response.status_code
            compressed = response.headers.get("Content-Encoding", "identity").lower() != "identity"
            if not response.is_error or compressed:
                return reply
            async for chunk in response.aiter_raw():
                reply.body += chunk[: REPLY_READ_BYTES - len(reply.body)]
                if len(reply.body) >= REPLY_READ_BYTES:
                    break
    except (TimeoutError, httpx.TransportError):
        if reply.status is None:
            raise  # no answer at all; a reply cut short still has its status
    return reply


def _userinfo(url: str) -> list[str]:
    """ "user:password" of a URL with userinfo, the password alone, and the Basic credentials
    an HTTP client makes of them (base64); [] without userinfo."""
    netloc = urlsplit(url).netloc
    if "@" not in netloc:
        return []
    userinfo = unquote(netloc.rpartition("@")[0])
    password = userinfo.partition(":")[2]
    return [userinfo, password, base64.b64encode(userinfo.encode()).decode()]


def receiver_note(body: str, secrets: Iterable[str]) -> str | None:
    """The start of a receiver's error `body` (at most BODY_NOTE_LENGTH characters, whitespace
    collapsed, unprintable characters dropped, long token-like runs masked), "" for an empty
    body, or None when the body may quote a secret.

    The rule is deliberately blunt: every form of the body (as sent, and after decoding HTML
    entities, \\x / \\u / %u / 0x / octal escapes and URL encoding, repeatedly; and the bytes of
    any run of hex digits) is NFKC-normalised, lowercased and stripped to letters and digits; if
    any SECRET_PIECE_LENGTH-character piece of any of `secrets` (likewise stripped; as written,
    URL-decoded, without a URL's scheme, and base64-encoded at every alignment) appears in one of
    them, the body is dropped whole. That catches separators, zero-width characters, fullwidth
    letters, split or cut-off secrets, hex and base64 in chunks, at the price of dropping a reply
    that merely mentions the receiver's host: a status without a reply is still an answer."""
    pieces = _secret_pieces(secrets)
    note = TOKEN_LIKE.sub("…", " ".join(_printable(body).split()))[:BODY_NOTE_LENGTH]
    if _quotes(body, pieces) or _quotes(note, pieces):
        return None
    return note


def _printable(text: str) -> str:
    return "".join(char for char in text if char.isprintable() or char.isspace())


def _alphanumeric(text: str) -> str:
    return NOT_ALPHANUMERIC.sub("", unicodedata.normalize("NFKC", text).casefold())


def _secret_pieces(secrets: Iterable[str]) -> set[str]:
    pieces: set[str] = set()
    for secret in secrets:
        forms = {secret, unquote(secret), secret.partition("://")[2] or secret}
        for form in list(forms):
            forms.update(_base64_forms(form))
        for form in forms:
            letters = _alphanumeric(form)
            size = min(SECRET_PIECE_LENGTH, len(letters))
            pieces.update(letters[i : i + size] for i in range(len(letters) - size + 1) if size)
    return pieces


def _base64_forms(text: str) -> Iterator[str]:
    """`text` base64-encoded as it would appear inside a longer encoded value, at each of the
    three byte alignments (the characters that depend on the neighbours are left out)."""
    data = text.encode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        yield encoded[4 if offset else 0 : -4]


def _quotes(body: str, pieces: set[str]) -> bool:
    sizes = {len(piece) for piece in pieces}
    for form in _body_forms(body):
        for size in sizes:
            if any(form[i : i + size] in pieces for i in range(len(form) - size + 1)):
                return True
    return False


def _body_forms(body: str) -> Iterator[str]:
    """The body's letters and digits as sent and after each decoding round, and the bytes of
    each long run of hex digits in them (at both alignments), stripped the same way."""
    text = body
    for _ in range(DECODE_ROUNDS + 1):
        letters = _alphanumeric(text)
        yield letters
        for run in HEX_RUN.findall(letters):
            for start in (0, 1):
                digits = run[start:]
                yield _alphanumeric(bytes.fromhex(digits[: len(digits) // 2 * 2]).decode("latin-1"))
        decoded = html.unescape(text)
        decoded = ESCAPE.sub(_unescape, decoded)
        decoded = unquote(decoded)
        if decoded == text:
            return
        text = decoded


def _unescape(match: re.Match[str]) -> str:
    code = int(match.group(match.lastindex or 0), 8 if match.lastindex == OCTAL_GROUP else 16)
    return chr(code) if code <= sys.maxunicode else ""


def webhook_payload(delivery: Delivery) -> dict[str, Any]:
    alert = delivery.alert
    return {
        "event": delivery.event,
        "rule": alert.rule,
        "state": alert.state,
        "stage": alert.stage,
        "subject": alert.subject,
        "account": alert.account.name if alert.account is not None else None,
        "severity": alert.severity or None,  # a risk rule's: info, warning, critical
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
