"""OKX v5 request signing: pure functions, no I/O.

prehash = timestamp + METHOD + request path (with its query string) + body
signature = base64(HMAC-SHA256(secret, prehash))
The timestamp is ISO-8601 UTC with milliseconds and a Z suffix, and must equal the
OK-ACCESS-TIMESTAMP header. Callers sign exactly the bytes they send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime


def prehash(timestamp: str, method: str, request_path: str, body: str = "") -> str:
    return f"{timestamp}{method.upper()}{request_path}{body}"


def sign(secret_key: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    digest = hmac.new(
        secret_key.encode("utf-8"),
        prehash(timestamp, method, request_path, body).encode("utf-8"),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def format_timestamp(epoch_ms: int) -> str:
    """OKX's timestamp form: 2020-12-08T09:08:57.715Z."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_timestamp(value: str) -> int:
    """Epoch milliseconds from OKX's timestamp form; ValueError for anything else."""
    if len(value) != 24 or value[10] != "T" or value[19] != "." or not value.endswith("Z"):
        raise ValueError("not an ISO-8601 UTC timestamp with milliseconds")
    moment = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    millis = value[20:23]
    if not millis.isdigit():
        raise ValueError("milliseconds are not digits")
    return int(moment.timestamp()) * 1000 + int(millis)
