"""Issue 18 items 7 and 9 in a real browser (Debian's Chromium) against the app serving the demo
scenario: acknowledging a kind of error with a snooze and "all of this account" on the errors
page, and the account page's "Refresh now", queued through Celery to a real worker, whose new
data age shows once it has landed. Screenshots at 1366 and 390 px; no sideways scrolling."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import Account
from dashboard.runtime.launcher import spawn, stop
from tests import demo_data
from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.browser import chromium, screenshot_path, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CELERY = str(Path(sys.executable).with_name("celery"))
WAIT_SECONDS = 120  # a guard against a hung worker, not a performance expectation
SIZES = ({"width": 1366, "height": 900}, {"width": 390, "height": 844})


@pytest.fixture
def demo_site(live_server, simulator) -> str:
    ensure_roles()
    demo_data.seed(simulator)
    return live_server.url


@pytest.fixture
def operator_tab(demo_site) -> Iterator[object]:
    """A signed-in operator's browser tab; after the test, no CSP violation may have been reported."""
    user = make_user("operator")
    console: list[str] = []
    with chromium() as browser:
        tab = browser.new_page(viewport=SIZES[0])
        tab.on("console", lambda message: console.append(message.text))
        sign_in(tab, demo_site, user.username, PASSWORD)
        tab.username = user.username
        yield tab
    assert [text for text in console if "Content Security Policy" in text] == []


@pytest.fixture
def worker(redis_url) -> Iterator[None]:
    """One real Celery worker on the default queue (the one the page queues to), on this test's
    database."""
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = str(connection.settings_dict["NAME"])
    else:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))
    name = f"refresh-now-{uuid.uuid4().hex[:6]}@%h"
    args = [CELERY, "-A", "dashboard", "worker", "-c", "1", "--loglevel", "WARNING", "--hostname", name]
    process = spawn([*args, "--without-gossip", "--without-mingle"], env)
    yield
    stop([process])


def _fits(tab, width: int) -> None:
    assert tab.evaluate("document.documentElement.scrollWidth") <= width


def test_an_operator_acknowledges_a_kind_with_a_snooze_and_all_of_an_account(operator_tab):
    tab = operator_tab
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/errors/")
        tab.screenshot(path=str(screenshot_path(f"errors-ack-before-{size['width']}")), full_page=True)
        _fits(tab, size["width"])
    tab.set_viewport_size(SIZES[0])

    row = tab.locator("tbody tr[data-category=rate_limit]").first
    row.locator("select[name=snooze]").select_option("1d")
    row.locator("button:text-is('Acknowledge')").click()
    tab.wait_for_load_state()
    assert "until they recover" in tab.locator(".messages").inner_text()
    state = tab.locator("tbody tr[data-category=rate_limit] td.state").first.inner_text()
    assert f"by {tab.username}" in state and "or until it recovers" in state

    frozen = tab.locator("tbody tr:has(td:text-is('zeta-frozen'))").first
    frozen.locator("button:has-text('All of zeta-frozen')").click()
    tab.wait_for_load_state()
    assert "of error of zeta-frozen" in tab.locator(".messages").inner_text()
    for cell in tab.locator("tbody tr:has(td:text-is('zeta-frozen')) td.state").all():
        assert "until it recovers" in cell.inner_text()
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.screenshot(path=str(screenshot_path(f"errors-ack-after-{size['width']}")), full_page=True)
        _fits(tab, size["width"])


@pytest.fixture
def alpha(demo_site) -> Account:
    """Read before the browser starts (Playwright's sync API runs an event loop in this thread,
    and Django refuses database calls from there)."""
    return Account.objects.get(name="alpha-desk")


def test_refresh_now_is_queued_and_the_new_data_age_shows_once_it_landed(alpha, operator_tab, worker):
    tab, account = operator_tab, alpha
    tab.goto(f"{tab.base}/accounts/{account.pk}/")
    before = tab.locator(".data-note time").first.inner_text()

    tab.click("#refresh-now button")
    tab.wait_for_url(f"**/accounts/{account.pk}/")
    assert "Refresh of alpha-desk queued at" in tab.locator(".messages").inner_text()
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.screenshot(path=str(screenshot_path(f"account-refresh-now-{size['width']}")), full_page=True)
        _fits(tab, size["width"])

    deadline = time.monotonic() + WAIT_SECONDS
    while (after := tab.locator(".data-note time").first.inner_text()) == before:
        assert time.monotonic() < deadline, "the queued refresh never landed"
        tab.wait_for_timeout(250)
        tab.reload()
    assert after > before  # "Y-m-d H:i:s": a later time reads later
    tab.screenshot(path=str(screenshot_path("account-refresh-now-landed")), full_page=True)


def test_the_refresh_now_button_is_for_operators(demo_site, client):
    account = Account.objects.get(name="alpha-desk")
    client.force_login(make_user("viewer"))
    assert 'id="refresh-now"' not in client.get(f"/accounts/{account.pk}/").content.decode()
    assert client.post(f"/accounts/{account.pk}/refresh/").status_code == 403
    client.force_login(make_user("operator"))
    assert 'id="refresh-now"' in client.get(f"/accounts/{account.pk}/").content.decode()
