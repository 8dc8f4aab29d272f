"""What one refresh costs: a fixed number of SQL queries, whatever the number of calls, and no
new connection to OKX once the process has one to the host.

Found by bench/refresh.py: each own-key refresh looked its credential up three times and wrote
last_success_at (plus a health SELECT) after every one of its three calls, ~16 queries beside its
~240 ms of waiting on OKX. The counts below are what a user's database sees per account per cycle.
"""

from __future__ import annotations

from datetime import timedelta

import psutil
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.health import HealthStatus
from accounts.models import Credential
from okxapi import Client, Connection, LocalLimiter
from snapshots.models import Snapshot
from snapshots.refresh import refresh_account
from tests.okxapi_server import EMPTY_BALANCE, FakeOkx, reply
from tests.workers_support import add_account, frozen

pytestmark = pytest.mark.django_db

BALANCE = "/api/v5/account/balance"

# The account; "already stored?"; the credential; the end of acknowledgements of the endpoints
# that answered (one DELETE); last_success_at; the grace/failing check; the snapshot's
# transaction (savepoint, the re-check, snapshot, balance lines, positions, release). Its
# positions history with nothing new costs one: is the newest position its cursor says was read
# stored (snapshots.history)?
OWN_KEY_QUERIES = 13
# A positions-history page with new rows: its transaction (savepoint, which are stored, the
# insert, release).
NEW_HISTORY_QUERIES = 4


def _queries_of_refresh(account_id: int, cycle: int) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        outcome = refresh_account(account_id, cycle=cycle)
    assert outcome.status == "ok", outcome
    return [query["sql"] for query in captured.captured_queries]


def _credential_reads(queries: list[str]) -> list[str]:
    return [q for q in queries if q.startswith("SELECT") and 'FROM "accounts_credential"' in q]


@pytest.fixture
def sim(make_simulator):
    return make_simulator(frozen())


@pytest.fixture
def team(sim):
    master = add_account(sim, "main")
    own = add_account(sim, "alpha-desk", master=master)
    keyless = add_account(sim, "delta-nokey", master=master, keyless=True)
    refresh_account(master.pk, cycle=1)  # the process learns OKX's clock once (not SQL)
    refresh_account(own.pk, cycle=0)  # and stores its closed positions (the demo has one)
    return master, own, keyless


def test_an_own_key_refresh_runs_a_fixed_number_of_queries_and_reads_its_key_once(team):
    _, own, _ = team

    queries = _queries_of_refresh(own.pk, cycle=1)

    assert len(queries) == OWN_KEY_QUERIES, "\n".join(queries)
    assert len(_credential_reads(queries)) == 2  # the key, then its grace/failing check
    writes = [q for q in queries if q.startswith('UPDATE "accounts_credential"')]
    assert len(writes) == 1  # last_success_at once per refresh, not once per call
    assert Snapshot.objects.filter(account=own, cycle=1).count() == 1


def test_new_closed_positions_cost_one_transaction_of_their_own(sim, team):
    _, own, _ = team
    sim.close_position("alpha-desk", "BTC-USD-SWAP")

    queries = _queries_of_refresh(own.pk, cycle=1)

    assert len(queries) == OWN_KEY_QUERIES + NEW_HISTORY_QUERIES, "\n".join(queries)
    assert sum(q.startswith("INSERT") and 'INTO "snapshots_closedposition"' in q for q in queries) == 1


def test_a_keyless_refresh_reads_the_master_key_once(team):
    _, _, keyless = team

    queries = _queries_of_refresh(keyless.pk, cycle=1)

    # Its own (absent) key and its master's; the same write-once rule.
    assert len(_credential_reads(queries)) == 3
    assert sum(q.startswith('UPDATE "accounts_credential"') for q in queries) == 1


def test_successes_noted_once_still_come_before_a_later_failure(sim, team):
    """Successes are written once per refresh, but never after a failure that followed them:
    a failing key whose balances are read and whose positions then fail is in grace (the calls
    worked, then one did not), not still failing, and not ok."""
    _, own, _ = team
    long_ago = timezone.now() - timedelta(hours=2)
    Credential.objects.filter(account=own).update(health_status=HealthStatus.FAILING, failing_since=long_ago)
    sim.inject_fault("/api/v5/account/positions", code="50013", times=None)  # balances pass first

    started = timezone.now()
    assert refresh_account(own.pk, cycle=1).status == "failed"

    key = own.active_credential()
    assert key.health_status == HealthStatus.GRACE
    assert started <= key.last_success_at <= key.failing_since


def _open_connections_to(port: int) -> set[int]:
    """Local ports of this process's established TCP connections to `port`."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


def test_refreshes_in_one_process_reuse_one_kept_alive_connection(sim, team):
    """Real OKX is TLS: a new session per refresh paid a TCP and TLS handshake every time."""
    master, own, keyless = team
    port = int(sim.url.rsplit(":", 1)[1])
    first = _open_connections_to(port)

    for account in (own, keyless, master):
        assert refresh_account(account.pk, cycle=2).status == "ok"
        assert _open_connections_to(port) == first

    assert len(first) == 1


def _shared_session_client(fake: FakeOkx, n: int, connection: Connection) -> Client:
    key = f"fake-api-key-cookie-000{n}"
    return Client(key, "fake-secret", "fake-pass", base_url=fake.url, connection=connection)


def test_a_shared_session_sends_no_cookie_one_answer_set_with_another_keys_request():
    """Clients of several keys share one session per host and thread: nothing OKX sets for one
    key's request may travel with the next request, of that key or another."""
    with FakeOkx() as fake:
        cookie = {"Set-Cookie": "fake_visitor=fake-cookie-0001; Path=/"}
        fake.script(BALANCE, reply(200, {"code": "0", "msg": "", "data": [EMPTY_BALANCE]}, headers=cookie))
        connection = Connection(LocalLimiter())
        first, second = (
            _shared_session_client(fake, 1, connection),
            _shared_session_client(fake, 2, connection),
        )
        first.get_balance()  # answered with the cookie
        first.get_balance()
        second.get_balance()

    assert [call.headers.get("Cookie") for call in fake.calls(BALANCE)] == [None, None, None]
