"""OKX's published REST rate limits for the endpoints this product reads (okx-reference.md 2.1).

One table serves both sides: the client's limiter (with a safety margin) and the simulator
(exactly as published). Private endpoints are limited per User ID, public ones per IP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Rule(StrEnum):
    UID = "uid"
    IP = "ip"


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float
    rule: Rule


ENDPOINT_LIMITS: dict[str, Limit] = {
    "/api/v5/public/time": Limit(10, 2, Rule.IP),
    "/api/v5/account/balance": Limit(10, 2, Rule.UID),
    "/api/v5/account/positions": Limit(10, 2, Rule.UID),
    "/api/v5/account/config": Limit(5, 2, Rule.UID),
    "/api/v5/asset/balances": Limit(6, 1, Rule.UID),
    "/api/v5/asset/asset-valuation": Limit(1, 1, Rule.UID),
    # 20/2 s since the 2025-11 docs (was 2/2 s); ccxt and OKX.Net still encode the old figure.
    "/api/v5/users/subaccount/list": Limit(20, 2, Rule.UID),
    "/api/v5/account/subaccount/balances": Limit(6, 2, Rule.UID),
    "/api/v5/asset/subaccount/balances": Limit(6, 2, Rule.UID),
    "/api/v5/users/subaccount/apikey": Limit(20, 2, Rule.UID),
    "/api/v5/trade/account-rate-limit": Limit(1, 1, Rule.UID),
}


def limit_for(path: str) -> Limit:
    """The limit of a request path (query string ignored); KeyError for an unknown endpoint."""
    return ENDPOINT_LIMITS[path.split("?", 1)[0]]
