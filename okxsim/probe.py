"""Signed request headers for a scenario key: for tests, benchmarks and manual probing.
Not the product's client (that is okxapi.client); this only signs what it is given."""

from __future__ import annotations

import time

from okxapi.signing import format_timestamp, sign

from .scenario import Key


def signed_headers(
    key: Key,
    method: str,
    target: str,
    body: str = "",
    *,
    timestamp_ms: int | None = None,
    demo: bool | None = None,
) -> dict[str, str]:
    """OKX's four headers for `target` (path plus query exactly as it will be sent). The demo
    header follows the key's environment unless `demo` says otherwise."""
    ts = format_timestamp(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    headers = {
        "OK-ACCESS-KEY": key.api_key,
        "OK-ACCESS-PASSPHRASE": key.passphrase,
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-SIGN": sign(key.secret_key, ts, method, target, body),
    }
    if demo if demo is not None else key.env == "demo":
        headers["x-simulated-trading"] = "1"
    return headers
