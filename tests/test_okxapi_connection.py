"""What the clients of one process share through their Connection: the server clock and the HTTP
session per host (one session per thread), and a derived connection with its own rate-limit wait."""

from __future__ import annotations

import threading

import pytest

from okxapi import ENDPOINT_LIMITS, Client, Connection, LocalLimiter
from okxapi.connection import SHARED_SESSION_HOSTS
from tests.okxapi_server import FakeOkx

BALANCE = "/api/v5/account/balance"
SECRET = "FAKE-SECRET-SENTINEL-c4a1"
PASSPHRASE = "FAKE-PASSPHRASE-SENTINEL-7d0e"


def _client(fake: FakeOkx, connection: Connection, n: int = 1) -> Client:
    return Client(
        f"fake-api-key-connection-000{n}", SECRET, PASSPHRASE, base_url=fake.url, connection=connection
    )


def test_clients_of_one_connection_share_the_clock_and_the_session_of_their_host():
    connection = Connection(LocalLimiter(), timeout=(1.0, 0.3))
    with FakeOkx() as fake:
        fake.clock_offset_ms = 90_000
        first, second = _client(fake, connection, 1), _client(fake, connection, 2)
        first.get_balance()
        second.get_balance()
        assert connection.session(fake.url) is connection.session(fake.url)
    assert len(fake.calls("/api/v5/public/time")) == 1
    assert second.clock_offset_ms == first.clock_offset_ms
    assert abs(second.clock_offset_ms - 90_000) < 2_000


def test_each_thread_has_its_own_session_and_close_ends_only_the_callers():
    connection = Connection(LocalLimiter())
    mine = connection.session("http://127.0.0.1:1")
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(connection.session("http://127.0.0.1:1")))
    worker.start()
    worker.join()
    assert theirs[0] is not mine
    connection.close()
    assert connection.session("http://127.0.0.1:1") is not mine


def test_the_least_recently_used_host_session_is_dropped_past_the_cap():
    connection = Connection(LocalLimiter())
    first = connection.session("http://127.0.0.1:1")
    for port in range(2, SHARED_SESSION_HOSTS + 2):
        connection.session(f"http://127.0.0.1:{port}")
    assert connection.session("http://127.0.0.1:1") is not first


def test_a_connection_with_another_rate_limit_wait_shares_everything_else():
    connection = Connection(LocalLimiter(), max_attempts=2)
    waiting_less = connection.with_rate_limit_timeout(2.5)
    assert (waiting_less.rate_limit_timeout, connection.rate_limit_timeout) == (2.5, 30.0)
    assert waiting_less.limiter is connection.limiter and waiting_less.max_attempts == 2
    assert waiting_less.clock("http://127.0.0.1:1") is connection.clock("http://127.0.0.1:1")
    assert waiting_less.session("http://127.0.0.1:1") is connection.session("http://127.0.0.1:1")


def test_the_published_table_is_the_default_and_a_table_can_be_given():
    assert Connection(LocalLimiter()).limits == ENDPOINT_LIMITS
    tight = {BALANCE: ENDPOINT_LIMITS[BALANCE]}
    assert Connection(LocalLimiter(), limits=tight).limits == tight
    with pytest.raises(TypeError):
        Connection(None)  # type: ignore[arg-type]
