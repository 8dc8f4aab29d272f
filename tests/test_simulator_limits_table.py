"""The simulator's rate-limit table and the client's are written apart, each from OKX's docs,
so that a mistake in one is not mirrored by the other. Here they must agree row for row: any
difference fails and is printed, to be checked against the docs instead of hidden."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from okxapi import ENDPOINT_LIMITS
from okxsim.endpoints import ENDPOINTS
from okxsim.ratelimit import LIMITS, Limit, Rule

# Served for other readers only (ccxt's load_markets reads the first; funding bills are served
# as OKX books them, for tests): the product's client never calls them, so it has no limit to
# compare.
THIRD_PARTY_ONLY = {"/api/v5/asset/currencies", "/api/v5/asset/bills"}

# The docs' rule names in the client's terms (okxapi.ratelimit.Rule values). "IP + Instrument
# Type" is one window per IP for a client that reads a single instType (SPOT: snapshots/precision).
CLIENT_RULE = {Rule.USER_ID: "uid", Rule.IP: "ip", Rule.IP_AND_INSTRUMENT_TYPE: "ip"}


def differences(client: Mapping[str, Any], simulator: Mapping[str, Limit]) -> list[str]:
    """One line per disagreement: an endpoint only one side limits, or a different request
    count, window length (seconds) or counting rule. The client's rows are read by duck typing
    (count, seconds, rule) so that this test imports no limit type from it."""
    found = []
    for path in sorted(client.keys() | simulator.keys()):
        if path not in simulator:
            found.append(f"{path}: the client limits it, the simulator has no row")
        elif path not in client:
            if path not in THIRD_PARTY_ONLY:
                found.append(f"{path}: the simulator limits it, the client has no row")
        else:
            found.extend(_row_differences(path, client[path], simulator[path]))
    for path in sorted(THIRD_PARTY_ONLY & client.keys()):
        found.append(f"{path}: the client now calls it; remove it from THIRD_PARTY_ONLY")
    return found


def _row_differences(path: str, mine: Any, theirs: Limit) -> list[str]:
    found = []
    if mine.count != theirs.requests:
        found.append(f"{path}: client {mine.count} requests, simulator {theirs.requests}")
    if float(mine.seconds) != float(theirs.seconds):
        found.append(f"{path}: client window {mine.seconds} s, simulator {theirs.seconds} s")
    if str(mine.rule) != CLIENT_RULE.get(theirs.rule):
        found.append(f"{path}: client counts per {mine.rule}, simulator per {theirs.rule!s}")
    return found


def test_the_simulator_and_the_client_publish_the_same_limits():
    found = differences(ENDPOINT_LIMITS, LIMITS)
    assert not found, "rate-limit tables disagree (check each against OKX's docs):\n" + "\n".join(found)


def test_every_served_endpoint_has_exactly_one_limit():
    assert set(LIMITS) == set(ENDPOINTS)


def test_private_endpoints_count_per_user_id_and_public_ones_per_ip():
    for path, endpoint in ENDPOINTS.items():
        assert (LIMITS[path].rule is Rule.USER_ID) == endpoint.private, path


def test_the_comparison_reports_every_kind_of_difference():
    client = dict(ENDPOINT_LIMITS)
    simulator = dict(LIMITS)
    balance, config = "/api/v5/account/balance", "/api/v5/account/config"
    simulator[balance] = Limit(9, 1, Rule.IP)
    del simulator[config]
    simulator["/api/v5/account/bills-history-archive"] = Limit(10, 2, Rule.USER_ID)
    assert differences(client, simulator) == [
        f"{balance}: client 10 requests, simulator 9",
        f"{balance}: client window 2 s, simulator 1 s",
        f"{balance}: client counts per uid, simulator per IP",
        "/api/v5/account/bills-history-archive: the simulator limits it, the client has no row",
        f"{config}: the client limits it, the simulator has no row",
    ]
