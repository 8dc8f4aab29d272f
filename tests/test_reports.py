"""Scheduled reports: when they fire (DST), what they say (totals, CSV, stale), sending once.

Snapshots are written with the workers' own write_snapshot; e-mail goes through Django's mail
framework (locmem in tests, or a small failing backend below: a fake of Django's mail transport,
not of our code). The concurrency test uses threads against the real test database.
"""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from smtplib import SMTPException

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Account, AccountKind
from reports import delivery
from reports.models import MAX_ATTEMPTS, Report, ReportSchedule, ReportStatus
from reports.tasks import send_scheduled_report
from snapshots.models import BalanceLine, PositionLine, Snapshot, Wallet, write_snapshot
from snapshots.numbers import format_amount

pytestmark = pytest.mark.django_db
BERLIN = "Europe/Berlin"


def make_account(name: str) -> Account:
    return Account.objects.create(name=name, kind=AccountKind.MASTER)


def make_snapshot(account: Account, taken_at: datetime, balances=(), positions=()) -> Snapshot:
    """balances: (wallet, ccy, amount, usd value) strings; total equity = the sum of USD values."""
    lines = [
        BalanceLine(wallet=w, ccy=c, equity=Decimal(a), usd_value=Decimal(u) if u else None)
        for w, c, a, u in balances
    ]
    total = sum((line.usd_value for line in lines if line.usd_value is not None), Decimal(0))
    snapshot = Snapshot(
        account=account,
        cycle=int(taken_at.timestamp()) // 60,
        taken_at=taken_at,
        total_equity_usd=total,
        trading_equity_usd=total,
        funding_usd=Decimal(0),
    )
    position_lines = [
        PositionLine(
            inst_id=i,
            inst_type="SWAP",
            side=s,
            size=Decimal(z),
            size_unit="contracts",
            upl=Decimal(u),
            upl_ccy="USDT",
            upl_usd=Decimal(u),  # a USDT-margined swap, USDT priced at 1
            notional_usd=Decimal(n),
        )
        for i, s, z, u, n in positions
    ]
    assert write_snapshot(snapshot, lines, position_lines)
    return snapshot


def make_schedule(name: str = "Morning", **fields) -> ReportSchedule:
    fields = {"time_of_day": time(8), "time_zone": BERLIN, "recipients": "desk@example.test", **fields}
    return ReportSchedule.objects.create(name=name, **fields)


def run_dispatcher(now: datetime) -> list[Report]:
    """What one beat tick does, in-process: the due (schedule, slot) pairs, each delivered."""
    sent = []
    for schedule_id, slot in delivery.due(now):
        delivery.deliver_slot(schedule_id, datetime.fromisoformat(slot))
        sent.append(Report.objects.get(schedule_id=schedule_id, slot=datetime.fromisoformat(slot)))
    return sent


def drive_minutes(start: datetime, end: datetime) -> list[Report]:
    return drive(minutes(start, end))


