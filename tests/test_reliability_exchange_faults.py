"""Exchange faults mixed at 20%: every kind of failure OKX (or what stands in front of it) can
produce, on every path, while other accounts on a healthy exchange refresh beside them.

Two simulators serve the same generated exchange: the faulty one hits each call with one of eight
faults (20% in all), the healthy one never fails. The simulator counts the calls each fault hit
(`fault_hits`), so the error history can be compared with what really happened, kind by kind.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from django.db import connection

from accounts.history import ApiError
from accounts.jobs import JobOutcome
from accounts.models import Account
from okxsim import Scenario
from snapshots.models import Snapshot
from snapshots.refresh import refresh_account
from tests.workers_support import add_account, frozen

FAULT_SHARE = 0.20
CYCLES = 6
MAX_CYCLES = 40
STALL_SECONDS = 30
TRUNCATED = '{"code":"0","msg":"","data":[{"totalEq":"12'


@dataclass(frozen=True)
class Kind:
    """One fault as injected, and the history row it must become."""

    name: str
    fault: dict
    code: str
    http_status: int | type | None  # `object` = whatever OKX's table says for the code
    category: str


KINDS = [
    Kind("50001", {"code": "50001"}, "50001", object, "exchange_busy"),
    Kind("50004", {"code": "50004"}, "50004", object, "timeout"),
    Kind("50013", {"code": "50013"}, "50013", object, "exchange_busy"),
    Kind("50026", {"code": "50026"}, "50026", object, "exchange_busy"),
    Kind(
        "502 html",
        {"http_status": 502, "body": "<html><body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>"},
        "",
        502,
        "exchange_busy",
    ),
    Kind(
        "truncated",
        {"http_status": 200, "body": '{"code":"0","msg":"","data":[{"totalEq":"12'},
        "",
        200,
        "network",
    ),
    Kind("reset", {"drop": True}, "", None, "network"),
    Kind("stall", {"delay": STALL_SECONDS}, "", None, "timeout"),
]


def per_fault_probability(n: int, share: float = FAULT_SHARE) -> float:
    """Faults are tried in order, each with this probability: together they hit `share` of calls."""
    return 1 - (1 - share) ** (1 / n)


def refresh_everyone(accounts: list[Account], cycle: int) -> list[JobOutcome]:
    def one(account: Account) -> JobOutcome:
        try:
            return refresh_account(account.pk, cycle)
        finally:
            connection.close()  # each pool thread has its own connection

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, accounts))


def recorded(kind: Kind, accounts: list[Account]) -> int:
    rows = ApiError.objects.filter(account__in=accounts, code=kind.code, category=kind.category)
    if kind.http_status is not object:
        rows = rows.filter(http_status=kind.http_status)
    return sum(rows.values_list("count", flat=True))


@pytest.mark.django_db(transaction=True)
def test_every_fault_at_20_percent_is_diagnosed_and_healthy_accounts_refresh_untouched(
    make_simulator, settings
):
    settings.OKX_READ_TIMEOUT_SECONDS = 1  # the stall (30 s) must end at the client's read timeout
    scenario = frozen(Scenario.generate(n_subaccounts=14, own_keys=True))
    faulty_sim, healthy_sim = make_simulator(scenario), make_simulator(scenario)
    for kind in KINDS:
        faulty_sim.inject_fault("*", times=None, probability=per_fault_probability(len(KINDS)), **kind.fault)
    master = add_account(healthy_sim, "master")
    subs = [a.name for a in scenario.subaccounts]
    faulty = [add_account(faulty_sim, name, master=master) for name in subs[:10]]
    healthy = [master, *(add_account(healthy_sim, name, master=master) for name in subs[10:])]

    # The client cures most faults by retrying within the call, so a whole refresh fails in about
    # 1 of 90: after CYCLES cycles, go on (at most MAX_CYCLES) until one has failed, so the
    # assertions below always see both kinds of outcome.
    outcomes: list[JobOutcome] = []
    cycle = 0
    while cycle < CYCLES or (cycle < MAX_CYCLES and not any(o.status == "failed" for o in outcomes)):
        cycle += 1
        outcomes += refresh_everyone([*faulty, *healthy], cycle)

    # Nothing crashed: every refresh came back with an outcome, and every failure is one a retry
    # can cure (the Celery task retries exactly these).
    statuses = Counter(o.status for o in outcomes)
    assert sum(statuses.values()) == cycle * (len(faulty) + len(healthy))
    assert all(o.transient for o in outcomes if o.status == "failed")
    assert statuses["ok"] > 0 and statuses["failed"] > 0

    # Every fault the exchange served is in the history, under its own category, once per hit.
    hits = faulty_sim.fault_hits()
    print(
        f"\nfault mix figures: {dict(statuses)} refreshes; hits "
        + ", ".join(f"{kind.name} {hits.get(i, 0)}" for i, kind in enumerate(KINDS))
    )
    for index, kind in enumerate(KINDS):
        assert hits.get(index, 0) > 0, f"the mix never produced {kind.name}; the test proves nothing for it"
        assert recorded(kind, faulty) == hits[index], kind.name
    assert sum(ApiError.objects.values_list("count", flat=True)) == sum(hits.values())

    # Healthy accounts: a snapshot every cycle, no error, key healthy.
    for account in healthy:
        assert sorted(Snapshot.objects.filter(account=account).values_list("cycle", flat=True)) == list(
            range(1, CYCLES + 1)
        ), account.name
        credential = account.active_credential()
        assert credential.health_status in ("", "ok") and credential.last_success_at is not None
    assert not ApiError.objects.filter(account__in=healthy).exists()
    assert healthy_sim.total_rejected() == faulty_sim.total_rejected() == 0


@pytest.mark.django_db(transaction=True)
def test_a_stalled_exchange_ends_at_the_configured_read_timeout_as_a_timeout_error(make_simulator, settings):
    settings.OKX_READ_TIMEOUT_SECONDS = 1
    sim = make_simulator(frozen())
    account = add_account(sim, "main")
    sim.inject_fault("/api/v5/account/balance", delay=STALL_SECONDS, times=None)

    outcome = refresh_account(account.pk, cycle=1)

    assert (outcome.status, outcome.category, outcome.transient) == ("failed", "timeout", True)
    row = ApiError.objects.get(endpoint="/api/v5/account/balance")
    assert (row.category, row.code, row.http_status) == ("timeout", "", None)
    assert "ReadTimeout" in row.message
    assert row.count == 3  # the client's three attempts, each ended by the read timeout
    assert not Snapshot.objects.exists()
