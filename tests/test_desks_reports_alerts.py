"""Desks in reports and alerts (issue 21): a viewer of desk A finds nothing of desk B's account
(its name, its figures) on the balances-at page or its CSV, in the stored reports of an A-desk
schedule (page, e-mail document, CSV), in the e-mail such a schedule sends (text, HTML and the
CSV attachment) or on the Alerts page; a report of every account, and B's, answer 404. An account
excluded from team totals is listed, marked, and never in a team total.

The team: Alpha (desk A), 10,000 -> 12,345.67 USD over the day; Alpha test (desk A, excluded from
team totals) 455.55 -> 555.55 USD; Bravo (desk B) 90,000 -> 98,765.43 USD, whose figures are distinctive
enough to search a body for.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.desks import Desk
from accounts.models import Account
from alerts.engine import evaluate
from alerts.models import AlertSettings, RiskRule
from alerts.risk import watched
from reports import delivery
from reports.models import Report
from snapshots.models import Snapshot, Wallet
from tests.accounts_support import make_user
from tests.test_reports import attachment_of, csv_rows, make_account, make_schedule, make_snapshot

pytestmark = pytest.mark.django_db

SLOT = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Every way Bravo's name and figures are written: the pages' and e-mail's grouped amounts, the
# CSV's exact numbers, its PnL over the day (+8,765.43).
BRAVO_TRACES = ("Bravo", "98,765.43", "98765.43", "8,765.43", "8765.43", "90,000.00")
ALPHA_EQUITY, EXCLUDED_EQUITY, BRAVO_EQUITY = Decimal("12345.67"), Decimal("555.55"), Decimal("98765.43")


def usdt(amount: str) -> list[tuple[str, str, str, str]]:
    return [(Wallet.TRADING, "USDT", amount, amount)]


@pytest.fixture
def team() -> dict:
    """Desks A (Alpha, Alpha test) and B (Bravo); a viewer of each desk and a key admin."""
    alpha, alpha_test, bravo = (make_account(n) for n in ("Alpha", "Alpha test", "Bravo"))
    Account.objects.filter(pk=alpha_test.pk).update(excluded_from_totals=True)
    readings = ((alpha, "10000", "12345.67"), (alpha_test, "455.55", "555.55"), (bravo, "90000", "98765.43"))
    for account, then, now in readings:
        make_snapshot(account, SLOT - timedelta(hours=24, seconds=30), usdt(then))
        make_snapshot(account, SLOT - timedelta(seconds=30), usdt(now))
    desk_a, desk_b = Desk.objects.create(name="A"), Desk.objects.create(name="B")
    desk_a.accounts.set([alpha, alpha_test])
    desk_b.accounts.set([bravo])
    viewer_a, viewer_b = make_user("viewer"), make_user("viewer")
    desk_a.members.add(viewer_a)
    desk_b.members.add(viewer_b)
    return {
        "alpha": alpha,
        "alpha_test": alpha_test,
        "bravo": bravo,
        "desk_a": desk_a,
        "desk_b": desk_b,
        "viewer_a": viewer_a,
        "viewer_b": viewer_b,
        "key_admin": make_user("key_admin"),
    }


def snap(account: Account, at: datetime, equity: str) -> None:
    Snapshot.objects.create(
        account=account, cycle=int(at.timestamp()) // 60, taken_at=at, total_equity_usd=Decimal(equity)
    )


def as_user(client, user):
    client.force_login(user, backend=MODEL_BACKEND)
    return client


def assert_no_bravo(text: str, where: str) -> None:
    found = [trace for trace in BRAVO_TRACES if trace in text]
    assert not found, f"{where} shows desk B's {found}"


def sent_report(schedule) -> Report:
    assert delivery.deliver_slot(schedule.pk, SLOT).status == "sent"
    return Report.objects.get(schedule=schedule, slot=SLOT)


# -- balances at a date ----------------------------------------------------------------------------
BALANCES_QUERY = "?date=2026-06-10&time=08:00:00&zone=UTC"


def test_balances_at_a_date_show_a_desk_viewer_their_desks_accounts_and_total_only(client, team):
    as_user(client, team["viewer_a"])
    page = client.get(reverse("reports:balances_at") + BALANCES_QUERY).content.decode()
    text = client.get(reverse("reports:balances_at_csv") + BALANCES_QUERY).content.decode()

    assert_no_bravo(page, "the balances page")
    assert_no_bravo(text, "the balances CSV")
    assert "Alpha" in page and "12,345.67" in page and "Total of your desks' accounts (live)" in page
    # The excluded account is listed, marked, and not in the total (12,345.67, not 12,901.22).
    assert "excluded from team totals</span>" in page and "555.55" in page and "12,901.22" not in page
    rows = csv_rows(text)
    (total,) = [r for r in rows if r["row"] == "team total"]
    assert Decimal(total["team_total_usd"]) == ALPHA_EQUITY
    excluded = [r for r in rows if r["row"] == "excluded balance"]
    assert {r["account"] for r in excluded} == {"Alpha test"}
    assert (
        sum(Decimal(r["excluded_usd_value"]) for r in excluded if r["excluded_usd_value"]) == EXCLUDED_EQUITY
    )
    # A spreadsheet's SUM of usd_value is the total's lines only.
    assert sum(Decimal(r["usd_value"]) for r in rows if r["usd_value"]) == ALPHA_EQUITY


def test_a_key_admin_sees_every_desk_in_the_balances_and_the_team_total_leaves_the_excluded_out(client, team):
    as_user(client, team["key_admin"])
    page = client.get(reverse("reports:balances_at") + BALANCES_QUERY).content.decode()
    rows = csv_rows(client.get(reverse("reports:balances_at_csv") + BALANCES_QUERY).content.decode())

    assert "Bravo" in page and "98,765.43" in page and "Team total (live accounts)" in page
    (total,) = [r for r in rows if r["row"] == "team total"]
    assert Decimal(total["team_total_usd"]) == ALPHA_EQUITY + BRAVO_EQUITY
    assert "111,111.10 USD" in page  # 12,345.67 + 98,765.43


# -- a desk's scheduled report -------------------------------------------------------------------
def test_a_desk_schedule_reports_and_mails_its_desks_accounts_only(team):
    schedule = make_schedule("Desk A daily", time_zone="UTC", time_of_day=time(8), desk=team["desk_a"])

    report = sent_report(schedule)

    (message,) = mail.outbox
    html = message.alternatives[0][0]
    attachment = attachment_of(message)
    for where, text in (("the e-mail", message.body), ("its HTML", html), ("its CSV", attachment)):
        assert_no_bravo(text, where)
        assert "Alpha" in text
    assert message.subject.startswith("Desk A daily: 12,345.67 USD")
    assert "Desk A: its accounts only" in message.body and "Desk PnL net of transfers" in message.body
    # Its total and PnL are the desk's in-team accounts': Alpha's, never the excluded one's.
    assert report.totals["total_usd"] == "12345.67" and report.totals["desk"] == "A"
    assert report.totals["accounts"] == {"Alpha": "12345.67"}
    assert report.totals["excluded_accounts"] == {"Alpha test": "555.55"}
    assert report.totals["pnl_usd"] == "2345.67"
    assert "Excluded from team totals (not in the total): subtotal 555.55 USD" in message.body
    assert "Excluded from team totals: subtotal 555.55 USD" in html
    rows = csv_rows(attachment)
    (pnl,) = [r for r in rows if r["section"] == "pnl"]
    assert pnl["pnl_usd"] == "2345.67" and "desk A: its accounts only" in pnl["note"]
    assert [(r["account"], r["excluded_equity_usd"]) for r in rows if r["section"] == "excluded equity"] == [
        ("Alpha test", "555.55")
    ]
    assert report.desk == team["desk_a"]


def test_an_all_accounts_report_totals_the_team_without_the_excluded_account(team):
    report = sent_report(make_schedule("Team daily", time_zone="UTC"))

    assert Decimal(report.totals["total_usd"]) == ALPHA_EQUITY + BRAVO_EQUITY
    assert report.totals["accounts"] == {"Alpha": "12345.67", "Bravo": "98765.43"}
    assert report.totals["excluded_accounts"] == {"Alpha test": "555.55"}
    # The team's PnL: Alpha's +2,345.67 and Bravo's +8,765.43; the excluded account's is not in it.
    assert report.totals["pnl_usd"] == "11111.1"
    assert report.desk is None and report.totals["desk"] is None


def test_a_desk_viewer_lists_and_opens_their_desks_reports_and_gets_404_for_the_others(client, team):
    mine = sent_report(make_schedule("Desk A daily", time_zone="UTC", desk=team["desk_a"]))
    theirs = sent_report(make_schedule("Desk B daily", time_zone="UTC", desk=team["desk_b"]))
    everyone = sent_report(make_schedule("Team daily", time_zone="UTC"))
    as_user(client, team["viewer_a"])

    listing = client.get(reverse("reports:list")).content.decode()
    assert "Desk A daily" in listing and "desk A" in listing
    assert "Desk B daily" not in listing and "Team daily" not in listing
    assert_no_bravo(listing, "the reports list")
    for name in ("detail", "email", "csv"):
        response = client.get(reverse(f"reports:{name}", args=[mine.pk]))
        assert response.status_code == 200, name
        body = response.content.decode()
        assert "Alpha" in body
        assert_no_bravo(body, f"the A report's {name}")
        for other in (theirs, everyone):
            assert client.get(reverse(f"reports:{name}", args=[other.pk])).status_code == 404, (name, other)


def test_users_who_see_every_account_list_every_report(client, team):
    for name, desk in (
        ("Desk A daily", team["desk_a"]),
        ("Desk B daily", team["desk_b"]),
        ("Team daily", None),
    ):
        sent_report(make_schedule(name, time_zone="UTC", desk=desk))
    as_user(client, team["key_admin"])
    listing = client.get(reverse("reports:list")).content.decode()
    assert all(name in listing for name in ("Desk A daily", "Desk B daily", "Team daily"))
    for report in Report.objects.all():
        assert client.get(reverse("reports:detail", args=[report.pk])).status_code == 200


def test_a_deleted_desks_old_reports_are_for_users_who_see_everything_only(client, team):
    report = sent_report(make_schedule("Desk A daily", time_zone="UTC", desk=team["desk_a"]))
    report.schedule.delete()  # a desk with a schedule cannot be deleted (PROTECT): its schedule first
    team["desk_a"].delete()
    as_user(client, team["viewer_a"])
    assert client.get(reverse("reports:detail", args=[report.pk])).status_code == 404


def test_a_schedule_moved_to_a_desk_does_not_compare_with_the_teams_earlier_report(team):
    schedule = make_schedule("Daily", time_zone="UTC")
    earlier = SLOT - timedelta(days=1)
    assert delivery.deliver_slot(schedule.pk, earlier).status == "sent"
    schedule.desk = team["desk_a"]
    schedule.save()

    report = sent_report(schedule)

    # A change against the team's earlier total would tell desk A's readers the team's total.
    assert report.totals["changes_usd"]["since previous report"] is None


# -- alerts --------------------------------------------------------------------------------------
def test_a_desk_viewer_sees_alerts_about_their_desks_accounts_and_the_systems_only(client, team):
    AlertSettings.objects.update_or_create(pk=1, defaults={"equity_drop": True, "equity_drop_percent": 5})
    now = timezone.now()
    for account, then, at_now in ((team["alpha"], "10000", "8000"), (team["bravo"], "90000", "61234.56")):
        snap(account, now - timedelta(hours=24, minutes=30), then)
        snap(account, now - timedelta(seconds=30), at_now)
    # Alpha lost 20 %, Bravo 32 %: two loss alerts; Alpha test (not read since June) is stale.
    evaluate(now=now)
    evaluate(now=now + timedelta(hours=1))  # no refresh for an hour: "refresh stopped" too

    as_user(client, team["viewer_a"])
    page = client.get(reverse("alerts:index")).content.decode()
    assert "Loss: Alpha lost 20.0 %" in page and "Account stale: Alpha test" in page
    assert "Refresh stopped" in page  # about no account: the system's, for everyone
    assert "Bravo" not in page and "28,765.44" not in page and "61,234.56" not in page
    assert "3 firing." in page

    as_user(client, team["key_admin"])
    page = client.get(reverse("alerts:index")).content.decode()
    assert "Loss: Alpha lost 20.0 %" in page and "Loss: Bravo lost 32.0 %" in page and "4 firing." in page


def test_an_account_excluded_from_team_totals_is_still_watched_by_the_per_account_rules(team):
    """Its money and risk are real: the flag keeps it out of the team's sums only."""
    AlertSettings.objects.update_or_create(pk=1, defaults={"equity_drop": True, "equity_drop_percent": 5})
    now = timezone.now()
    account = team["alpha_test"]
    snap(account, now - timedelta(hours=24, minutes=30), "555.55")
    snap(account, now - timedelta(seconds=30), "400")  # 28 % lost

    evaluate(now=now)

    assert account.alerts.filter(rule="equity_drop", state="firing").exists()
    every = RiskRule(name="every", kind="margin_ratio", threshold=Decimal(150), all_accounts=True)
    assert account in watched(every)
