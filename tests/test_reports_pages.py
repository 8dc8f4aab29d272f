"""Reports pages: who may open what, balances at a chosen moment after retention thinned the
history, the schedule form in the admin, and a rendered sample report for a person to look at."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import keycheck as keyhealth
from accounts.models import Credential
from reports import balances, delivery
from reports.models import Report, ReportSchedule
from snapshots.models import BalanceLine, Snapshot, Wallet, quantize, write_snapshot
from snapshots.refresh import refresh_account
from tests.accounts_support import make_user
from tests.browser import html_to_png
from tests.test_reports import make_account, make_schedule, make_snapshot
from tests.workers_support import add_account, frozen

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def signed_in(client, role: str):
    client.force_login(make_user(role), backend=MODEL_BACKEND)
    return client


@pytest.fixture
def stored_report() -> Report:
    account = make_account("Fake desk")
    slot = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    make_snapshot(account, slot - timedelta(seconds=20), [(Wallet.TRADING, "USDT", "123.45", "123.45")])
    schedule = make_schedule(time_zone="UTC")
    delivery.deliver_slot(schedule.pk, slot)
    return Report.objects.get()


def report_urls(report: Report) -> list[str]:
    query = "?date=2026-06-10&time=08:00:00&zone=UTC"
    return [
        reverse("reports:list"),
        reverse("reports:detail", args=[report.pk]),
        reverse("reports:email", args=[report.pk]),
        reverse("reports:csv", args=[report.pk]),
        reverse("reports:balances_at"),
        reverse("reports:balances_at") + query,
        reverse("reports:balances_at_csv") + query,
    ]


# -- access ------------------------------------------------------------------------------------
def test_anonymous_visitors_are_sent_to_the_login_page_from_every_reports_url(client, stored_report):
    for url in report_urls(stored_report):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_a_signed_in_user_without_a_team_role_gets_403_everywhere(client, stored_report):
    signed_in(client, "stranger")
    for url in report_urls(stored_report):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ["viewer", "operator", "key_admin"])
def test_every_team_role_opens_every_reports_url(client, stored_report, role):
    signed_in(client, role)
    for url in report_urls(stored_report):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("key_admin", 200)])
def test_only_key_admins_edit_schedules_in_the_admin(client, role, status):
    signed_in(client, role)
    for name in ("admin:reports_reportschedule_changelist", "admin:reports_reportschedule_add"):
        assert client.get(reverse(name)).status_code == status


def test_the_list_links_the_report_and_its_csv_and_the_csv_is_the_stored_one(client, stored_report):
    signed_in(client, "viewer")
    page = client.get(reverse("reports:list")).content.decode()
    assert reverse("reports:detail", args=[stored_report.pk]) in page
    assert reverse("reports:csv", args=[stored_report.pk]) in page
    assert "2026-06-10 08:00 UTC" in page and "Morning" in page
    response = client.get(reverse("reports:csv", args=[stored_report.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="morning-2026-06-10-0800.csv"'
    assert response.content.decode() == stored_report.csv


def test_the_stored_email_is_shown_in_the_page_and_served_alone_under_its_own_strict_policy(
    client, stored_report
):
    signed_in(client, "viewer")
    page = client.get(reverse("reports:detail", args=[stored_report.pk]))
    policy = page["Content-Security-Policy"]
    # In the page's own flow, no frame: style attributes allowed there, scripts as strict as ever.
    assert "style-src 'self'" in policy and "style-src-attr 'unsafe-inline'" in policy
    assert "script-src 'self'" in policy
    html = page.content.decode()
    assert "<iframe" not in html and "Total equity" in html and "123.45" in html
    email = client.get(reverse("reports:email", args=[stored_report.pk]))
    policy = email["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy and "script-src 'none'" in policy and "sandbox" in policy
    assert email["X-Frame-Options"] == "SAMEORIGIN"
    assert email.content.decode() == stored_report.html


# -- balances at a chosen moment ---------------------------------------------------------------
@pytest.fixture
def thinned() -> tuple:
    """One account snapshotted every 20 min from 100 to 80 days ago, then thinned by retention
    (daily beyond 90 days, hourly beyond 7); one account whose history starts 10 days ago."""
    old, young = make_account("Fake old desk"), make_account("Fake young desk")
    start = (NOW - timedelta(days=100)).replace(hour=0)
    stamps = [start + timedelta(minutes=20 * i) for i in range(20 * 72)]
    snapshots = Snapshot.objects.bulk_create(
        Snapshot(account=old, cycle=i, taken_at=at, total_equity_usd=Decimal(i))
        for i, at in enumerate(stamps)
    )
    BalanceLine.objects.bulk_create(
        BalanceLine(
            snapshot=s, wallet=Wallet.TRADING, ccy="USDT", equity=Decimal(s.cycle), usd_value=Decimal(s.cycle)
        )
        for s in snapshots
    )
    make_snapshot(young, NOW - timedelta(days=10), [(Wallet.TRADING, "BTC", "0.5", "30000")])
    deleted = Snapshot.objects.thin(NOW)
    assert deleted > 1000
    return old, young, start


def minutes_since(start: datetime, at: datetime) -> int:
    return int((at - start).total_seconds() // 1200)


def test_balances_at_a_moment_pick_the_nearest_earlier_snapshot_left_after_thinning(thinned):
    old, young, start = thinned
    daily_zone = NOW - timedelta(days=95)
    moment = daily_zone.replace(hour=15, minute=10)
    rows = {row.name: row for row in balances.at(moment)}
    # Beyond 90 days only the first snapshot of each day survives: 00:00 that day, not 15:00.
    expected = moment.replace(hour=0, minute=0)
    assert rows[old.name].snapshot_at == expected
    assert rows[old.name].lines[0].equity == minutes_since(start, expected)
    assert rows[young.name].snapshot_at is None
    hourly_zone = (NOW - timedelta(days=85)).replace(hour=10, minute=50)
    assert {r.name: r.snapshot_at for r in balances.at(hourly_zone)}[old.name] == hourly_zone.replace(
        minute=0
    )


def test_balances_at_read_a_fixed_number_of_queries_for_any_number_of_accounts(
    thinned, django_assert_num_queries
):
    for n in range(5):
        make_snapshot(
            make_account(f"Fake extra {n}"), NOW - timedelta(days=1), [(Wallet.TRADING, "USDT", "1", "1")]
        )
    with django_assert_num_queries(2):
        rows = balances.at(NOW)
    assert len(rows) == 7


def test_the_balances_page_shows_each_snapshots_own_time_and_says_when_none_exists(client, thinned):
    old, young, _ = thinned
    signed_in(client, "viewer")
    day = (NOW - timedelta(days=95)).date()
    query = {"date": day.isoformat(), "time": "15:10:00", "zone": "Europe/Berlin"}
    page = client.get(reverse("reports:balances_at"), query).content.decode()
    assert f"Snapshot taken {day.isoformat()} 00:00:00 UTC" in page
    # 15:10 in Berlin (CET in March) is 14:10 UTC.
    assert f"No snapshot at or before {day.isoformat()} 14:10:00 UTC for {young.name}." in page
    response = client.get(reverse("reports:balances_at_csv"), query)
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_account = {r["account"]: r for r in rows if r["currency"]}
    assert by_account[old.name]["snapshot_taken_at"] == f"{day.isoformat()}T00:00:00Z"
    (missing,) = [r for r in rows if r["account"] == young.name]
    assert missing["note"] == f"no snapshot at or before {day.isoformat()}T14:10:00Z"


def test_the_balances_page_refuses_a_bad_zone_with_a_clear_message(client):
    signed_in(client, "viewer")
    query = {"date": "2026-12-31", "time": "23:59:59", "zone": "Mars/Olympus"}
    page = client.get(reverse("reports:balances_at"), query).content.decode()
    assert "is not an IANA time zone" in page and "Snapshot taken" not in page
    assert client.get(reverse("reports:balances_at_csv"), query).status_code == 400


# -- the schedule form (through the admin, as a key admin uses it) --------------------------------
VALID = {
    "name": "Month end",
    "enabled": "on",
    "cadence": "monthly",
    "time_of_day": "23:59:00",
    "weekday": "",
    "day_of_month": "31",
    "time_zone": "Europe/Berlin",
    "recipients": "books@example.test,\n desk@example.test",
    "all_accounts": "on",
    "currency": "usd",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time_zone": "Europe/Berlim"}, "is not an IANA time zone"),
        ({"recipients": "books@example.test, not-an-address"}, "Not e-mail addresses: not-an-address."),
        ({"recipients": " , "}, "Give at least one e-mail address."),
        ({"day_of_month": "32"}, "less than or equal to 31"),
        ({"day_of_month": "0"}, "greater than or equal to 1"),
        ({"day_of_month": ""}, "A monthly report needs a day of the month"),
        ({"cadence": "weekly"}, "A weekly report needs a weekday."),
        ({"all_accounts": ""}, "Choose accounts, or tick"),
        ({"currency": "XYZ"}, "No stored balance gives a USD price for XYZ."),
    ],
)
def test_the_schedule_form_refuses_bad_input_and_stores_nothing(client, change, message):
    signed_in(client, "key_admin")
    response = client.post(reverse("admin:reports_reportschedule_add"), {**VALID, **change})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert ReportSchedule.objects.count() == 0


def test_the_schedule_form_stores_day_31_normalised_and_accepts_a_currency_the_balances_price(client):
    make_snapshot(make_account("Fake btc"), NOW, [(Wallet.TRADING, "BTC", "2", "120000")])
    signed_in(client, "key_admin")
    response = client.post(reverse("admin:reports_reportschedule_add"), {**VALID, "currency": "btc"})
    assert response.status_code == 302
    schedule = ReportSchedule.objects.get()
    assert (schedule.day_of_month, schedule.weekday, schedule.currency) == (31, None, "BTC")
    assert schedule.recipients == "books@example.test\ndesk@example.test"
    assert schedule.time_of_day == time(23, 59)


# -- a sample for a person to look at ---------------------------------------------------------------
def backdate(snapshot: Snapshot, back: timedelta, factor: Decimal) -> None:
    """An earlier copy of a refreshed snapshot, amounts scaled: a history for the change columns
    (the simulator serves only the present)."""
    lines = [
        BalanceLine(
            wallet=line.wallet,
            ccy=line.ccy,
            equity=line.equity * factor,
            usd_value=None if line.usd_value is None else line.usd_value * factor,
        )
        for line in snapshot.balances.all()
    ]
    copy = Snapshot(
        account_id=snapshot.account_id,
        cycle=snapshot.cycle - int(back.total_seconds() // 60),
        taken_at=snapshot.taken_at - back,
        total_equity_usd=quantize(snapshot.total_equity_usd * factor),
    )
    write_snapshot(copy, [replace_amounts(line) for line in lines], [])


def replace_amounts(line: BalanceLine) -> BalanceLine:
    line.equity, line.usd_value = quantize(line.equity), quantize(line.usd_value)
    return line


def test_a_rendered_sample_report_is_saved_as_a_png(make_simulator, settings):
    """The demo scenario's accounts refreshed against the simulator, key health checked, then one
    report rendered by Chromium; one account's key is frozen, so it shows the stale first line."""
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    for name in ("alpha-desk", "beta-readonly", "gamma-mm", "epsilon-futures", "zeta-frozen"):
        add_account(sim, name, master=main)
    add_account(sim, "delta-nokey", master=main, keyless=True)
    for account_id in main.__class__.objects.values_list("pk", flat=True):
        refresh_account(account_id, cycle=1)
    for credential_id in Credential.objects.values_list("pk", flat=True):
        keyhealth.check_key(credential_id)
    for snapshot in list(Snapshot.objects.all()):
        for back, factor in (
            (timedelta(days=1), "0.97"),
            (timedelta(days=7), "0.9"),
            (timedelta(days=30), "1.04"),
        ):
            backdate(snapshot, back, Decimal(factor))
    schedule = make_schedule("Morning desk report", time_zone="Europe/Berlin")
    # A whole second, after the refreshes: truncating now could put the slot before them.
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    delivery.deliver_slot(schedule.pk, now - timedelta(days=1))
    delivery.deliver_slot(schedule.pk, now)
    report = Report.objects.get(slot=now)
    assert report.stale_accounts == ["zeta-frozen"] and report.status == "sent"

    path = html_to_png(report.html, "report-sample", width=760)

    assert path.exists() and path.stat().st_size > 10_000


