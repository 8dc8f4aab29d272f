"""The pages in a real browser (Debian's Chromium through Playwright) against the app serving the
demo scenario: sign in, the overview's total, an account's positions, the keys page's order, the
errors page's filter. Each test saves a full-page screenshot (the folder is printed after the run)
and fails on any Content-Security-Policy violation the browser reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest

from accounts.models import Account, Environment
from snapshots.models import PositionLine
from tests import demo_data
from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.browser import chromium, screenshot_path, sign_in

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
        sign_in(tab, demo_site, user.username, PASSWORD)
        yield tab
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == []


def _money(text: str) -> Decimal:
    """A page's amount ("1,234.50 USD", "\u22125.00": pages write the minus sign) as a Decimal."""
    return Decimal(text.replace("USD", "").replace(",", "").replace("\u2212", "-").strip())


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


# -- Issue 18 items 4, 5: on any screen ------------------------------------------------------------
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# The smallest chart text on screen, in CSS px: font size times the drawing's scale.
SMALLEST_CHART_TEXT = """() => {
  const svg = [...document.querySelectorAll("svg.chart")].find(s => s.getBoundingClientRect().width > 0);
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const sizes = [...svg.querySelectorAll("text")].map(t => parseFloat(getComputedStyle(t).fontSize));
  return Math.min(...sizes) * scale;
}"""


def test_overview_and_account_read_at_1366_and_390_px(page, facts):
    account = facts["position_account"]
    for name, path in (("overview", "/"), ("account", f"/accounts/{account.pk}/")):
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            page.goto(f"{page.base}{path}")
            page.screenshot(path=str(screenshot_path(f"{name}-{size['width']}")), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
            # The chart opens on a range with data (the demo's history is hours old) ...
            assert page.locator("nav[aria-label='Chart range'] a.current").inner_text() == "1d"
            # ... and its text is readable at this width.
            assert page.evaluate(SMALLEST_CHART_TEXT) >= 10
            # Every menu item is on screen, Admin too.
            admin = page.locator(".topbar a:text-is('Admin')").bounding_box()
            assert admin is not None and admin["x"] >= 0 and admin["x"] + admin["width"] <= size["width"]
            # Each change has an amount and a percentage.
            change = page.locator("#change-24h, #account-change-24h").first.inner_text()
            assert re.fullmatch(r"[+\u2212]?[\d,]+\.\d\d USD [+\u2212]?\d+\.\d\d%", change), change
    # At phone width the overview's equity column is on screen (lesser columns step aside).
    page.goto(f"{page.base}/")
    equity = page.locator("#accounts tbody td.equity").first.bounding_box()
    assert equity["x"] + equity["width"] <= PHONE["width"]
    assert not page.locator("#accounts thead th.opt").first.is_visible()
    # The frozen key's row keeps its reason on a phone: a compact status under the name.
    status = page.locator("#accounts tbody tr", has_text="zeta-frozen").locator(".row-status")
    assert status.is_visible() and "key failing" in status.inner_text()
    box = status.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    page.screenshot(path=str(screenshot_path("overview-390-rows")), full_page=False)
    page.set_viewport_size(DESKTOP)
    assert not status.is_visible()  # the key column says it at this width


def test_at_phone_width_no_page_scrolls_sideways(report_and_alerts, page, facts):
    page.set_viewport_size(PHONE)
    paths = {
        "overview": "/",
        "account": f"/accounts/{facts['position_account'].pk}/",
        "keys": "/keys/",
        "errors": "/errors/",
        "alerts": "/alerts/",
        "reports": "/reports/",
        "balances-at": "/reports/balances-at/",
    }
    too_wide = {}
    for name, path in paths.items():
        page.goto(f"{page.base}{path}")
        if name == "balances-at":
            page.click("main form button[type=submit]")
            page.wait_for_url("**/reports/balances-at/?*")
        page.screenshot(path=str(screenshot_path(f"phone-{name}")), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[name] = width
    assert too_wide == {}
