"""OKX request authentication: the four headers, timestamp, environment, key, passphrase,
signature, freeze, IP whitelist, role and permission, checked in that order."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from okxapi.signing import parse_timestamp, sign

from .codes import ApiError
from .endpoints import Endpoint
from .exchange import Exchange, LiveKey

REQUIRED_HEADERS = (
    ("OK-ACCESS-KEY", "50103"),
    ("OK-ACCESS-PASSPHRASE", "50104"),
    ("OK-ACCESS-SIGN", "50106"),
    ("OK-ACCESS-TIMESTAMP", "50107"),
)


def authenticate(
    ex: Exchange,
    endpoint: Endpoint,
    headers: Mapping[str, str],
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
    _check_timestamp(ex, values["OK-ACCESS-TIMESTAMP"], window_s)
    live = ex.lookup(values["OK-ACCESS-KEY"])
    if live is None:
        raise ApiError("50119")
    key = live.key
    demo = headers.get("x-simulated-trading") == "1"
    if demo != (key.env == "demo"):
        raise ApiError("50101")
    if not hmac.compare_digest(values["OK-ACCESS-PASSPHRASE"].encode(), key.passphrase.encode()):
        raise ApiError("50105")
    expected = sign(key.secret_key, values["OK-ACCESS-TIMESTAMP"], method, raw_target, body)
    if not hmac.compare_digest(values["OK-ACCESS-SIGN"].encode(), expected.encode()):
        raise ApiError("50113")
    _check_key_state(ex, live, endpoint, client_ip)
    return live


def _check_timestamp(ex: Exchange, value: str, window_s: float) -> None:
    try:
        sent_ms = parse_timestamp(value)
    except ValueError:
        raise ApiError("50112") from None
    # Stale and far-future timestamps are both refused; OKX documents only "expired".
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
