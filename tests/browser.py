"""Debian's Chromium driven by Playwright, for browser tests and for rendering HTML to PNG.

Never a downloaded browser: the executable is /usr/bin/chromium. On a newcomer's machine without
it the browser tests are skipped with a message saying how to install it; CI sets
BROWSER_TESTS_REQUIRED=1 and there a missing browser fails the run instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CODE_STEP = "/account/two-factor/"  # the sign-in's second step (accounts/mfa)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` to run the browser tests"
    if os.environ.get("BROWSER_TESTS_REQUIRED") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright Browser on Debian's Chromium, closed afterwards."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def signed_in_tab(base_url: str, username: str, password: str, viewport: dict[str, int]) -> Iterator[Any]:
    """A Chromium tab of `viewport` signed in as `username` (sign_in); when the block ends, no
    Content-Security-Policy violation may have been reported in its console."""
    console: list[str] = []
    with chromium() as browser:
        tab = browser.new_page(viewport=viewport)
        tab.on("console", lambda message: console.append(message.text))
        sign_in(tab, base_url, username, password)
        yield tab
    assert [text for text in console if "Content Security Policy" in text] == []


def sign_in(tab: Any, base_url: str, username: str, password: str) -> None:
    """Sign `username` in through the login page of `base_url` in `tab` (a Playwright Page) and
    wait for the overview; `tab.base` is set to `base_url` for the test's own navigation. A user
    with an authenticator app (a key admin) gets the code step, answered with the code the app
    would show (tests.accounts_support.totp_code)."""
    tab.goto(f"{base_url}/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", password)
    tab.click("button[type=submit]")
    tab.wait_for_url(lambda url: url == f"{base_url}/" or CODE_STEP in url)
    if CODE_STEP in tab.url:
        tab.fill("#id_code", second_factor_code(username))
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{base_url}/")
    tab.base = base_url


def second_factor_code(username: str) -> str:
    """The code `username`'s authenticator app shows now, read in a thread of its own: Playwright's
    sync API runs an event loop in the test's thread, where Django refuses database calls."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_code_in_thread, username).result()


def _code_in_thread(username: str) -> str:
    from django.db import connection

    from tests.accounts_support import authenticator_of, totp_code

    try:
        return totp_code(authenticator_of(username))
    finally:
        connection.close()


def screenshot_path(name: str) -> Path:
    """Where a test saves a picture for a person to look at; the folder is printed after the run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def html_to_png(html: str, name: str, *, width: int = 800) -> Path:
    """Render a standalone HTML document (a report e-mail) to a PNG under the screenshots folder."""
    path = screenshot_path(name)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 600})
        page.set_content(html, wait_until="load")
        page.screenshot(path=str(path), full_page=True)
    return path
