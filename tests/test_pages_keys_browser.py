"""The keys page in a real browser (Debian's Chromium through Playwright) on the demo scenario, at a
laptop's 1366 px and a phone's 390 px: the "which key dies when" table comes first, sorts by a
click, says what each date is, and the page never scrolls sideways. Screenshots are saved for a
person to look at; any Content-Security-Policy violation fails the test."""

from __future__ import annotations

import pytest

from tests import test_browser_pages
from tests.accounts_support import PASSWORD, make_user
from tests.browser import chromium, screenshot_path, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# The demo site of tests/test_browser_pages.py: `make demo`'s accounts, refreshed and checked once,
# gamma-mm paused 10 days ago (OKX deletes its idle trade key in 4 days).
demo_site = test_browser_pages.demo_site


@pytest.mark.parametrize("width", [1366, 390])
def test_the_keys_page_answers_which_key_dies_when_at_any_width(demo_site, width):
    user = make_user("operator")
    console: list[str] = []
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": width, "height": 900})
        tab.on("console", lambda message: console.append(message.text))
        sign_in(tab, demo_site, user.username, PASSWORD)
        tab.goto(f"{demo_site}/keys/")
        tab.screenshot(path=str(screenshot_path(f"keys-{width}")), full_page=True)
        tab.screenshot(path=str(screenshot_path(f"keys-top-{width}")))  # the first screen, as seen

        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        # The table comes before the cards.
        table_top = tab.locator("#key-table").bounding_box()["y"]
        assert table_top < tab.locator("article.key").first.bounding_box()["y"]
        gamma = tab.locator("#key-table tr[data-name='gamma-mm']")
        deletion = gamma.locator("td[data-label='OKX deletes it on']").inner_text()
        assert "unless used" in deletion
        if width == 390:  # each value is labelled on its own line
            assert (
                gamma.locator("td[data-label='Rotate by']")
                .evaluate("td => getComputedStyle(td, '::before').content")
                .startswith('"Rotate by')
            )
        counted = tab.locator("#key-table tr.attention").count()
        assert str(counted) == tab.locator(".topbar .warn-count .count").inner_text()

        # Sorting is a link: "OKX deletes it on" puts the only key OKX would delete first.
        sort_links = "#key-table thead" if width == 1366 else ".key-sort"
        tab.locator(f"{sort_links} a:text-is('OKX deletes it on')").click()
        tab.wait_for_url("**/keys/?sort=deletes_on*")
        names = tab.locator("#key-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.name)")
        assert names[0] == "gamma-mm"
        tab.screenshot(path=str(screenshot_path(f"keys-sorted-{width}")), full_page=True)
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
    assert [text for text in console if "Content Security Policy" in text] == []
