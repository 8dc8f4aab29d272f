"""The overview's accounts table with more accounts than a page holds, in a real browser (Debian's
Chromium through Playwright) at a laptop's 1366 px and a phone's 390 px: 100 rows a page, the
pager under the table on screen at both widths, its links to the next page and to every row, and
the poll (overview.js's fragment URL) staying on the page shown; and the status line saying that
planned refreshes expired because the workers cannot keep up. Each view is saved as a
screenshot (overview-pager-*.png) for a person to look at; the page may not scroll sideways, and
no Content-Security-Policy violation may be reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts import callstats
from accounts.models import Account
from dashboard.tasks import warm_pnl
from tests.accounts_support import PASSWORD, make_user
from tests.browser import screenshot_path, signed_in_tab
from tests.test_pages_queries import many_accounts

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = ({"width": 1366, "height": 900}, {"width": 390, "height": 844})
ROWS = "#accounts tbody tr[data-account]"


@pytest.fixture
def tab(live_server) -> Iterator[object]:
    """120 accounts (bulk-0000 … bulk-0119, 110.00 USD each) and a viewer's signed-in tab."""
    many_accounts(120)
    warm_pnl.apply()  # the PnL columns, as beat works them out
    # Three planned refreshes the workers did not start in time (the worker records them so).
    for name in ("bulk-0007", "bulk-0042", "bulk-0042"):
        callstats.record_refresh(Account.objects.get(name=name).pk, "expired", 0.0)
    user = make_user("viewer")
    with signed_in_tab(live_server.url, user.username, PASSWORD, SIZES[0]) as page:
        yield page


def test_the_table_pages_by_100_and_the_pager_fits_a_laptop_and_a_phone(tab):
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.goto(f"{tab.base}/?sort=name&dir=asc")
        # The status line says the workers cannot keep up, within the screen's width.
        note = tab.locator("#refresh-shortfall")
        assert note.is_visible() and note.inner_text().startswith("3 planned refreshes did not run")
        assert "(bulk-0007, bulk-0042)" in tab.locator("p.data-note").first.inner_text()
        tab.screenshot(path=str(screenshot_path(f"overview-shortfall-{size['width']}")), full_page=False)
        assert tab.locator(ROWS).count() == 100
        pager = tab.locator("#accounts-pager")
        assert pager.is_visible() and "Accounts 1\u2013100 of 120" in pager.inner_text()
        # The total is of every account, not of the page.
        assert tab.locator("#total-equity").inner_text() == "13,200.00 USD"
        pager.scroll_into_view_if_needed()
        box = pager.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"]
        assert tab.evaluate("document.documentElement.scrollWidth") <= size["width"]
        tab.screenshot(path=str(screenshot_path(f"overview-pager-{size['width']}")), full_page=False)

    tab.set_viewport_size(SIZES[0])
    tab.locator("#accounts-pager a[rel=next]").click()
    tab.wait_for_url("**/?*page=2")
    names = tab.locator(f"{ROWS} td:first-child > a").all_inner_texts()
    assert names == [f"bulk-{i:04d}" for i in range(100, 120)]
    # overview.js polls the page shown: its fragment holds the same 20 rows.
    url = tab.locator("#overview-live").get_attribute("data-fragment-url")
    assert "page=2" in url
    polled = tab.evaluate(
        "async (url) => (await (await fetch(url)).text()).match(/data-account=/g).length", url
    )
    assert polled == 20
    tab.locator("#accounts-pager a", has_text="all").click()
    tab.wait_for_url("**/?*page=all")
    assert tab.locator(ROWS).count() == 120
