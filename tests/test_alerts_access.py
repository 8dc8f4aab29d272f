"""Who sees what: the Alerts page for every role, the channel and rule admin for key admins
only, and a channel's secrets never shown back (admin HTML) nor kept anywhere readable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import Alert, AlertChannel, ChannelKind, Delivery, DeliveryEvent, new_delivery
from tests.accounts_support import make_user
from tests.alerts_support import (
    SLACK_SECRET,
    TELEGRAM_TOKEN,
    WEBHOOK_SECRET,
    make_channels,
    receiver,
    stale_alert,
)

pytestmark = pytest.mark.django_db

ALERTS = "/alerts/"
CHANNELS = "/admin/alerts/alertchannel/"


@pytest.fixture
def firing_alert() -> Alert:
    alert = stale_alert()
    channel = AlertChannel.objects.create(
        name="team mail", kind=ChannelKind.EMAIL, recipients="ops@example.com"
    )
    new_delivery(alert, channel, DeliveryEvent.FIRING, "s", "t").save()
    return alert


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(ALERTS)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_signed_in_user_without_the_dashboard_permission_is_refused(client):
    client.force_login(make_user("stranger"))
    assert client.get(ALERTS).status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator", "key_admin"])
def test_every_role_reads_the_alerts_page_with_deliveries(client, role, firing_alert):
    client.force_login(make_user(role))
    response = client.get(ALERTS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Account stale: desk" in html and "team mail" in html and "firing" in html
    assert ("/admin/alerts/alertchannel/" in html) is (role == "key_admin")


def test_firing_alerts_are_listed_before_newer_resolved_ones(client, firing_alert):
    from django.utils import timezone

    later = timezone.now()
    Alert.objects.create(
        rule="refresh_stopped",
        subject="all",
        title="Refresh stopped: newer",
        message="m",
        opened_at=later,
        changed_at=later,
        state="resolved",
        resolved_at=later,
    )
    client.force_login(make_user("viewer"))
    html = client.get(ALERTS).content.decode()
    assert html.index("Account stale: desk") < html.index("Refresh stopped: newer")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_key_admins_reach_the_channel_and_rule_admin(client, role):
    client.force_login(make_user(role))
    assert client.get(CHANNELS).status_code == 403
    assert client.get(CHANNELS + "add/").status_code == 403
    assert client.get("/admin/alerts/alertsettings/").status_code == 403


def test_a_key_admin_adds_a_webhook_whose_url_is_never_shown_back_and_tests_it(client):
    client.force_login(make_user("key_admin"))
    with receiver() as hook:
        url = f"{hook.url}/webhook/{WEBHOOK_SECRET}"
        response = client.post(
            CHANNELS + "add/", {"name": "ops hook", "kind": "webhook", "enabled": "on", "url": url}
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        channel = AlertChannel.objects.get(name="ops hook")
        assert channel.secret_url() == url and WEBHOOK_SECRET not in channel.url_enc
        for page in (CHANNELS, CHANNELS + f"{channel.pk}/change/"):
            html = client.get(page).content.decode()
            assert WEBHOOK_SECRET not in html and hook.url not in html
            assert "set, ends …aaaa" in html
        response = client.post(CHANNELS + f"{channel.pk}/test/", follow=True)
        assert "Test alert to ops hook: sent (HTTP 200)." in response.content.decode()
        assert hook.to("/webhook/")[0].body["event"] == "test"


def test_a_blank_secret_field_keeps_the_stored_one_and_bad_input_changes_nothing(client):
    client.force_login(make_user("key_admin"))
    with receiver() as hook:
        channels = make_channels(hook)
    telegram = channels["telegram"]
    change = CHANNELS + f"{telegram.pk}/change/"
    form = {"name": "telegram chat", "kind": "telegram", "enabled": "on", "chat_id": "-1", "api_base_url": ""}
    assert client.post(change, {**form, "token": ""}).status_code == 302
    telegram.refresh_from_db()
    assert (telegram.secret_token(), telegram.chat_id) == (TELEGRAM_TOKEN, "-1")

    slack = channels["slack"]
    refused = client.post(
        CHANNELS + f"{slack.pk}/change/",
        {"name": "slack room", "kind": "slack", "enabled": "on", "url": "http://hooks.example.com/x"},
    )
    assert refused.status_code == 200 and "must use https" in refused.content.decode()
    slack.refresh_from_db()
    assert SLACK_SECRET in slack.secret_url()
    html = client.get(CHANNELS).content.decode()
    for secret in (SLACK_SECRET, TELEGRAM_TOKEN, WEBHOOK_SECRET):
        assert secret not in html
    assert "token set, ends …cccc" in html


def test_the_test_action_reports_an_unreachable_channel_without_its_url(client):
    client.force_login(make_user("key_admin"))
    channel = AlertChannel(name="dead hook", kind=ChannelKind.WEBHOOK)
    channel.set_url(f"http://127.0.0.1:9/webhook/{WEBHOOK_SECRET}")
    channel.save()
    response = client.post(CHANNELS, {"action": "send_test", "_selected_action": [channel.pk]}, follow=True)
    html = response.content.decode()
    assert "Test alert to dead hook: failed, could not connect." in html
    assert WEBHOOK_SECRET not in html and "127.0.0.1:9" not in html
    assert repr(channel) == f"<AlertChannel {channel.pk} webhook 'dead hook'>"
    assert Delivery.objects.count() == 0
