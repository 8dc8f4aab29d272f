"""Margin and liquidation risk in a real browser (Debian's Chromium through Playwright), at a
laptop's 1366 px and a phone's 390 px: the overview sorted by risk (danger first, never read
last), the account page's risk section, its positions' distance to liquidation and its closed
positions with the liquidation marked. A viewer signs in. The rows are written directly
(tests.test_pages_risk.risk_team). Each view is saved as a screenshot for a person to look at;
nothing may scroll sideways, and no Content-Security-Policy violation may be reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import Environment
from snapshots.models import PositionLine
from snapshots.refresh import NO_RATIO_FUTURES
from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.browser import screenshot_path, signed_in_tab
from tests.test_pages_queries import give_key, make_account, snap
from tests.test_pages_risk import RiskTeam, risk_team, risky_position

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = ({"width": 1366, "height": 900}, {"width": 390, "height": 844})
WIDTHS = "t => [t.scrollWidth, t.parentElement.clientWidth]"


# Every text in the risk cells: none may be clipped (cut off, or hidden past its box).
CLIPPED = """() => [...document.querySelectorAll('td.risk .unknown, td.risk .risk-figure')]
  .filter(e => e.offsetParent !== null)
  .filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1
    || getComputedStyle(e).textOverflow === 'ellipsis' || getComputedStyle(e).webkitLineClamp !== 'none')
  .map(e => e.textContent)"""


@pytest.fixture
def team(live_server) -> RiskTeam:
    ensure_roles()
    team = risk_team()
    # The demo-trading table too: a Futures-mode paper account with no margin ratio.
    paper = make_account("paper-futures", environment=Environment.DEMO)
    give_key(paper)
    line = risky_position(
        snap(paper, "10000", at=team.now, risk_note=NO_RATIO_FUTURES),
        "BTC-USDT-SWAP",
        "long",
        "60000",
        "40000",
    )
    PositionLine.objects.filter(pk=line.pk).update(margin_mode="isolated")
    return team


@pytest.fixture
def tab(live_server, team) -> Iterator[object]:
    """A signed-in viewer's tab; after the test, no CSP violation may have been reported."""
    user = make_user("viewer")
    with signed_in_tab(live_server.url, user.username, PASSWORD, SIZES[0]) as page:
        yield page


def _fits(page, size: dict) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]


def test_the_overview_sorted_by_risk_puts_danger_first(tab, team):
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/")
        phone = size["width"] <= 640
        if phone:  # the column is left out; the sort link still works
            tab.goto(f"{tab.base}/?sort=risk&dir=desc")
        else:
            tab.click("#accounts thead a:text-is('risk')")  # numbers: largest (riskiest) first
            tab.wait_for_url("**/?*sort=risk*dir=desc*")
        tab.screenshot(path=str(screenshot_path(f"risk-overview-{size['width']}")), full_page=True)
        names = tab.locator("#accounts tbody tr td:first-child > a").all_inner_texts()
        assert names[:2] == ["edge-desk", "warm-desk"] and names[-1] == "fresh-desk"
        edge = tab.locator(f"#accounts tr[data-account='{team.edge.pk}']")
        if phone:
            badges = edge.locator(".row-status .badge.failing").all_inner_texts()
            assert "margin 120.0%" in badges and "liq. 5.00% away" in badges
            assert not tab.locator("#accounts thead th", has_text="risk").is_visible()
        else:
            cell = edge.locator("td.risk")
            assert cell.is_visible() and cell.inner_text().split() == ["120.0%", "5.00%"]
            nearest = cell.locator(".risk-figure.liq.danger").get_attribute("title") or ""
            assert nearest.startswith("nearest liquidation: ETH-USDT-SWAP")
            # Danger is red: the figure's colour is the page's --bad.
            colour = cell.locator(".risk-figure.margin.danger").evaluate("e => getComputedStyle(e).color")
            assert colour == "rgb(180, 35, 24)"
            keyless = tab.locator(f"#accounts tr[data-account='{team.keyless.pk}'] td.risk .muted.unknown")
            assert keyless.inner_text() == "not via master"
            assert keyless.get_attribute("title") == "positions are not readable through the master key"
            iso = tab.locator(f"#accounts tr[data-account='{team.futures_iso.pk}'] td.risk .muted.unknown")
            assert iso.inner_text().split() == ["no", "ratio:", "Futures", "mode"]
            assert iso.get_attribute("title") == NO_RATIO_FUTURES
            idle = tab.locator(f"#accounts tr[data-account='{team.idle.pk}'] td.risk")
            assert idle.inner_text() == "no positions"
            paper = tab.locator("#demo-accounts td.risk .muted.unknown")
            assert paper.inner_text().split() == ["no", "ratio:", "Futures", "mode"]
            assert tab.evaluate(CLIPPED) == []  # the whole words, in both tables
            box = cell.bounding_box()
            assert box is not None and box["x"] + box["width"] <= size["width"]
        table, wrap = tab.locator("#accounts").evaluate(WIDTHS)
        assert table <= wrap, (size, table, wrap)
        _fits(tab, size)


def test_the_account_page_shows_its_risk_and_closed_positions(tab, team):
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/accounts/{team.edge.pk}/")
        tab.screenshot(path=str(screenshot_path(f"risk-account-{size['width']}")), full_page=True)
        tab.locator("#risk").screenshot(path=str(screenshot_path(f"risk-account-section-{size['width']}")))
        tab.locator("#positions").screenshot(path=str(screenshot_path(f"risk-positions-{size['width']}")))
        tab.locator("#closed").screenshot(path=str(screenshot_path(f"risk-closed-positions-{size['width']}")))
        assert tab.locator("#risk-margin-ratio").inner_text() == "120.0%"
        assert tab.locator("#risk-mmr").inner_text() == "3,640.25 USD"
        eth = tab.locator("#positions tbody tr", has_text="ETH-USDT-SWAP")
        assert (
            eth.locator("td.liq-distance .risk-value").inner_text() == "5.00% away"
            and eth.locator("td.adl").inner_text() == "4 of 5"
        )
        rows = tab.locator("#closed-positions tbody tr")
        assert rows.count() == 3
        liquidation = rows.first
        assert "liquidation" in (liquidation.get_attribute("class") or "")
        assert liquidation.locator(".badge.failing").inner_text() == "liquidated"
        assert liquidation.locator("td.realised").inner_text() == "\u2212262.50 USDT"
        assert rows.nth(1).locator(".badge.grace").inner_text() == "auto-deleveraged"
        for table_id in ("#positions", "#closed-positions"):  # every column on screen
            table, wrap = tab.locator(table_id).evaluate(WIDTHS)
            assert table <= wrap, (size, table_id, table, wrap)
        _fits(tab, size)
    for size in SIZES:  # Futures mode: each "—" says why under it
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/accounts/{team.futures.pk}/")
        tab.locator("#risk").screenshot(path=str(screenshot_path(f"risk-futures-section-{size['width']}")))
        assert tab.locator("#risk-imr-why").inner_text().startswith("OKX reports none in Futures mode")
        _fits(tab, size)
    tab.goto(f"{tab.base}/accounts/{team.keyless.pk}/")
    assert "not readable without the account's own key" in tab.locator("#closed-empty").inner_text().lower()
