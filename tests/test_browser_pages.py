"""The pages in a real browser (Debian's Chromium through Playwright) against the app serving the
demo scenario: sign in, the overview's total, an account's positions, the keys page's order, the
errors page's filter. Each test saves a full-page screenshot (the folder is printed after the run)
and fails on any Content-Security-Policy violation the browser reports."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from accounts.models import Account, Environment
from snapshots.models import PositionLine
from tests import demo_data
from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.browser import chromium, screenshot_path

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_site(live_server, simulator) -> str:
    ensure_roles()  # seed_demo gives its user the key admin group; a flush may have taken it
    demo_data.seed(simulator)
    demo_data.pause_idle_account()
    return live_server.url


@pytest.fixture
def facts(demo_site) -> dict:
    """What the database says, read before the browser starts (Playwright's sync API runs an event
    loop in this thread, and Django refuses database calls from there)."""
    line = (
        PositionLine.objects.select_related("snapshot__account").order_by("snapshot__account__name").first()
    )
    positions = PositionLine.objects.filter(snapshot=line.snapshot).values_list("inst_id", flat=True)
    # A coin-margined (inverse) swap: its PnL is in BTC, and the page shows its USD value beside.
    inverse = PositionLine.objects.get(snapshot=line.snapshot, inst_id="BTC-USD-SWAP")
    return {
        "inverse": (inverse.inst_id, inverse.upl_ccy, inverse.upl_usd),
        "live_accounts": Account.objects.filter(active=True).exclude(environment=Environment.DEMO).count(),
        "demo_accounts": Account.objects.filter(active=True, environment=Environment.DEMO).count(),
        "position_account": line.snapshot.account,
        "inst_ids": set(positions),
        "categories": demo_data.error_categories(),
    }


@pytest.fixture
def page(demo_site, facts) -> Iterator[object]:
    """A signed-in operator's browser tab; after the test, no CSP violation may have been reported."""
    user = make_user("operator")
    console: list[str] = []
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1360, "height": 900})
        tab.on("console", lambda message: console.append(message.text))
        tab.goto(f"{demo_site}/login/")
        tab.fill("#id_username", user.username)
        tab.fill("#id_password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{demo_site}/")
        tab.base = demo_site
        yield tab
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == []


def _money(text: str) -> Decimal:
    return Decimal(text.replace("USD", "").replace(",", "").strip())


def test_the_overview_total_is_the_sum_of_the_live_account_rows(page, facts):
    page.screenshot(path=str(screenshot_path("overview")), full_page=True)
    assert page.locator(".topbar .who").inner_text() != ""
    cells = page.locator("#accounts tbody td.equity").all_inner_texts()
    assert len(cells) == facts["live_accounts"]
    rows_sum = sum((_money(text) for text in cells if text.strip() != "—"), Decimal(0))
    assert _money(page.locator("#total-equity").inner_text()) == rows_sum
    assert rows_sum > 0
    # Demo trading sits in its own section with its own subtotal, outside the total.
    demo = page.locator("#demo-accounts tbody td.equity").all_inner_texts()
    assert facts["demo_accounts"] > 0 and len(demo) == facts["demo_accounts"]
    demo_sum = sum((_money(text) for text in demo if text.strip() != "—"), Decimal(0))
    assert _money(page.locator("#demo-subtotal-equity").inner_text()) == demo_sum


def test_an_account_page_lists_its_positions(page, facts):
    account, expected = facts["position_account"], facts["inst_ids"]
    page.click(f"#accounts a:text-is('{account.name}')")
    page.wait_for_url(f"**/accounts/{account.pk}/")
    page.screenshot(path=str(screenshot_path("account")), full_page=True)
    listed = page.locator("#positions tbody tr").all_inner_texts()
    assert len(listed) == len(expected)
    assert all(any(inst in row for row in listed) for inst in expected)
    inst_id, coin, usd = facts["inverse"]
    row = page.locator("#positions tbody tr", has_text=inst_id)
    assert coin == "BTC" and row.locator("td.upl-coin").inner_text().endswith(" BTC")
    assert _money(row.locator("td.upl-usd").inner_text()) == usd.quantize(Decimal("0.01"))


def test_the_keys_page_lists_the_near_deletion_key_first_after_failing_ones(page):
    page.click(".topbar a:text-is('Keys')")
    page.wait_for_url("**/keys/")
    page.screenshot(path=str(screenshot_path("keys")), full_page=True)
    cards = page.locator("article.key")
    names = cards.evaluate_all("cards => cards.map(card => card.dataset.account)")
    failing = cards.evaluate_all("cards => cards.map(card => card.classList.contains('failing'))")
    first_healthy = failing.index(False)
    assert failing[:first_healthy] == [True] * first_healthy  # failing keys lead ...
    assert "zeta-frozen" in names[:first_healthy]
    assert names[first_healthy] == demo_data.IDLE_ACCOUNT  # ... then the key OKX deletes soonest
    gamma = page.locator(f"article.key[data-account='{demo_data.IDLE_ACCOUNT}']")
    assert "Deleted by OKX in 4 days" in gamma.locator(".deadline-note").inner_text()
    assert "bind the key to an IP address" in gamma.locator(".todo").inner_text()
    badge = page.locator(".topbar .warn-count .count").inner_text()
    assert int(badge) >= 2  # at least the frozen key and the idle one


def test_the_errors_page_filters_by_category(page, facts):
    assert {"key", "rate_limit"} <= facts["categories"]
    page.goto(f"{page.base}/errors/")
    everything = set(page.locator("tbody tr").evaluate_all("rows => rows.map(row => row.dataset.category)"))
    assert {"key", "rate_limit"} <= everything
    page.select_option("#id_category", "rate_limit")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/errors/?*category=rate_limit*")
    page.screenshot(path=str(screenshot_path("errors")), full_page=True)
    shown = page.locator("tbody tr").evaluate_all("rows => rows.map(row => row.dataset.category)")
    assert shown and set(shown) == {"rate_limit"}


@pytest.fixture
def report_and_alerts(demo_site) -> str:
    """One stored report of the demo's schedule and the alerts the demo's state opens (the frozen
    key, the paused idle one), made before the browser starts."""
    from io import StringIO

    from django.core.management import call_command

    from alerts.engine import evaluate
    from reports.models import ReportSchedule

    schedule = ReportSchedule.objects.get()
    call_command("send_report", schedule.name, stdout=StringIO())
    evaluate()
    return schedule.name


def test_the_reports_and_alerts_pages_show_what_was_sent(report_and_alerts, page):
    page.click(".topbar a:text-is('Reports')")
    page.wait_for_url("**/reports/")
    page.screenshot(path=str(screenshot_path("reports")), full_page=True)
    assert report_and_alerts in page.locator("main").inner_text()
    page.goto(f"{page.base}/reports/balances-at/")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/reports/balances-at/?*")
    page.screenshot(path=str(screenshot_path("balances-at")), full_page=True)
    assert "alpha-desk" in page.locator("main").inner_text()
    page.click(".topbar a:text-is('Alerts')")
    page.wait_for_url("**/alerts/")
    page.screenshot(path=str(screenshot_path("alerts")), full_page=True)
    assert "zeta-frozen" in page.locator("main").inner_text()
