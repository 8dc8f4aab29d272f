"""What one HTTP exchange with OKX turns into: the data rows, or an OkxError with its diagnosis.

Kept apart from the Client so that the rules "HTTP status not 2xx OR code not '0' is an error"
and "a body that is not JSON is an error with its own diagnosis" live in one small place.
"""

from __future__ import annotations

import json
import logging
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from okxapi import ratelimit
from okxapi.errors import MalformedResponse, OkxError, ResponseNotJson, ResponseTooLarge, diagnose, error_for
from okxapi.validation import shown

logger = logging.getLogger(__name__)

MAX_TRANSPORT_MESSAGE = 300
# The most of an answer's body the client reads (after content decoding, so a compressed bomb is
# capped too). OKX's largest documented answers (a page of 100 positions or bills) are well under
# 1 MB; anything beyond this is not OKX and is refused without being read to its end.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
_READ_CHUNK = 64 * 1024


class InvalidCredential(ValueError):
    """A credential has the wrong shape; the message names the field, never the value."""


def clean_credential(name: str, value: object) -> str:
    """The credential without surrounding whitespace; refused if empty or oddly shaped."""
    if not isinstance(value, str):
        raise InvalidCredential(f"the {name} must be text")
    value = value.strip()
    if not value:
        raise InvalidCredential(f"the {name} is empty")
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        raise InvalidCredential(
            f"the {name} contains whitespace or control characters inside it; copy it again "
            "from OKX (the value is not shown here)"
        )
    if not value.isascii():
        raise InvalidCredential(
            f"the {name} contains non-ASCII characters, which OKX credentials never do; copy it "
            "again from OKX (the value is not shown here)"
        )
    return value


@dataclass(frozen=True)
class Reply:
    """A successful exchange: OKX's data rows and when the request went out (for clock math)."""

    data: list[Any]
    http_status: int
    sent_at: float  # wall-clock seconds when the request was sent
    round_trip: float  # seconds, measured on the monotonic clock


def build_error(
    endpoint: str,
    *,
    http_status: int | None = None,
    code: str | None = None,
    message: str = "",
    exception: BaseException | None = None,
    retry_after: float | None = None,
) -> OkxError:
    diagnosis = diagnose(code, http_status=http_status, message=message, exception=exception)
    return error_for(diagnosis)(
        endpoint,
        http_status=http_status,
        code=code,
        message=message,
        diagnosis=diagnosis,
        retry_after=retry_after,
    )


def transport_error(endpoint: str, exception: requests.RequestException) -> OkxError:
    """An OkxError for a failed exchange; the requests exception is not chained, because it
    holds the prepared request and with it the signed headers (passphrase included)."""
    text = f"{type(exception).__name__}: {exception}"[:MAX_TRANSPORT_MESSAGE]
    return build_error(endpoint, message=text, exception=exception)


def interpret(endpoint: str, response: requests.Response, sent_at: float, round_trip: float) -> Reply:
    """Reply for a 2xx with code "0" whose `data` is an array (OKX: "data" is always an array,
    okx-reference.md 2.0); MalformedResponse for a success without one; otherwise raise the
    diagnosed OkxError. The rows themselves are checked by the endpoint's parser (client.py)."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    try:
        payload = decode_envelope(response.content)
    except ResponseNotJson as exc:
        ratelimit.settle(endpoint, None)
        failure = build_error(endpoint, http_status=status, exception=exc, retry_after=retry_after)
    else:
        raw_code = payload.get("code")
        code = None if raw_code is None else str(raw_code)
        ratelimit.settle(endpoint, code)  # the limiter learns the delay, and from a 50011
        data = payload.get("data")
        if 200 <= status < 300 and code == "0":
            if isinstance(data, list):
                return Reply(data, status, sent_at, round_trip)
            value = shown(data) if "data" in payload else "(absent)"
            raise MalformedResponse.of(endpoint, status, "data", value, "not an array of objects")
        message = str(payload.get("msg", ""))
        failure = build_error(
            endpoint, http_status=status, code=code, message=message, retry_after=retry_after
        )
    raise failure


def decode_envelope(content: bytes) -> dict[str, Any]:
    """The JSON object OKX answers with; ResponseNotJson (naming the kind) for anything else."""
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        raise ResponseNotJson("empty")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python recurses
        raise ResponseNotJson(_kind_of(text)) from None
    if not isinstance(payload, dict):
        raise ResponseNotJson("other")
    return payload


def _kind_of(text: str) -> str:
    if text.startswith("<"):
        return "html"
    if text.startswith(("{", "[")):
        return "truncated"
    return "other"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(tz=UTC)).total_seconds())


def send(
    session: requests.Session,
    prepared: requests.PreparedRequest,
    timeout: tuple[float, float],
    endpoint: str,
    *,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> tuple[requests.Response, float, float]:
    """Send one prepared request; (response with its body read, wall-clock send time, round trip
    seconds). Raises the diagnosed OkxError for a failed exchange, and for a body larger than
    `max_bytes` (a MalformedResponse; at most `max_bytes` of it is read).

    Redirects are not followed: a redirect would carry the signed headers to another host.
    """
    settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
    settings["stream"] = True  # the body is read below, chunk by chunk, up to the cap
    sent_at = time.time()
    started = time.monotonic()
    failure: OkxError | None = None
    try:
        response = session.send(prepared, timeout=timeout, allow_redirects=False, **settings)
        ratelimit.note_answer(endpoint)  # the headers are in: the grant -> answer delay
        try:
            response._content = read_body(response, max_bytes)  # what response.content returns
        finally:
            response.close()  # back to the pool when read to the end; dropped when cut off
    except requests.RequestException as exc:
        failure = transport_error(endpoint, exc)
    except ResponseTooLarge as exc:
        failure = build_error(endpoint, http_status=response.status_code, message=str(exc), exception=exc)
    if failure is not None:
        # Raised outside the except block so the requests exception is not even __context__.
        raise failure
    return response, sent_at, time.monotonic() - started


def read_body(response: requests.Response, max_bytes: int) -> bytes:
    """The decoded body of a streamed response; ResponseTooLarge as soon as it would pass
    `max_bytes` (a larger Content-Length is refused before reading anything)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:  # not '²'
        raise ResponseTooLarge(max_bytes, int(declared))
    body = bytearray()
    for chunk in response.iter_content(_READ_CHUNK):
        if len(body) + len(chunk) > max_bytes:
            raise ResponseTooLarge(max_bytes)
        body += chunk
    return bytes(body)
