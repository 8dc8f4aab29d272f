"""A Redis that hangs (here: paused with SIGSTOP; in life a full network buffer or a stuck host)
while the overview is asked for: every cache read gives up after settings.CACHE_SOCKET_TIMEOUT_S
(2 s; redis-py 8's own default is 5 s, and older versions waited for ever) and the page answers
with every figure it can read from the database.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillWaiting

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from dashboard.runtime.embedded import VAR_DIR, start_redis, stop_redis
from tests.test_pages_overview import OVERVIEW, signed_in
from tests.test_pages_queries import many_accounts

pytestmark = pytest.mark.django_db(transaction=True)

# How long the test lets the page take before it calls it hung: far above the two timed-out cache
# reads (CACHE_SOCKET_TIMEOUT_S each) the page makes; not a speed bound.
HUNG_AFTER_S = 60


@pytest.fixture
def own_cache() -> Iterator[int]:
    """The Django cache on a redis-server of this test's own; yields its pid."""
    socket = VAR_DIR / f"cache-hang-{os.getpid()}.sock"
    process = start_redis(socket)
    try:
        with override_settings(
            CACHES={"default": {**settings.CACHES["default"], "LOCATION": f"unix://{socket}"}}
        ):
            yield process.pid
    finally:
        os.kill(process.pid, signal.SIGCONT)
        stop_redis(process)
        socket.unlink(missing_ok=True)


def test_the_overview_answers_when_the_cache_hangs(client, own_cache):
    many_accounts(3)  # bulk-0000 … bulk-0002, 110.00 USD each
    signed_in(client, "viewer")
    # One thread serves both requests, as a web worker's does: Django's cache connections are per
    # thread, so the second request finds the first one's connection in its pool, and a paused
    # Redis answers nothing on it (a new connection redis-py would give up on by itself).
    with ThreadPoolExecutor(max_workers=1) as worker:
        assert worker.submit(client.get, OVERVIEW).result().status_code == 200
        os.kill(own_cache, signal.SIGSTOP)
        asked = worker.submit(client.get, OVERVIEW)
        try:
            response = asked.result(timeout=HUNG_AFTER_S)
        except StillWaiting:
            os.kill(own_cache, signal.SIGCONT)  # let the request end, so the test can
            pytest.fail("the overview hung on a paused Redis")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="total-equity">330.00 USD<' in html and html.count("data-account=") == 3
    # The PnL it could not read from the cache it works out itself (3 accounts: few enough).
    assert "computing" not in html


def test_the_cache_connections_give_up_after_the_configured_seconds(own_cache):
    client = caches["default"]._cache.get_client(write=False)
    assert client.connection_pool.connection_kwargs["socket_timeout"] == settings.CACHE_SOCKET_TIMEOUT_S
    assert (
        client.connection_pool.connection_kwargs["socket_connect_timeout"] == settings.CACHE_SOCKET_TIMEOUT_S
    )
