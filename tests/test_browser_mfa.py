"""Two-factor authentication in a real browser (issue 21), at 1366 and 390 px: a key admin without
a second factor opens the admin, is sent to the security page, adds an authenticator app from the
key the page shows (as a person types it into an app), saves the recovery codes, reaches the
admin; signs in again through the code step, where a wrong recovery code is refused and the app's
code accepted. No sideways scrolling, no Content-Security-Policy violation; screenshots mfa-*.png
for a person to look at."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django_otp.oath import totp

from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.browser import CODE_STEP, chromium, screenshot_path, second_factor_code, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits(tab, width: int) -> None:
    assert tab.evaluate("document.documentElement.scrollWidth") <= width


def shot(tab, name: str, width: int) -> None:
    tab.screenshot(path=str(screenshot_path(f"mfa-{name}-{width}")), full_page=True)


@pytest.mark.parametrize("width", [1366, 390])
def test_a_key_admin_enrols_and_signs_in_with_the_code_at_each_width(live_server, width):
    ensure_roles()
    username = make_user("key_admin", second_factor=False).username
    site = live_server.url
    console: list[str] = []
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": width, "height": 900})
        tab.on("console", lambda message: console.append(message.text))
        sign_in(tab, site, username, PASSWORD)  # no second factor yet: straight to the overview
        tab.click(f".topbar a.who:has-text('{username}')")
        tab.wait_for_url(f"{site}/account/security/")
        tab.goto(f"{site}/admin/")  # a key action: set up a second factor first
        tab.wait_for_url(re.compile(r"/account/security/\?next=%2Fadmin%2F$"))
        assert "Required for you:" in tab.inner_text("main [role=alert]")
        assert tab.locator(".qr svg").is_visible()
        shot(tab, "enrol", width)
        fits(tab, width)

        key = tab.inner_text(".manual-key code").replace(" ", "")
        tab.fill("#id_name", "work phone")
        tab.fill("#id_code", f"{totp(b32decode(key)):06d}")
        tab.click("form.confirm button[type=submit]")
        tab.wait_for_selector("text=Your recovery codes")
        codes = tab.locator("ol.codes code").all_inner_texts()
        assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}", code) for code in codes)
        shot(tab, "recovery-codes", width)
        fits(tab, width)
        tab.click("text=I have saved them: continue")
        tab.wait_for_url(f"{site}/admin/")
        assert "Site administration" in tab.inner_text("body")

        tab.goto(f"{site}/account/security/")
        assert "work phone" in tab.inner_text("table.authenticators")
        assert "10 of 10" in tab.inner_text("main")
        shot(tab, "security", width)
        fits(tab, width)

        tab.click(".topbar button:has-text('Log out')")
        tab.goto(f"{site}/login/")
        tab.fill("#id_username", username)
        tab.fill("#id_password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(re.compile(re.escape(CODE_STEP)))
        assert tab.locator(".topbar .sections").count() == 0  # no pages before the second factor
        tab.fill("#id_code", "zzzz-zzzz")  # a wrong recovery code
        tab.click("button:has-text('Verify')")
        tab.wait_for_selector("text=That code is not right.")
        shot(tab, "code-step", width)
        fits(tab, width)
        tab.fill("#id_code", second_factor_code(username))
        tab.click("button:has-text('Verify')")
        tab.wait_for_url(f"{site}/")
        assert tab.locator(".topbar a.who").inner_text() == username
    assert [text for text in console if "Content Security Policy" in text] == []
