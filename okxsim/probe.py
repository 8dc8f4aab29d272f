"""Signed request headers for a scenario key: for tests, benchmarks and manual probing.
Not the product's client (that is okxapi.client) and none of its code: this signs with okxsim's
own signature module, so a request the simulator accepts is one OKX's documented rule accepts."""

from __future__ import annotations

import time

from .scenario import Key
from .signature import (
    ACCESS_KEY,
    ACCESS_PASSPHRASE,
    ACCESS_SIGN,
    ACCESS_TIMESTAMP,
    DEMO_TRADING,
    signature,
    timestamp_text,
)


def signed_headers(
    key: Key,
    method: str,
    target: str,
    body: str = "",
    *,
    timestamp_ms: int | None = None,
    demo: bool | None = None,
) -> dict[str, str]:
    """OKX's four headers for `target` (path plus query exactly as it will be sent), timestamped
    now or at `timestamp_ms` (epoch ms). The demo header follows the key's environment unless
    `demo` says otherwise."""
    stamp = timestamp_text(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    headers = {
        ACCESS_KEY: key.api_key,
        ACCESS_PASSPHRASE: key.passphrase,
        ACCESS_TIMESTAMP: stamp,
        ACCESS_SIGN: signature(key.secret_key, stamp, method, target, body),
    }
    if demo if demo is not None else key.env == "demo":
        headers[DEMO_TRADING] = "1"
    return headers
