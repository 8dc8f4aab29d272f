"""One admin value must not stop alerting (issue 17.6): the rule thresholds have sane ranges in
the admin form; a row stored out of range (before the validators, or past the admin) skips its
one rule with the reason while the other rules go on; and an alert run that fails or skips a
rule shows in /readyz (with the reason), in /metrics and on the Alerts page."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from alerts.engine import run
from alerts.models import Alert, AlertChannel, AlertRun, AlertSettings, ChannelKind
from snapshots.models import Snapshot
from snapshots.refresh import current_cycle, refresh_account
from tests.accounts_support import make_user
from tests.workers_support import add_account, frozen

RULES = "/admin/alerts/alertsettings/1/change/"
TOKEN = "fake-metrics-token-0000"
# The largest value the column holds: SQLite's integer is 64-bit, PostgreSQL's 32-bit.
HUGE_MINUTES = 9223372036854775807 if connection.vendor == "sqlite" else 2147483647


def rules_form(**values: object) -> dict[str, object]:
    form: dict[str, object] = {
        "key_failing": "on",
        "idle_deletion": "on",
        "expires_soon": "on",
        "account_stale": "on",
        "refresh_stopped": "on",
        "refresh_stopped_minutes": "10",
        "equity_drop": "on",
        "equity_drop_percent": "20",
    }
    return form | values


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("refresh_stopped_minutes", "9223372036854775807", "less than or equal to 10080"),
        ("refresh_stopped_minutes", "10081", "less than or equal to 10080"),
        ("refresh_stopped_minutes", "1", "greater than or equal to 2"),
        ("refresh_stopped_minutes", "-5", "greater than or equal to"),
        ("equity_drop_percent", "-50", "greater than or equal to 0.01"),
        ("equity_drop_percent", "0", "greater than or equal to 0.01"),
        ("equity_drop_percent", "999.99", "less than or equal to 100"),
        ("equity_drop_percent", "100.01", "less than or equal to 100"),
    ],
)
def test_the_rule_admin_refuses_a_threshold_out_of_range_and_changes_nothing(client, field, value, message):
    client.force_login(make_user("key_admin"))
    AlertSettings.load()
    response = client.post(RULES, rules_form(**{field: value}))
    assert response.status_code == 200  # the form again, with the field's error
    assert message in response.content.decode()
    row = AlertSettings.load()
    assert (row.refresh_stopped_minutes, row.equity_drop_percent, row.equity_drop) == (
        10,
        Decimal("20"),
        False,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("minutes", "percent"), [("2", "0.01"), ("10080", "100")])
def test_the_rule_admin_accepts_the_edges_of_each_range(client, minutes, percent):
    client.force_login(make_user("key_admin"))
    AlertSettings.load()
    response = client.post(RULES, rules_form(refresh_stopped_minutes=minutes, equity_drop_percent=percent))
    assert response.status_code == 302
    row = AlertSettings.load()
    assert (row.refresh_stopped_minutes, row.equity_drop_percent) == (int(minutes), Decimal(percent))


@pytest.fixture
def two_accounts(make_simulator):
    sim = make_simulator(frozen("demo"))
    AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="ops@example.com")
    accounts = [add_account(sim, "main"), add_account(sim, "alpha-desk")]
    for account in accounts:
        assert refresh_account(account.pk, cycle=current_cycle()).status == "ok"
    return accounts


def readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, json.loads(response.content)


def scrape(client) -> dict[tuple[str, tuple], float]:
    with override_settings(METRICS_TOKEN=TOKEN):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def firing() -> list[str]:
    return sorted(Alert.objects.firing().values_list("rule", flat=True))


@pytest.mark.django_db
def test_a_stored_out_of_range_threshold_skips_its_rule_and_alerting_goes_on(client, two_accounts):
    _, alpha = two_accounts
    AlertSettings.load()
    AlertSettings.objects.update(
        refresh_stopped_minutes=HUGE_MINUTES, equity_drop=True, equity_drop_percent=Decimal("-50")
    )
    Snapshot.objects.filter(account=alpha).update(taken_at=timezone.now() - timedelta(minutes=5))

    for _ in range(2):  # every minute, not once
        assert run()["ok"] is True
    # The other rules still work: the stale account alerts; no equity "drop" of -50 % on both.
    assert firing() == ["account_stale"]
    last = AlertRun.latest()
    assert last is not None and (last.ok, last.runs, last.failures) == (True, 2, 0)
    assert set(last.skipped) == {"refresh_stopped", "equity_drop"}
    assert f"threshold {HUGE_MINUTES} minutes is refused" in last.skipped["refresh_stopped"]
    assert "threshold -50.00 % is refused" in last.skipped["equity_drop"]

    status, body = readyz(client)
    assert status == 503 and body["components"]["alerts"] == "failing"
    assert 'the rule "refresh stopped" is skipped' in body["reasons"]["alerts"]
    assert 'the rule "loss over 24 h" is skipped' in body["reasons"]["alerts"]
    samples = scrape(client)
    assert samples[("okxdash_alert_rule_skipped", (("rule", "refresh_stopped"),))] == 1
    assert samples[("okxdash_alert_rule_skipped", (("rule", "equity_drop"),))] == 1
    assert samples[("okxdash_alert_rule_skipped", (("rule", "account_stale"),))] == 0
    assert samples[("okxdash_alert_run_last_success", ())] == 1
    client.force_login(make_user("viewer"))
    page = client.get("/alerts/").content.decode()
    assert "Alerting needs attention" in page and "is skipped" in page

    # Fixed in the admin: the next run uses both rules again and /readyz says ok for alerts.
    AlertSettings.objects.update(refresh_stopped_minutes=10, equity_drop_percent=Decimal("20"))
    assert run()["ok"] is True
    assert AlertRun.latest().skipped == {}
    _, body = readyz(client)
    assert body["components"]["alerts"] == "ok" and "alerts" not in body.get("reasons", {})
    assert "Alerting needs attention" not in client.get("/alerts/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_failed_alert_run_shows_in_readyz_metrics_and_the_alerts_page(client):
    """A real failure: the alerts table is unreadable for one run (renamed away, then back)."""
    assert run()["ok"] is True
    assert readyz(client)[1]["components"]["alerts"] == "ok"
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE accounts_alert RENAME TO accounts_alert_away")
    try:
        before = timezone.now().replace(microsecond=0)
        assert run() == {"ok": False}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE accounts_alert_away RENAME TO accounts_alert")

    last = AlertRun.latest()
    assert last is not None and (last.ok, last.runs, last.failures) == (False, 2, 1)
    status, body = readyz(client)
    assert status == 503 and body["components"]["alerts"] == "failing"
    reason = body["reasons"]["alerts"]
    assert reason.startswith("the last alert run failed at ") and reason.endswith("; see the worker log")
    assert f"({last.error})" in reason and last.error in {"OperationalError", "ProgrammingError"}
    samples = scrape(client)
    assert samples[("okxdash_alert_run_last_success", ())] == 0
    assert samples[("okxdash_alert_run_failures_total", ())] == 1
    assert samples[("okxdash_alert_runs_total", ())] == 2
    assert samples[("okxdash_alert_run_last_timestamp_seconds", ())] >= before.timestamp()
    assert last.last_ok_at is not None and last.last_ok_at < last.finished_at  # the first run's
    assert samples[("okxdash_alert_run_last_success_timestamp_seconds", ())] == last.last_ok_at.timestamp()
    client.force_login(make_user("viewer"))
    assert "the last alert run failed at" in client.get("/alerts/").content.decode()

    assert run()["ok"] is True  # the table is back: so is alerting
    assert readyz(client)[1]["components"]["alerts"] == "ok"
    assert scrape(client)[("okxdash_alert_run_last_success", ())] == 1
