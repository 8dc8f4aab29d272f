from __future__ import annotations

import contextlib
import os

import pytest
import redis as redis_lib


def pytest_report_header(config) -> list[str]:
    """Say which real services this run uses (CI runs the suite once embedded, once on servers)."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    redis_url = os.environ.get("REDIS_URL", "(unset)")
    return [f"database: {engine}", f"redis: {redis_url}"]


@pytest.fixture
def redis_url() -> str:
    """The Redis the suite runs against: the launcher's embedded server or REDIS_URL."""
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is unset: run the suite with `make test` (it starts the embedded Redis)")
    return url


@pytest.fixture
def redis_client(redis_url: str) -> redis_lib.Redis:
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty Django cache: database ids are reused after a rolled-back
    test, so a cached chart series of one test's account 1 must not show in the next test's."""
    from django.core.cache import cache

    with contextlib.suppress(redis_lib.RedisError):  # without a reachable Redis there is no cache
        cache.clear()
    yield


# -- Two-factor authentication (accounts/mfa) ------------------------------------------
@pytest.fixture(autouse=True)
def _force_login_includes_the_second_factor(monkeypatch):
    """force_login stands for a full sign-in, second factor included; the 2FA tests sign in through
    the real pages. After Client.force_login or Client.login of a user with an authenticator app,
    the session is OTP-verified with it (as django_otp.login leaves it) and no code step is due."""
    from django.test import Client

    original = Client._login

    def login_with_second_factor(self, user, backend=None):
        from django_otp import DEVICE_ID_SESSION_KEY

        from accounts.mfa.devices import CODE_STEP_DUE
        from tests.accounts_support import authenticator_of

        original(self, user, backend)
        device = authenticator_of(user.get_username())
        if device is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.pop(CODE_STEP_DUE, None)
            session.save()

    monkeypatch.setattr(Client, "_login", login_with_second_factor)


# -- OKX simulator (okxsim, docs/simulator.md) ---------------------------------------
# Accounts send keys only to OKX's hosts or to those OKX_EXTRA_BASE_URLS lists: the simulator runs
# on 127.0.0.1 (any port). Set for this process and for the children it starts (make demo, workers).
SIMULATOR_ORIGIN = "http://127.0.0.1"


@pytest.fixture(autouse=True, scope="session")
def _simulator_host_allowed():
    from django.conf import settings

    os.environ.setdefault("OKX_EXTRA_BASE_URLS", SIMULATOR_ORIGIN)
    settings.OKX_EXTRA_BASE_URLS = [SIMULATOR_ORIGIN]


@pytest.fixture
def make_simulator():
    """Factory: make_simulator(scenario="demo" | Scenario | dict, **Simulator options) starts a
    simulator on a free port; every one it made is stopped after the test."""
    from okxsim import Scenario, Simulator

    started: list[Simulator] = []

    def make(scenario: object = "demo", **options: object) -> Simulator:
        if isinstance(scenario, dict):
            scenario = Scenario.from_dict(scenario)
        elif not isinstance(scenario, Scenario):
            scenario = Scenario.load(str(scenario))
        sim = Simulator(scenario, **options).start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(make_simulator):
    """The demo scenario on a free port, stopped after the test."""
    return make_simulator("demo")


def pytest_terminal_summary(terminalreporter) -> None:
    """Point a person at the pictures the browser tests saved."""
    from tests.browser import SCREENSHOTS

    if SCREENSHOTS.exists() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"screenshots for a person to look at: {SCREENSHOTS}")


@pytest.fixture
def mid_hour():
    """The clock at minute 30 of this hour, moving on from there. The overview reads one query more
    during the first stale_after() (2 minutes) after each edge of its chart's buckets (every hour on
    the 7 d range), while the bucket before the open one has not settled and its means are read
    live (snapshots.queries._unsettled): a count taken at 11:00:30 is one higher than at 11:30:30."""
    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now().replace(minute=30, second=0, microsecond=0), tick=True):
        yield
