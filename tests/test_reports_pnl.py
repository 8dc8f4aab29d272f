"""A report holds each account's PnL over its period and the team's, net of transfers, in every
form it takes (the e-mail's text and HTML, the CSV attachment, the stored totals); a PnL that
cannot be known is "—" with the reason. The period runs from the schedule's previous slot to this
one: 24 hours for a daily report, 7 days for a weekly one."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import Account
from ledger.models import FlowKind
from reports import delivery
from reports.models import Report
from snapshots.models import Wallet
from tests.ledger_support import stored_flow
from tests.test_reports import csv_rows, make_account, make_schedule, make_snapshot

pytestmark = pytest.mark.django_db

SLOT = datetime(2026, 6, 10, 6, 0, tzinfo=UTC)  # 08:00 in Berlin (CEST)


def usdt(amount: str) -> list[tuple[str, str, str, str]]:
    return [(Wallet.TRADING, "USDT", amount, amount)]


@pytest.fixture
def desks() -> dict[str, Account]:
    """Fake A: 10,000 -> 11,000 with a deposit of 2,000: PnL -1,000. Fake B: 5,000 -> 5,500: +500.
    Both were read 8 days ago too, at the same equity as a day ago."""
    a, b = make_account("Fake A"), make_account("Fake B")
    for account, then, now in ((a, "10000", "11000"), (b, "5000", "5500")):
        make_snapshot(account, SLOT - timedelta(days=8), usdt(then))
        make_snapshot(account, SLOT - timedelta(hours=25), usdt(then))
        make_snapshot(account, SLOT - timedelta(seconds=30), usdt(now))
    stored_flow(a, FlowKind.DEPOSIT, "2000", SLOT - timedelta(hours=5), "d1", state="2")
    return {"a": a, "b": b}


def test_a_daily_report_holds_each_accounts_pnl_and_the_teams_for_its_24_hours(desks):
    schedule = make_schedule(time_of_day=time(8))  # Europe/Berlin

    assert delivery.deliver_slot(schedule.pk, SLOT).status == "sent"

    report = Report.objects.get()
    (message,) = mail.outbox
    assert report.totals["pnl_period"] == [(SLOT - timedelta(hours=24)).isoformat(), SLOT.isoformat()]
    assert report.totals["accounts_pnl_usd"] == {"Fake A": "-1000", "Fake B": "500"}
    assert report.totals["pnl_usd"] == "-500"

    text = message.body
    # Returns: daily Modified Dietz (days split at midnight, UTC here). The deposit at 01:00 weighs
    # 5/6 of the day from 00:00 to 06:00: Fake A -1,000 / 11,666.67; the team -500 / 16,666.67.
    assert (
        "Team PnL net of transfers, 2026-06-09 08:00 CEST to 2026-06-10 08:00 CEST: -500.00 USD "
        "(return -3.00%), net inflow +2,000.00 USD"
    ) in text
    assert "; PnL -1,000.00 -8.57%; snapshot 2026-06-10 07:59 CEST)" in text.split("Fake A: 11,000.00")[1]
    assert "; PnL +500.00 +10.00%; snapshot 2026-06-10 07:59 CEST)" in text.split("Fake B: 5,500.00")[1]

    html = message.alternatives[0][0]
    assert "Team PnL net of transfers," in html and "2026-06-09" in html
    assert 'data-label="PnL net of transfers"' in html and ">-1,000.00<" in html and ">+500.00<" in html
    assert report.html == html

    rows = csv_rows(report.csv)
    (team,) = [r for r in rows if r["section"] == "pnl"]
    assert (team["pnl_usd"], team["net_inflow_usd"], team["currency"]) == ("-500", "2000", "USD")
    assert team["item"] == "pnl net of transfers 2026-06-09T06:00:00+00:00 to 2026-06-10T06:00:00+00:00"
    accounts = {r["account"]: r for r in rows if r["section"] == "account pnl"}
    assert {name: (r["account_pnl_usd"], r["account_net_inflow_usd"]) for name, r in accounts.items()} == {
        "Fake A": ("-1000", "2000"),
        "Fake B": ("500", "0"),
    }
    assert Decimal(accounts["Fake B"]["return_pct"]) == Decimal(10)
    # One kind of figure per column: the accounts' PnL add up to the team's.
    assert sum(Decimal(r["account_pnl_usd"]) for r in accounts.values()) == Decimal(team["pnl_usd"])


def test_a_weekly_report_counts_the_pnl_of_its_week(desks):
    make_snapshot(desks["b"], SLOT - timedelta(days=3), usdt("4000"))
    # 5,000 + 1,000 -> 4,000
    stored_flow(desks["b"], FlowKind.DEPOSIT, "1000", SLOT - timedelta(days=3, hours=1), "d2", state="2")
    schedule = make_schedule(time_of_day=time(8), cadence="weekly", weekday=SLOT.weekday())

    delivery.deliver_slot(schedule.pk, SLOT)

    report = Report.objects.get()
    assert report.totals["pnl_period"][0] == (SLOT - timedelta(days=7)).isoformat()
    # Fake B: 5,000 a week ago, 5,500 now, 1,000 paid in: +500 - 1,000 = -500.
    assert report.totals["accounts_pnl_usd"] == {"Fake A": "-1000", "Fake B": "-500"}


def test_a_pnl_that_cannot_be_valued_is_a_dash_with_the_reason_never_zero(desks):
    stored_flow(
        desks["b"],
        FlowKind.DEPOSIT,
        "3",
        SLOT - timedelta(hours=2),
        "d3",
        usd=None,
        ccy="XYZ",
        state="2",
        usd_basis="no USD price for XYZ",
    )
    schedule = make_schedule(time_of_day=time(8))

    delivery.deliver_slot(schedule.pk, SLOT)

    report = Report.objects.get()
    assert report.totals["accounts_pnl_usd"] == {"Fake A": "-1000", "Fake B": None}
    assert report.totals["pnl_usd"] is None
    text = mail.outbox[0].body
    assert (
        "PnL —: a cash flow has no USD value (no USD price for XYZ); snapshot"
        in text.split("Fake B: 5,500.00")[1]
    )
    assert (
        "Team PnL net of transfers, 2026-06-09 08:00 CEST to 2026-06-10 08:00 CEST: — USD (Fake B: " in text
    )
    rows = csv_rows(report.csv)
    b = next(r for r in rows if r["section"] == "account pnl" and r["account"] == "Fake B")
    assert b["account_pnl_usd"] == "" and "no USD price for XYZ" in b["note"]
    (team,) = [r for r in rows if r["section"] == "pnl"]
    assert team["pnl_usd"] == "" and team["note"].startswith("Fake B: a cash flow has no USD value")


def test_an_account_read_first_within_the_period_counts_from_then_in_the_reports_zone(desks):
    young = make_account("Fake young")
    make_snapshot(young, SLOT - timedelta(hours=5), usdt("1000"))  # 03:00 in Berlin
    make_snapshot(young, SLOT - timedelta(seconds=30), usdt("900"))
    schedule = make_schedule(time_of_day=time(8))

    delivery.deliver_slot(schedule.pk, SLOT)

    report = Report.objects.get()
    assert report.totals["accounts_pnl_usd"]["Fake young"] == "-100"  # not -900: its whole equity
    line = mail.outbox[0].body.split("Fake young: 900.00")[1].splitlines()[0]
    assert "PnL -100.00 -10.00%, since the first reading, 2026-06-10 03:00 CEST; snapshot" in line


def test_the_html_email_fits_a_phone_with_the_period_once_and_the_notes_as_footnotes(desks):
    """At 390 px (a phone's mail app) the e-mail scrolls nowhere sideways, positions too; the PnL
    table states its period once above it, each PnL cell is a figure, and an account's notes are
    one footnote."""
    from tests.browser import chromium, screenshot_path
    from tests.test_reports_read_well import write_positions

    futures = make_account("delta-futures")  # an inverse swap and a MARGIN position: wide figures
    write_positions(futures, SLOT - timedelta(days=8))
    write_positions(futures, SLOT - timedelta(minutes=1))
    young = make_account("epsilon-futures-desk")
    make_snapshot(young, SLOT - timedelta(hours=5), usdt("1000"))
    make_snapshot(young, SLOT - timedelta(seconds=30), usdt("900"))
    schedule = make_schedule(time_of_day=time(8))
    delivery.deliver_slot(schedule.pk, SLOT)
    html = Report.objects.get().html

    with chromium() as browser:
        for width in (1366, 390):
            tab = browser.new_page(viewport={"width": width, "height": 800})
            tab.set_content(html, wait_until="load")
            tab.screenshot(path=str(screenshot_path(f"report-email-pnl-{width}")), full_page=True)
            assert tab.evaluate("document.documentElement.scrollWidth") <= width
            period = tab.locator(".pnl-period").inner_text()
            assert period == "PnL net of transfers from 2026-06-09 08:00 CEST to 2026-06-10 08:00 CEST"
            young_pnl = tab.locator("table.account-pnl tr", has_text="epsilon-futures-desk").locator("td.pnl")
            amount, mark, ret = young_pnl.inner_text().split()  # the figure, its footnote, its return
            assert (amount, ret) == ("-100.00", "-10.00%")
            notes = tab.locator("ol.pnl-notes li").all_inner_texts()
            assert (
                notes[int(mark) - 1] == "epsilon-futures-desk: since the first reading, 2026-06-10 03:00 CEST"
            )
            # Once per account: the cells carry no notes.
            assert "since the first reading" not in tab.locator("table.account-pnl").inner_text()
            tab.close()
