"""The Alerts page in a real browser (issue 18.13): with no enabled channel, "Alerts go to 0
enabled channels" is a warning styled as the app's warnings (the amber banner), not small grey
text; at 1366 px and at 390 px, without sideways scrolling. Screenshots for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from accounts.models import Account
from alerts.engine import run
from alerts.models import Alert, AlertChannel, AlertSettings, ChannelKind, DeliveryEvent, new_delivery
from tests.accounts_support import PASSWORD, ensure_roles, make_user
from tests.browser import chromium, screenshot_path, sign_in

WARN_SOFT = "rgb(255, 244, 220)"  # --warn-soft in app.css, the background of every warning banner
WARN_TEXT = "rgb(138, 83, 0)"  # --warn


def firing_alert() -> Alert:
    now = timezone.now()
    account = Account.objects.create(name="alpha-desk")
    return Alert.objects.create(
        rule="account_stale",
        subject=f"account:{account.pk}",
        stage="stale",
        account=account,
        title="Account stale: alpha-desk",
        message="alpha-desk has not been refreshed for more than 2 minutes (never refreshed).\n"
        "What to do: see its latest errors on the Errors page.",
        opened_at=now,
        changed_at=now,
    )


@pytest.fixture
def viewer_site(live_server) -> Iterator[tuple[str, str]]:
    ensure_roles()
    firing_alert()
    AlertChannel.objects.create(name="off", kind=ChannelKind.EMAIL, recipients="a@example.com", enabled=False)
    yield live_server.url, make_user("viewer").username


def open_alerts_page(browser, site: str, username: str, width: int):
    tab = browser.new_page(viewport={"width": width, "height": 800})
    sign_in(tab, site, username, PASSWORD)
    tab.goto(f"{site}/alerts/")
    return tab


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1366, 390])
def test_no_enabled_channel_is_a_visible_warning_at_each_width(viewer_site, width):
    site, username = viewer_site
    with chromium() as browser:
        tab = open_alerts_page(browser, site, username, width)
        tab.screenshot(path=str(screenshot_path(f"alerts-no-channels-{width}")), full_page=True)

        warning = tab.locator("main [role=alert]", has_text="Alerts go to 0 enabled channels")
        assert warning.is_visible()
        assert "nobody is told when an alert fires" in warning.inner_text()
        style = warning.evaluate(
            "e => { const s = getComputedStyle(e);"
            " return [s.backgroundColor, s.color, parseFloat(s.fontSize)]; }"
        )
        assert style[0] == WARN_SOFT and style[1] == WARN_TEXT
        assert style[2] >= 14  # body text size, not the small grey note it was
        box = warning.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert tab.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.django_db
def test_the_warning_goes_once_a_channel_is_enabled(client):
    firing_alert()
    client.force_login(make_user("viewer"))
    assert "Alerts go to 0 enabled channels" in client.get("/alerts/").content.decode()
    AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="a@example.com")
    page = client.get("/alerts/").content.decode()
    assert "0 enabled channels" not in page and "Alerts go to 1 enabled channel." in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1366, 390])
def test_a_skipped_rule_and_a_failed_delivery_read_clearly_at_each_width(live_server, width):
    """What a viewer sees after a receiver refused the alert and an old out-of-range threshold."""
    ensure_roles()
    AlertSettings.load()
    AlertSettings.objects.update(equity_drop=True, equity_drop_percent=-50)
    assert run()["ok"] is True
    alert = firing_alert()
    channel = AlertChannel.objects.create(
        name="team hook", kind=ChannelKind.EMAIL, recipients="a@example.com"
    )
    delivery = new_delivery(alert, channel, DeliveryEvent.FIRING, "s", "t")
    delivery.save()
    now = timezone.now()
    error = "receiver answered HTTP 404 (reply not kept: it quoted the channel's secret)"
    delivery.record(ok=False, permanent=True, http_status=404, error=error, now=now)
    username = make_user("viewer").username
    with chromium() as browser:
        tab = open_alerts_page(browser, live_server.url, username, width)
        tab.screenshot(path=str(screenshot_path(f"alerts-attention-{width}")), full_page=True)
        banner = tab.locator("main [role=alert]", has_text="Alerting needs attention")
        assert banner.is_visible()
        assert 'the rule "loss over 24 h" is skipped' in banner.inner_text()
        assert error in tab.locator("main table.alerts").inner_text()
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
