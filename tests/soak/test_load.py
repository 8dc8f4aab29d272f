"""Load: 50 signed-in users browse the overview, its polled fragment and account pages for 2
minutes against gunicorn (the production web server, as the Procfile runs it), while real Celery
workers and beat refresh 100 accounts every 10 s against the simulator with its rate limits on.

Why not locust: it is not a dependency, and what it would add (a UI, distributed runners) is not
needed for 50 users on one machine; 50 threads with one requests.Session each make the same
requests (keep-alive, cookies) and time each response end to end.

Promises: no error, zero 50011 from the exchange, and the workers keep refreshing under the load.
The latency figures are printed, not asserted: speed belongs in benchmarks (the team's rule), and
the pages' p95 under load is issue 22's bar (docs/reliability.md has the last figures)."""

from __future__ import annotations

import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.test import Client

from dashboard.runtime.launcher import spawn, stop
from okxsim import Scenario
from snapshots.models import Snapshot
from tests.accounts_support import make_user
from tests.soak.test_redis_outage import start_beat
from tests.test_workers_celery import wait_until, worker_env
from tests.workers_support import add_account, frozen

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]

USERS = 50
ACCOUNTS = 100
SECONDS = 120
INTERVAL = 10
THINK_SECONDS = (4.0, 12.0)  # how long a person reads a page before the next click
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session_cookie() -> str:
    client = Client()
    client.force_login(make_user("viewer"), backend=MODEL_BACKEND)
    return client.cookies["sessionid"].value


def browse(base: str, cookie: str, account_ids: list[int], until: float, timings: list, errors: list) -> None:
    """One person: the overview (its script polls the fragment every refresh interval while it is
    open), then an account page, reading each for a few seconds, until the time is up."""
    session = requests.Session()
    session.cookies.set("sessionid", cookie)
    rng = random.Random(cookie)
    time.sleep(rng.uniform(0, THINK_SECONDS[1]))  # people do not all arrive in the same second
    while time.monotonic() < until:
        get(session, base + "/", timings, errors)
        for _ in range(rng.randint(0, 2)):
            time.sleep(INTERVAL)
            get(session, base + "/overview/fragment/", timings, errors)
        time.sleep(rng.uniform(*THINK_SECONDS))
        get(session, base + f"/accounts/{rng.choice(account_ids)}/", timings, errors)
        time.sleep(rng.uniform(*THINK_SECONDS))


def get(session: requests.Session, url: str, timings: list, errors: list) -> None:
    started = time.monotonic()
    try:
        status: int | str = session.get(url, timeout=30, allow_redirects=False).status_code
    except requests.RequestException as exc:
        status = type(exc).__name__
    timings.append((page_kind(url), time.monotonic() - started))
    if status != 200:
        errors.append(f"{url}: {status}")


def test_fifty_users_browse_while_workers_refresh_a_hundred_accounts(
    make_simulator, workers, redis_url, tmp_path
):
    sim = make_simulator(frozen(Scenario.generate(n_subaccounts=ACCOUNTS - 1, own_keys=True)))
    master = add_account(sim, "master")
    accounts = [master, *(add_account(sim, a.name, master=master) for a in sim.scenario.subaccounts)]
    env = {"REFRESH_INTERVAL_SECONDS": str(INTERVAL)}
    workers(2, "celery", concurrency=2, **env)
    beat = start_beat(worker_env(redis_url, **env), tmp_path / "beat-schedule")
    port = free_port()
    web_args = [GUNICORN, "dashboard.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "4"]
    web = spawn(web_args, worker_env(redis_url, **env))
    base = f"http://127.0.0.1:{port}"
    timings: list[float] = []
    errors: list[str] = []
    try:
        wait_until(lambda: Snapshot.objects.values("account").distinct().count() == ACCOUNTS, "a first cycle")
        wait_until(lambda: _answers(base), "gunicorn")
        cookies = [session_cookie() for _ in range(USERS)]
        ids = [a.pk for a in accounts]
        alone: list = []  # one user first: what a page costs without the crowd
        quiet = requests.Session()
        quiet.cookies.set("sessionid", cookies[0])
        for _ in range(5):
            for url in ("/", "/overview/fragment/", f"/accounts/{ids[0]}/"):
                get(quiet, base + url, alone, errors)
        until = time.monotonic() + SECONDS
        threads = [
            threading.Thread(target=browse, args=(base, c, ids, until, timings, errors)) for c in cookies
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cycles = Snapshot.objects.values("cycle").distinct().count()
    finally:
        stop([web, beat])

    seconds = [t for _, t in timings]
    p95 = statistics.quantiles(seconds, n=20)[-1]
    print(
        f"\nload figures: {len(seconds)} requests by {USERS} users in {SECONDS} s; "
        f"median {statistics.median(seconds) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms; median/p95 ms by page: {by_page(timings)}; "
        f"one user alone: {by_page(alone)}; {len(errors)} errors; {cycles} refresh cycles stored; "
        f"50011 from the exchange: {sim.total_rejected()}"
    )
    assert not errors, errors[:10]
    assert sim.total_rejected() == 0
    assert cycles >= SECONDS // INTERVAL - 2  # the workers kept refreshing under the load


def page_kind(url: str) -> str:
    path = url.split("/", 3)[3]
    return "fragment" if path.startswith("overview") else "account" if path else "overview"


def by_page(timings: list) -> str:
    """Median and p95 in ms per page kind."""
    kinds: dict[str, list[float]] = {}
    for kind, seconds in timings:
        kinds.setdefault(kind, []).append(seconds * 1000)
    return ", ".join(
        f"{kind} {statistics.median(v):.0f}/{statistics.quantiles(v, n=20)[-1]:.0f}"
        for kind, v in kinds.items()
    )


def _answers(base: str) -> bool:
    try:
        return requests.get(base + "/login/", timeout=2).status_code == 200
    except requests.RequestException:
        return False