def test_balances_at_a_date_mark_a_demo_account_and_an_unpriced_line(client):
    """Paper money is marked as such on the page and in the CSV; an unpriced line says so."""
    from accounts.models import Environment

    demo = make_account("eta-demo")
    demo.environment = Environment.DEMO
    demo.save()
    make_snapshot(demo, NOW - timedelta(hours=1), balances=[("trading", "USDT", "100000", "100000")])
    live = make_account("main")
    make_snapshot(live, NOW - timedelta(hours=1), balances=[("funding", "XYZ", "5", "")])
    signed_in(client, "viewer")
    query = {"date": NOW.date().isoformat(), "time": NOW.time().isoformat("seconds"), "zone": "UTC"}
    page = client.get(reverse("reports:balances_at"), query).content.decode()
    card = page[page.index("eta-demo") :]
    assert "demo trading" in card[: card.index("</h3>")]
    response = client.get(reverse("reports:balances_at_csv"), query)
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert all("demo trading" in r["note"] for r in rows if r["account"] == "eta-demo")
    # Paper money has its own column: a SUM of usd_value is the live accounts' lines only.
    assert all(r["usd_value"] == "" for r in rows if r["account"] == "eta-demo")
    demo_rows = [(r["wallet"], r["demo_usd_value"]) for r in rows if r["account"] == "eta-demo"]
    assert demo_rows == [("trading", "100000"), ("earn", "")]  # Earn: not read, with the reason
    (xyz,) = [r for r in rows if r["currency"] == "XYZ"]
    assert (xyz["usd_value"], xyz["note"]) == ("", "unpriced")
