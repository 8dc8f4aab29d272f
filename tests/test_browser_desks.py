"""A desk-limited viewer's overview in a real browser (Debian's Chromium through Playwright), at a
laptop's 1366 px and a phone's 390 px: the desk's accounts only, its total (the sum of its rows in
team totals), the note naming the desk, the account excluded from team totals in its own section
with its label, and nothing of the other desk. Each view is saved as a screenshot (desks-*.png)
for a person to look at; the page may not scroll sideways, and no Content-Security-Policy
violation may be reported. The team is tests/test_desks_pages.py's."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.accounts_support import PASSWORD, make_user
from tests.browser import screenshot_path, signed_in_tab
from tests.test_desks_pages import B_FIGURES, B_NAME, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = ({"width": 1366, "height": 900}, {"width": 390, "height": 844})


@pytest.fixture
def tab(live_server, world) -> Iterator[object]:  # noqa: F811 (the imported fixture)
    """A browser tab signed in as a viewer of desk A; no CSP violation may be reported."""
    user = make_user("viewer")
    world["desk_a"].members.add(user)
    with signed_in_tab(live_server.url, user.username, PASSWORD, SIZES[0]) as page:
        yield page


def _money(text: str) -> Decimal:
    return Decimal(text.replace("USD", "").replace(",", "").replace("\u2212", "-").strip())


def test_a_desk_viewers_overview_reads_at_1366_and_390_px(tab):
    for size in SIZES:
        tab.set_viewport_size(size)
        tab.reload()
        tab.screenshot(path=str(screenshot_path(f"desks-overview-{size['width']}")), full_page=True)
        assert tab.evaluate("document.documentElement.scrollWidth") <= size["width"]
        text = tab.locator("main").inner_text()
        assert B_NAME not in text and not [figure for figure in B_FIGURES if figure in text]
        assert "Your desk: Desk A" in tab.locator("#desk-scope").inner_text()
        names = tab.locator("#accounts tbody td:first-child a").all_inner_texts()
        assert sorted(names) == ["Aster", "Aster sub"]
        cells = tab.locator("#accounts tbody td.equity").all_inner_texts()
        assert _money(tab.locator("#total-equity").inner_text()) == sum(map(_money, cells)) == Decimal("2000")
        for table in ("#accounts", "#excluded-accounts-table"):  # every column shown is on screen
            width, box = tab.locator(table).evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
            assert width <= box, (size, table, width, box)
        excluded = tab.locator("#excluded-accounts")
        assert excluded.locator("td:first-child a").all_inner_texts() == ["Aster test"]
        assert excluded.locator(".team-label").inner_text() == "excluded from team totals"
        assert _money(tab.locator("#excluded-subtotal-equity").inner_text()) == Decimal("500")
    # The phone's view of the table's first rows, for a person to look at without scrolling.
    tab.locator("#accounts").scroll_into_view_if_needed()
    tab.screenshot(path=str(screenshot_path("desks-overview-390-rows")), full_page=False)
