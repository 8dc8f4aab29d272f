"""PnL net of transfers in a real browser (Debian's Chromium through Playwright), at a laptop's
1366 px and a phone's 390 px: the overview sorted by "PnL 24 h" (the loser first), the account
page's "Profit and loss" section and its flows, the Transfers page. A viewer signs in (the role
that must see all of it). The rows are written directly (pages read rows): twelve days of
readings every six hours for four accounts, a master -> sub transfer, a deposit and a withdrawal.
Each view is saved as a screenshot for a person to look at; no page may scroll sideways, and no
Content-Security-Policy violation may be reported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AccountKind
from ledger.models import FlowKind, FlowSource, LedgerSync
from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.browser import chromium, screenshot_path, sign_in
from tests.ledger_support import stored_flow
from tests.test_pages_queries import give_key, make_account, snap

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = ({"width": 1366, "height": 900}, {"width": 390, "height": 844})
ALL_SIZES = (*SIZES, {"width": 1920, "height": 1000})
STEPS = 48  # readings every 6 hours: 12 days


def _history(account, start: Decimal, gain, flows: list[tuple[float, Decimal]], **fields) -> None:
    """Readings every 6 hours for STEPS steps, the last a minute ago: equity = start + the gains
    so far (gain(i) at step i) + the flows (hours ago, USD) made before the reading."""
    now = timezone.now()
    equity = start
    for i in range(STEPS + 1):
        hours_ago = (STEPS - i) * 6
        at = now - timedelta(hours=hours_ago, minutes=1)
        equity += gain(i) if i else 0
        moved = sum((usd for ago, usd in flows if hours_ago < ago <= hours_ago + 6), Decimal(0))
        equity += moved
        snap(account, str(equity), at=at, **fields)


@pytest.fixture
def pnl_site(live_server) -> dict:
    """alpha-desk (master, own key) moved 10,000 USDT to beta-sub (read through it) 2 hours ago,
    got a 5,000 deposit 3 days ago and withdrew 1,000 (fee 1) 5 days ago; gamma-loser lost 1,000
    in the last day; delta-winner gains a little every day."""
    ensure_roles()
    now = timezone.now()
    alpha = make_account("alpha-desk")
    give_key(alpha)
    beta = make_account("beta-sub", kind=AccountKind.SUB, master=alpha, sub_acct_name="beta")
    gamma = make_account("gamma-loser")
    give_key(gamma)
    delta = make_account("delta-winner")
    give_key(delta)
    transfer_at, deposit_at, withdrawal_at = (now - timedelta(hours=h) for h in (2, 72, 120))
    _history(
        alpha,
        Decimal("100000"),
        lambda i: Decimal(((i * 37) % 11 - 5) * 40),
        [(2, Decimal(-10000)), (72, Decimal(5000)), (120, Decimal(-1001))],
    )
    _history(
        beta, Decimal("5000"), lambda i: Decimal((i % 3 - 1) * 15), [(2, Decimal(10000))], via_master=True
    )
    _history(gamma, Decimal("50000"), lambda i: Decimal(-250 if i > STEPS - 4 else (i % 5 - 2) * 30), [])
    _history(delta, Decimal("20000"), lambda i: Decimal(20 + i % 4 * 5), [])
    stored_flow(alpha, FlowKind.TRANSFER_OUT, "-10000", transfer_at, "58311001", counterparty=beta)
    stored_flow(beta, FlowKind.TRANSFER_IN, "10000", transfer_at, "58311001", counterparty=alpha)
    stored_flow(alpha, FlowKind.DEPOSIT, "5000", deposit_at, "70455", state="2")
    stored_flow(alpha, FlowKind.WITHDRAWAL, "-1001", withdrawal_at, "30988", state="2", fee=Decimal(1))
    LedgerSync.objects.create(
        account=alpha,
        progress={
            FlowSource.SUBACCOUNT_BILLS.value: {
                "oldest_ms": int(transfer_at.timestamp() * 1000),
                "done": True,
                "rows": 1,
            },
            FlowSource.DEPOSIT_HISTORY.value: {
                "oldest_ms": int(deposit_at.timestamp() * 1000),
                "done": True,
                "rows": 1,
            },
            FlowSource.WITHDRAWAL_HISTORY.value: {
                "oldest_ms": int(withdrawal_at.timestamp() * 1000),
                "done": False,
                "rows": 1,
            },
        },
        backfill_started_at=now - timedelta(minutes=30),
        last_synced_at=now - timedelta(minutes=1),
    )
    return {"url": live_server.url, "alpha": alpha.pk, "beta": beta.pk}


@pytest.fixture
def tab(pnl_site) -> Iterator[object]:
    """A signed-in viewer's browser tab; after the test, no CSP violation may have been reported."""
    user = make_user("viewer")
    console: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport=SIZES[0])
        page.on("console", lambda message: console.append(message.text))
        sign_in(page, pnl_site["url"], user.username, PASSWORD)
        yield page
    assert [text for text in console if "Content Security Policy" in text] == []


