"""OKX request authentication: the four headers, timestamp, environment, key, passphrase,
signature, freeze, IP whitelist, role and permission, checked in that order.

The signature and timestamp rules are okxsim's own (signature.py), written from OKX's docs."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from email.message import Message

from .codes import ApiError
from .endpoints import Endpoint
from .exchange import Exchange, LiveKey
from .signature import (
    ACCESS_KEY,
    ACCESS_PASSPHRASE,
    ACCESS_SIGN,
    ACCESS_TIMESTAMP,
    DEMO_TRADING,
    signature_matches,
    timestamp_ms,
)

# A plain mapping (tests) or the HTTP server's header block; both are read with .get().
Headers = Mapping[str, str] | Message

# Each header's "cannot be empty" code, in the order OKX reports them (okx-reference.md 3.1).
REQUIRED_HEADERS = (
    (ACCESS_KEY, "50103"),
    (ACCESS_PASSPHRASE, "50104"),
    (ACCESS_SIGN, "50106"),
    (ACCESS_TIMESTAMP, "50107"),
)


def authenticate(
    ex: Exchange,
    endpoint: Endpoint,
    headers: Headers,
    method: str,
    raw_target: str,
    body: str,
    client_ip: str,
    window_s: float,
) -> LiveKey:
    """The calling key, or ApiError. raw_target is the path and query exactly as received:
    the signature covers those bytes, so a client that signs one encoding and sends another fails."""
    values = {}
    for name, code in REQUIRED_HEADERS:
        values[name] = headers.get(name) or ""
        if not values[name]:
            raise ApiError(code)
    _check_timestamp(ex, values[ACCESS_TIMESTAMP], window_s)
    live = ex.lookup(values[ACCESS_KEY])
    if live is None:
        raise ApiError("50119")
    key = live.key
    demo = headers.get(DEMO_TRADING) == "1"
    if demo != (key.env == "demo"):
        raise ApiError("50101")
    if not hmac.compare_digest(values[ACCESS_PASSPHRASE].encode(), key.passphrase.encode()):
        raise ApiError("50105")
    stamp = values[ACCESS_TIMESTAMP]
    if not signature_matches(values[ACCESS_SIGN], key.secret_key, stamp, method, raw_target, body):
        raise ApiError("50113")
    _check_key_state(ex, live, endpoint, client_ip)
    return live


def _check_timestamp(ex: Exchange, value: str, window_s: float) -> None:
    try:
        sent_ms = timestamp_ms(value)
    except ValueError:
        raise ApiError("50112") from None
    # Stale and far-future timestamps are both refused; OKX documents only "expired". The 30 s
    # default window is OKX's WebSocket-login figure ("The request will expire 30 seconds after
    # the timestamp", docs-v5/en/#overview-websocket-login); the REST text states no number.
    if abs(ex.clock.server_ms() - sent_ms) > window_s * 1000:
        raise ApiError("50102")


def _check_key_state(ex: Exchange, live: LiveKey, endpoint: Endpoint, client_ip: str) -> None:
    key = live.key
    if key.frozen:
        raise ApiError("50100")
    allowed = [ip.strip() for ip in key.ip.split(",") if ip.strip()]
    if allowed and client_ip not in allowed:
        raise ApiError("50110", client_ip)
    # The signature checked out: from here on the call counts as use of the key, even if refused.
    ex.mark_used(live)
    if endpoint.master_only and not ex.accounts[key.uid].is_master:
        raise ApiError("59500")
    if endpoint.perm is not None and endpoint.perm not in key.perm.split(","):
        raise ApiError("50120")