def minutes(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(int((end - start).total_seconds() // 60))]


def drive(instants: list[datetime]) -> list[Report]:
    """Run the dispatcher at each instant with the clock frozen there (time-machine)."""
    sent = []
    with time_machine.travel(instants[0], tick=False) as traveller:
        for now in instants:
            traveller.move_to(now)
            sent += run_dispatcher(now)
    return sent


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def column_sum(rows: list[dict[str, str]], column: str) -> Decimal:
    """What a spreadsheet's SUM over the whole column gives."""
    return sum((Decimal(r[column]) for r in rows if r[column]), Decimal(0))


def attachment_of(message) -> str:
    (name, content, mimetype), *_ = message.attachments
    assert mimetype == "text/csv" and name.endswith(".csv")
    return content


# -- when a schedule fires ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("created", "start", "expected_utc"),
    [
        # Autumn: CEST (UTC+2) until 25 October 2026 03:00, then CET (UTC+1).
        (
            "2026-10-23T12:00Z",
            "2026-10-24T00:00Z",
            ["2026-10-24T06:00", "2026-10-25T07:00", "2026-10-26T07:00"],
        ),
        # Spring: CET until 29 March 2026 02:00, then CEST.
        (
            "2026-03-27T12:00Z",
            "2026-03-28T00:00Z",
            ["2026-03-28T07:00", "2026-03-29T06:00", "2026-03-30T06:00"],
        ),
    ],
)
def test_a_daily_0800_berlin_schedule_fires_once_a_day_across_a_dst_change(created, start, expected_utc):
    with time_machine.travel(created, tick=False):
        make_schedule()
    begin = datetime.fromisoformat(start)
    # Every minute from 05:00 to 09:00 UTC (both possible firing times and their neighbours),
    # every 20 minutes for the rest of the three days: a minute loop over whole days only costs time.
    instants = []
    for day in range(3):
        midnight = begin + timedelta(days=day)
        instants += minutes(midnight, midnight + timedelta(hours=5))[::20]
        instants += minutes(midnight + timedelta(hours=5), midnight + timedelta(hours=9))
        instants += minutes(midnight + timedelta(hours=9), midnight + timedelta(days=1))[::20]

    sent = drive(instants)

    assert [r.slot.strftime("%Y-%m-%dT%H:%M") for r in sent] == expected_utc
    assert {r.local_slot.strftime("%H:%M %Z") for r in sent} <= {"08:00 CET", "08:00 CEST"}
    assert [r.status for r in sent] == [ReportStatus.SENT] * 3
    assert len(mail.outbox) == 3
    assert Report.objects.count() == 3


def test_an_edit_applies_at_the_next_minute_and_a_disabled_schedule_sends_nothing():
    with time_machine.travel("2026-06-01T00:00Z", tick=False):
        schedule = make_schedule(time_zone="UTC", time_of_day=time(9))
    assert drive_minutes(datetime(2026, 6, 1, 8, 0, tzinfo=UTC), datetime(2026, 6, 1, 8, 5, tzinfo=UTC)) == []
    schedule.time_of_day = time(8, 2)
    schedule.save()
    sent = drive_minutes(datetime(2026, 6, 1, 8, 0, tzinfo=UTC), datetime(2026, 6, 1, 8, 5, tzinfo=UTC))
    assert [r.slot for r in sent] == [datetime(2026, 6, 1, 8, 2, tzinfo=UTC)]
    schedule.enabled = False
    schedule.save()
    assert (
        drive_minutes(datetime(2026, 6, 2, 7, 59, tzinfo=UTC), datetime(2026, 6, 2, 8, 10, tzinfo=UTC)) == []
    )
    assert len(mail.outbox) == 1


def test_a_slot_missed_by_more_than_six_hours_is_recorded_as_skipped_not_sent():
    with time_machine.travel("2026-06-01T00:00Z", tick=False):
        make_schedule(time_zone="UTC")
    # The system was down from before 08:00 until 15:00.
    assert run_dispatcher(datetime(2026, 6, 1, 15, 0, tzinfo=UTC)) == []
    report = Report.objects.get()
    assert (report.status, report.slot.hour) == (ReportStatus.SKIPPED, 8)
    assert "missed" in report.last_error
    assert mail.outbox == []


def test_a_monthly_schedule_on_day_31_reports_on_the_last_day_of_shorter_months():
    with time_machine.travel("2026-01-01T00:00Z", tick=False):
        schedule = make_schedule(cadence="monthly", day_of_month=31, time_zone="UTC")
    slots = [
        schedule.latest_slot(datetime(2026, m, 1, tzinfo=UTC) + timedelta(days=31)) for m in (1, 2, 3, 4)
    ]
    assert [s.date().isoformat() for s in slots] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]


# -- what a report says ---------------------------------------------------------------------------
@pytest.fixture
def desk() -> tuple[list[Account], datetime]:
    """Three fake accounts with exact, many-digit amounts; snapshots 30 s before 08:00 UTC and a
    day, a week and a month earlier."""
    slot = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    accounts = [make_account(n) for n in ("Fake desk A", "Fake desk B", "Fake desk C")]
    now_lines = {
        "Fake desk A": [
            (Wallet.TRADING, "BTC", "0.123456789", "8641.97523"),
            (Wallet.TRADING, "USDT", "1500.5", "1500.5"),
        ],
        "Fake desk B": [(Wallet.TRADING, "USDT", "2500.123456789012345678", "2500.123456789012345678")],
        "Fake desk C": [(Wallet.FUNDING, "ETH", "1.5", "5250.75"), (Wallet.FUNDING, "FAKE", "10", None)],
    }
    for account in accounts:
        for days, factor in ((30, "0.8"), (7, "0.9"), (1, "0.95")):
            scaled = [
                (w, c, a, str(Decimal(u) * Decimal(factor)) if u else None)
                for w, c, a, u in now_lines[account.name]
            ]
            make_snapshot(account, slot - timedelta(days=days, seconds=30), scaled)
        make_snapshot(
            account,
            slot - timedelta(seconds=30),
            now_lines[account.name],
            positions=[("BTC-USDT-SWAP", "long", "0.5", "-12.25", "34567.5")]
            if account.name == "Fake desk A"
            else (),
        )
    return accounts, slot


def test_the_emails_totals_equal_the_stored_snapshot_totals_and_the_csv_sums_to_them(desk):
    accounts, slot = desk
    schedule = make_schedule(time_zone="UTC")
    expected = sum(
        Snapshot.objects.filter(account=a, taken_at__lte=slot).order_by("-taken_at").first().total_equity_usd
        for a in accounts
    )

    outcome = delivery.deliver_slot(schedule.pk, slot)

    assert outcome.status == "sent"
    (message,) = mail.outbox
    report = Report.objects.get()
    assert Decimal(report.totals["total_usd"]) == expected
    assert f"Total equity: {format_amount(expected, 'USD')} USD" in message.body
    html = message.alternatives[0][0]
    assert format_amount(expected, "USD") in html and "<script" not in html.lower()
    assert report.html == html and report.csv == attachment_of(message)
    rows = csv_rows(report.csv)
    # A spreadsheet's SUM of a whole column counts every figure once: the balance lines, the
    # accounts' equity and the team total each sum to the same number (unpriced FAKE excluded).
    assert column_sum(rows, "usd_value") == expected
    assert column_sum(rows, "account_equity_usd") == expected
    assert column_sum(rows, "total") == expected
    equity = [r for r in rows if r["section"] == "equity"]
    assert {r["account"] for r in equity} == {a.name for a in accounts}
    assert all(r["usd_value"] == "" for r in rows if r["section"] != "balance")
    day_before = sum(
        Snapshot.objects.filter(account=a, taken_at__lte=slot - timedelta(hours=24)).first().total_equity_usd
        for a in accounts
    )
    (change_24h,) = [r for r in rows if r["section"] == "change" and r["item"] == "24h"]
    assert Decimal(change_24h["change_usd"]) == expected - day_before
    (position,) = [r for r in rows if r["section"] == "position"]
    assert (position["position_size"], position["upl_usd"]) == ("0.5", "-12.25")
    assert not report.is_stale and not message.body.startswith("STALE")


def test_a_second_report_shows_the_change_since_the_previous_one(desk):
    _accounts, slot = desk
    schedule = make_schedule(time_zone="UTC")
    delivery.deliver_slot(schedule.pk, slot - timedelta(days=1))
    delivery.deliver_slot(schedule.pk, slot)
    first, second = Report.objects.order_by("slot")
    change = Decimal(second.totals["changes_usd"]["since previous report"])
    assert change == Decimal(second.totals["total_usd"]) - Decimal(first.totals["total_usd"])


def test_a_report_in_btc_uses_the_stored_btc_price(desk):
    _accounts, slot = desk
    schedule = make_schedule(time_zone="UTC", currency="BTC")
    delivery.deliver_slot(schedule.pk, slot)
    report = Report.objects.get()
    price = Decimal("8641.97523") / Decimal("0.123456789")
    assert report.currency == "BTC"
    assert Decimal(report.totals["total"]) == Decimal(report.totals["total_usd"]) / price
    assert "BTC" in mail.outbox[0].subject


def test_stale_or_missing_data_is_the_first_line_of_the_email_and_of_the_stored_report():
    slot = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    fresh, old, _empty = (make_account(n) for n in ("Fake fresh", "Fake old", "Fake empty"))
    make_snapshot(fresh, slot - timedelta(seconds=40), [(Wallet.TRADING, "USDT", "10", "10")])
    make_snapshot(old, slot - timedelta(hours=3), [(Wallet.TRADING, "USDT", "20", "20")])
    schedule = make_schedule(time_zone="UTC")

    delivery.deliver_slot(schedule.pk, slot)

    report = Report.objects.get()
    (message,) = mail.outbox
    first_line = message.body.splitlines()[0]
    assert first_line.startswith("STALE DATA")
    assert (
        "Fake old (last snapshot 2026-06-10 05:00 UTC)" in first_line
        and "Fake empty (no snapshot)" in first_line
    )
    assert "Fake fresh" not in first_line
    assert report.text.splitlines()[0] == first_line
    body = report.html.split("<body", 1)[1].split(">", 1)[1]
    assert body.lstrip().startswith("<div") and "STALE DATA" in body.split("</div>", 1)[0]
    assert message.subject.startswith("[STALE]")
    assert report.stale_accounts == ["Fake empty", "Fake old"]


def test_a_selection_of_accounts_reports_only_those():
    slot = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    a, b = make_account("Fake in"), make_account("Fake out")
    make_snapshot(a, slot - timedelta(seconds=10), [(Wallet.TRADING, "USDT", "1", "1")])
    make_snapshot(b, slot - timedelta(seconds=10), [(Wallet.TRADING, "USDT", "2", "2")])
    schedule = make_schedule(time_zone="UTC", all_accounts=False)
    schedule.accounts.set([a])
    delivery.deliver_slot(schedule.pk, slot)
    assert Report.objects.get().totals["accounts"] == {"Fake in": "1"}


# -- failures and the command ----------------------------------------------------------------------
class FailingBackend(BaseEmailBackend):
    """Django's mail transport refusing every message (as an SMTP server that is down would)."""

    failures_left = 10**6

    def send_messages(self, messages):
        if FailingBackend.failures_left > 0:
            FailingBackend.failures_left -= 1
            raise SMTPException("fake SMTP server: 451 try again later")
        mail.outbox.extend(messages)
        return len(messages)


def test_a_failed_send_is_recorded_retried_with_backoff_and_given_up_after_max_attempts(settings, desk):
    settings.EMAIL_BACKEND = "tests.test_reports.FailingBackend"
    FailingBackend.failures_left = 10**6
    _, slot = desk
    schedule = make_schedule(time_zone="UTC")

    send_scheduled_report.apply(args=(schedule.pk, slot.isoformat()))  # eager: Celery's retries run inline

    report = Report.objects.get()
    assert (report.status, report.attempts) == (ReportStatus.FAILED, MAX_ATTEMPTS)
    assert report.last_error == "SMTPException: fake SMTP server: 451 try again later"
    assert report.html  # produced once, kept for the record
    assert mail.outbox == []
    options = send_scheduled_report
    assert (options.retry_backoff, options.retry_jitter, options.max_retries) == (30, True, MAX_ATTEMPTS)


def test_a_send_that_fails_twice_is_sent_once_on_the_third_attempt(settings, desk):
    settings.EMAIL_BACKEND = "tests.test_reports.FailingBackend"
    FailingBackend.failures_left = 2
    _, slot = desk
    schedule = make_schedule(time_zone="UTC")

    send_scheduled_report.apply(args=(schedule.pk, slot.isoformat()))
    send_scheduled_report.apply(args=(schedule.pk, slot.isoformat()))  # a duplicate delivery

    report = Report.objects.get()
    assert (report.status, report.attempts, report.last_error) == (ReportStatus.SENT, 3, "")
    assert len(mail.outbox) == 1


def test_send_report_command_sends_one_and_refuses_an_unknown_name(desk):
    _, slot = desk
    make_schedule("Month end", time_zone=BERLIN)
    out = io.StringIO()
    call_command("send_report", "Month end", "--at", "2026-06-10T10:00:00", stdout=out)  # 10:00 CEST
    report = Report.objects.get()
    assert report.slot == slot and report.status == ReportStatus.SENT
    assert "Sent" in out.getvalue() and len(mail.outbox) == 1
    call_command("send_report", "Month end", "--at", "2026-06-10T08:00:00Z", stdout=out)
    assert len(mail.outbox) == 1 and "Already sent" in out.getvalue()
    with pytest.raises(CommandError, match=r"No report schedule named .Nope.\. Schedules: Month end"):
        call_command("send_report", "Nope")
    with pytest.raises(CommandError, match="not an ISO date-time"):
        call_command("send_report", "Month end", "--at", "31.12.2026")


# -- one e-mail per slot under concurrency (threads, real database; kept last: it flushes) ------
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_for_the_same_slot_send_one_email():
    slot = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    account = make_account("Fake concurrent")
    make_snapshot(account, slot - timedelta(seconds=5), [(Wallet.TRADING, "USDT", "7", "7")])
    schedule = make_schedule(time_zone="UTC")
    runs = 4
    barrier = threading.Barrier(runs)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            outcomes.append(delivery.deliver_slot(schedule.pk, slot).status)
        except BaseException as error:  # surfaced below, not swallowed
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(outcomes) == ["not claimed"] * (runs - 1) + ["sent"]
    assert len(mail.outbox) == 1
    report = Report.objects.get()
    assert (report.status, report.attempts) == (ReportStatus.SENT, 1)