def _fits(page, size: dict) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]


def test_the_overview_sorted_by_pnl_24h_puts_the_loser_first(tab, pnl_site):
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/")
        tab.click("#accounts thead a:has-text('PnL 24 h')")  # numbers: largest first ...
        tab.wait_for_url("**/?*sort=pnl_24h*dir=desc*")
        assert tab.locator("#accounts tbody tr td:first-child a").first.inner_text() == "delta-winner"
        tab.click("#accounts thead a:has-text('PnL 24 h')")  # ... again: smallest first
        tab.wait_for_url("**/?*sort=pnl_24h*dir=asc*")
        tab.screenshot(path=str(screenshot_path(f"pnl-overview-{size['width']}")), full_page=True)
        names = tab.locator("#accounts tbody tr td:first-child > a").all_inner_texts()
        assert names[0] == "gamma-loser"
        loser = tab.locator("#accounts tbody tr", has_text="gamma-loser").locator("td.pnl-24h")
        assert loser.is_visible() and loser.inner_text().startswith("\u22121,")
        assert "neg" in (loser.get_attribute("class") or "")
        # The transfer is no loss for the master, no gain for the sub.
        for name in ("alpha", "beta"):
            cell = tab.locator(f"#accounts tr[data-account='{pnl_site[name]}'] td.pnl-24h").inner_text()
            assert not cell.startswith("\u221210,") and not cell.startswith("+10,"), (name, cell)
        assert tab.locator("#team-pnl-24h").is_visible()
        # Every column is on screen: the table does not scroll inside its box either.
        wrap = tab.locator("#accounts").evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
        assert wrap[0] <= wrap[1], wrap
        # A phone keeps the 24 h PnL and leaves the 7 d one out; nothing scrolls sideways.
        assert tab.locator("#accounts thead th", has_text="PnL 7 d").is_visible() == (size["width"] > 640)
        box = loser.bounding_box()
        assert box is not None and box["x"] + box["width"] <= size["width"]
        _fits(tab, size)


def test_the_account_page_shows_its_profit_and_loss_and_its_flows(tab, pnl_site):
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/accounts/{pnl_site['alpha']}/")
        tab.screenshot(path=str(screenshot_path(f"pnl-account-{size['width']}")), full_page=True)
        tab.locator("#pnl").screenshot(path=str(screenshot_path(f"pnl-account-section-{size['width']}")))
        periods = tab.locator("#pnl-periods tbody tr").evaluate_all("rows => rows.map(r => r.dataset.period)")
        assert periods == ["today", "24h", "7d", "30d", "mtd", "ytd"]
        week = tab.locator("#pnl-periods tr[data-period='7d'] td.inflow").inner_text()
        assert week == "\u22126,001.00"  # -10,000 + 5,000 - 1,001
        assert tab.locator("#pnl-chart svg.chart:visible").count() == 1
        cells = tab.locator("#pnl-calendar td.day")
        assert cells.count() == 35 and tab.locator("#pnl-calendar td.day.pos").count() > 0
        flows = tab.locator("#account-flow-table tbody tr")
        assert flows.count() == 3
        assert "58311001" in flows.first.inner_text() and "beta-sub" in flows.first.inner_text()
        assert "(reading older pages)" in tab.locator("#ledger-progress").inner_text()
        _fits(tab, size)
    tab.click("#all-flows")
    tab.wait_for_url(f"**/transfers/?account={pnl_site['alpha']}")
    assert tab.locator("#flows tbody tr").count() == 3


def test_the_transfers_page_lists_and_filters_the_flows(tab):
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/")
        tab.click(".topbar a:text-is('Transfers')")
        tab.wait_for_url("**/transfers/")
        assert tab.locator("#flows tbody tr").count() == 4
        tab.screenshot(path=str(screenshot_path(f"pnl-transfers-{size['width']}")), full_page=True)
        _fits(tab, size)
        tab.select_option("#id_kind", "transfer_in")
        tab.click("form.filters button[type=submit]")
        tab.wait_for_url("**/transfers/?*kind=transfer_in*")
        rows = tab.locator("#flows tbody tr")
        assert rows.count() == 1 and "beta-sub" in rows.first.inner_text()
        assert "kind=transfer_in" in (tab.locator("#transfers-csv").get_attribute("href") or "")
        tab.goto(f"{tab.base}/transfers/?period=custom&start=2026-11-20&end=2026-11-01")
        assert "is after the end date" in tab.locator("#filter-problems").inner_text()
        tab.screenshot(path=str(screenshot_path(f"pnl-transfers-bad-filter-{size['width']}")), full_page=True)
        _fits(tab, size)


# -- the demo as a newcomer sees it: every column fits, at a laptop's width and a phone's ---------
@pytest.fixture
def demo_tab(live_server, simulator) -> Iterator[object]:
    """A viewer's tab on the demo scenario (tests.demo_data: the accounts `make demo` seeds, one
    refresh each): the long names, "since" notes and unknown reasons a newcomer's table holds."""
    from tests import demo_data

    ensure_roles()
    demo_data.seed(simulator)
    user = make_user("viewer")
    with chromium() as browser:
        page = browser.new_page(viewport=SIZES[0])
        sign_in(page, live_server.url, user.username, PASSWORD)
        yield page


WIDTHS = "t => [t.scrollWidth, t.parentElement.clientWidth]"
# The columns each row of a table shows (hidden cells have no offsetParent), counting colspans.
SHOWN_COLUMNS = """t => [...t.rows].map(
  r => [...r.cells].filter(c => c.offsetParent !== null).reduce((n, c) => n + c.colSpan, 0))"""


def test_the_demo_overview_table_fits_a_laptop_and_a_phone(demo_tab):
    """Every column shown is on screen at 1366, 390 and 1920 px (no scrolling inside the table's
    box), each row shows as many cells as the header; a phone shows the account, its equity and its
    PnL 24 h, and not the 24 h change (which includes transfers)."""
    for size in ALL_SIZES:
        demo_tab.set_viewport_size(size)
        demo_tab.goto(f"{demo_tab.base}/?sort=pnl_24h&dir=asc")
        demo_tab.screenshot(path=str(screenshot_path(f"pnl-demo-overview-{size['width']}")), full_page=True)
        table, box = demo_tab.locator("#accounts").evaluate(WIDTHS)
        assert table <= box, (size, table, box)
        shown = demo_tab.locator("#accounts").evaluate(SHOWN_COLUMNS)
        assert len(set(shown)) == 1, (size, shown)
        headers = demo_tab.locator("#accounts thead th:visible").all_inner_texts()
        phone = size["width"] <= 640
        if phone:
            assert [h.upper() for h in headers] == ["ACCOUNT", "EQUITY (USD)", "PNL 24 H (USD)"], headers
        else:
            assert "LAST REFRESH" in [h.upper() for h in headers], headers
        assert demo_tab.locator("#accounts thead th", has_text="24 h change").is_visible() is not phone
        last = demo_tab.locator("#accounts tbody tr").first.locator("td:visible").last.bounding_box()
        assert last is not None and last["x"] + last["width"] <= size["width"]
        _fits(demo_tab, size)
