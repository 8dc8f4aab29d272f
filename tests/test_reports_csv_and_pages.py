"""Issue 17 (findings 3 and 4) and issue 18 item 10: every CSV through one writer with the formula
guard, dates that overflow answer 400, and the reports pages (schedules with their next run,
"Send now" for key admins, the menu, balances at a date with a grand total)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from reports import delivery
from reports.models import Report
from snapshots.models import Wallet
from tests.accounts_support import make_user
from tests.test_reports import attachment_of, make_account, make_schedule, make_snapshot

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
HOSTILE_NAMES = ('=HYPERLINK("http://x","y")', "@SUM(A1)")
HOSTILE_CODES = ("+1", "-1+2")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def signed_in(client, role: str):
    client.force_login(make_user(role), backend=MODEL_BACKEND)
    return client


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def dict_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def column_sum(rows: list[dict[str, str]], column: str) -> Decimal:
    """What a spreadsheet's SUM over the whole column gives."""
    return sum((Decimal(r[column]) for r in rows if r[column]), Decimal(0))


# -- one writer, with the formula guard (17.3) ----------------------------------------------------
@pytest.fixture
def hostile() -> tuple[list, datetime]:
    """Accounts named like formulas, holding currencies coded like formulas, one amount negative."""
    slot = NOW - timedelta(hours=1)
    accounts = [make_account(name) for name in HOSTILE_NAMES]
    for account in accounts:
        make_snapshot(
            account,
            slot - timedelta(minutes=1),
            [
                (Wallet.TRADING, HOSTILE_CODES[0], "5", "5"),
                (Wallet.TRADING, HOSTILE_CODES[1], "-12.5", "-12.5"),
            ],
        )
    return accounts, slot


def assert_guarded(text: str, where: str, names: tuple[str, ...] = HOSTILE_NAMES) -> None:
    cells = [cell for row in rows_of(text) for cell in row]
    for cell in cells:
        assert not cell.startswith(FORMULA_STARTS) or PLAIN_NUMBER.match(cell), (where, cell)
    for name in (*names, *HOSTILE_CODES):
        assert "'" + name in cells, (where, name)
    assert "-12.5" in cells, where  # a real negative number stays a number


def test_every_csv_the_product_writes_guards_formulas_and_keeps_numbers(client, hostile):
    accounts, slot = hostile
    schedule = make_schedule(time_zone="UTC")
    assert delivery.deliver_slot(schedule.pk, slot).status == "sent"
    report = Report.objects.get()
    signed_in(client, "viewer")
    query = {"date": NOW.date().isoformat(), "time": "12:00:00", "zone": "UTC"}
    files = {
        "balances at a date": client.get(reverse("reports:balances_at_csv"), query).content.decode(),
        "stored report": client.get(reverse("reports:csv", args=[report.pk])).content.decode(),
        "e-mail attachment": attachment_of(mail.outbox[0]),
    }
    for where, text in files.items():
        assert_guarded(text, where)
    api_balances = client.get(reverse("api:balances_csv", args=[accounts[0].pk])).content.decode()
    assert_guarded(api_balances, "api balances", names=HOSTILE_NAMES[:1])
    api_accounts = client.get(reverse("api:accounts_csv")).content.decode()
    names = [row["name"] for row in dict_rows(api_accounts)]
    assert sorted(names) == sorted("'" + name for name in HOSTILE_NAMES)


# -- dates that overflow (17.4) -------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        {"date": "0001-01-01", "time": "00:00", "zone": "Asia/Tokyo"},
        {"date": "9999-12-31", "time": "23:59:59", "zone": "America/New_York"},
    ],
)
def test_a_date_that_overflows_answers_400_with_a_message(client, settings, query):
    settings.DEBUG = False
    signed_in(client, "viewer")
    page = client.get(reverse("reports:balances_at"), query)
    assert page.status_code == 400
    assert "outside the dates the dashboard can hold" in page.content.decode()
    assert "Snapshot taken" not in page.content.decode()
    response = client.get(reverse("reports:balances_at_csv"), query)
    assert response.status_code == 400
    assert "outside the dates the dashboard can hold" in response.content.decode()


# -- balances at a date: grand total, consistent amounts, totals in their own columns -------------
def test_balances_at_a_date_show_a_grand_total_and_amounts_with_one_format(client):
    for name, amount in (("alpha", "48210.33"), ("beta", "3100")):
        make_snapshot(
            make_account(name), NOW - timedelta(hours=1), [(Wallet.TRADING, "USDT", amount, amount)]
        )
    demo = make_account("eta-demo")
    demo.environment = "demo"
    demo.save()
    make_snapshot(demo, NOW - timedelta(hours=1), [(Wallet.TRADING, "USDT", "100000", "100000")])
    signed_in(client, "viewer")
    query = {"date": NOW.date().isoformat(), "time": "12:00:00", "zone": "UTC"}
    page = client.get(reverse("reports:balances_at"), query).content.decode()
    assert "Team total (live accounts)" in page and "51,310.33 USD" in page
    assert "48,210.33" in page and "3,100.00" in page and "48,210.33000000" not in page
    rows = dict_rows(client.get(reverse("reports:balances_at_csv"), query).content.decode())
    # A SUM of any one column counts each figure once; paper money is in none of them.
    assert column_sum(rows, "usd_value") == Decimal("51310.33")
    assert column_sum(rows, "account_total_usd") == Decimal("51310.33")
    assert column_sum(rows, "team_total_usd") == Decimal("51310.33")
    (team,) = [r for r in rows if r["row"] == "team total"]
    assert team["usd_value"] == "" and "demo trading is in no total" in team["note"]


# -- the reports list: schedules, next run, send now, menu (18.10) --------------------------------
def test_the_list_shows_each_schedule_with_its_next_run_in_the_users_zone(client, settings):
    settings.DISPLAY_TIME_ZONE = "Asia/Tokyo"
    make_schedule("Morning", time_of_day=time(8), time_zone="Europe/Berlin")
    signed_in(client, "viewer")
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("reports:list")).content.decode()
    assert "A key admin adds a schedule" not in page and "No report schedules yet" not in page
    # 08:00 in Berlin (CEST) on 1 July is 06:00 UTC, 15:00 in Tokyo.
    assert "Morning" in page and "2026-07-01 15:00 JST" in page
    assert "Send now" not in page  # viewers cannot send


def test_the_list_without_schedules_says_a_key_admin_adds_one(client):
    signed_in(client, "viewer")
    page = client.get(reverse("reports:list")).content.decode()
    assert "No report schedules yet. A key admin adds one" in page


def test_a_key_admin_sends_a_schedules_report_now(client):
    make_snapshot(make_account("alpha"), NOW - timedelta(minutes=5), [(Wallet.TRADING, "USDT", "10", "10")])
    schedule = make_schedule("Morning", time_zone="UTC", recipients="a@example.test, b@example.test")
    admin = make_user("key_admin")
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(admin, backend=MODEL_BACKEND)
    url = reverse("reports:send_now", args=[schedule.pk])
    assert csrf_client.post(url).status_code == 403  # no CSRF token: refused, nothing sent
    assert mail.outbox == [] and not Report.objects.exists()

    client.force_login(admin, backend=MODEL_BACKEND)
    assert "Send now" in client.get(reverse("reports:list")).content.decode()
    assert client.get(url).status_code == 405
    with time_machine.travel(NOW, tick=False):
        response = client.post(url, follow=True)
    page = response.content.decode()
    assert "Sent Morning to 2 recipients." in page and f"sent now by {admin.username}" in page
    (message,) = mail.outbox
    assert message.to == ["a@example.test", "b@example.test"]
    report = Report.objects.get()
    assert (report.status, report.slot, report.requested_by) == ("sent", NOW, admin.username)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_other_roles_cannot_send_a_report_now(client, role):
    schedule = make_schedule("Morning", time_zone="UTC")
    signed_in(client, role)
    assert client.post(reverse("reports:send_now", args=[schedule.pk])).status_code == 403
    assert mail.outbox == [] and not Report.objects.exists()


def test_the_menu_marks_reports_and_alerts_when_you_are_on_them(client):
    signed_in(client, "viewer")
    for url, label in ((reverse("reports:list"), "Reports"), (reverse("reports:balances_at"), "Reports"),
                       ("/alerts/", "Alerts")):  # fmt: skip
        page = client.get(url).content.decode()
        current = re.findall(r'<a href="[^"]*" class="current" aria-current="page">([^<]+)</a>', page)
        assert current == [label], url


# -- in a real browser: the three pages at 1366 and 390 px ----------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_reports_pages_fit_1366_and_390_px_without_csp_violations(live_server):
    from tests.accounts_support import PASSWORD, ensure_roles
    from tests.browser import chromium, screenshot_path, sign_in

    ensure_roles()
    slot = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    for name, amount in (("alpha-desk", "48210.33"), ("beta-desk", "3100")):
        lines = [(Wallet.TRADING, "USDT", amount, amount), (Wallet.FUNDING, "BTC", "0.5", "30000")]
        make_snapshot(make_account(name), slot - timedelta(minutes=1), lines)
    schedule = make_schedule("Morning", time_zone="Europe/Berlin")
    delivery.deliver_slot(schedule.pk, slot)
    report = Report.objects.get()
    user = make_user("key_admin")
    day = slot.date().isoformat()
    pages = {
        "reports-list": reverse("reports:list"),
        "reports-detail": reverse("reports:detail", args=[report.pk]),
        "reports-balances-at": f"{reverse('reports:balances_at')}?date={day}&time=23:59:59&zone=UTC",
    }
    console: list[str] = []
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1366, "height": 900})
        tab.on("console", lambda message: console.append(message.text))
        sign_in(tab, live_server.url, user.username, PASSWORD)
        for width in (1366, 390):
            tab.set_viewport_size({"width": width, "height": 900})
            for name, url in pages.items():
                tab.goto(f"{live_server.url}{url}")
                tab.screenshot(path=str(screenshot_path(f"{name}-{width}")), full_page=True)
                overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, (name, width, overflow)
                assert tab.locator("iframe").count() == 0
                assert tab.locator(".topbar a.current").inner_text() == "Reports"
    assert [text for text in console if "Content Security Policy" in text] == []


@pytest.mark.parametrize(
    "text",
    [" =1+1", "\n=1+1", "\u00a0=1+1", "\u200b=1+1", "\ufeff@SUM(A1)", "\uff1d1+1", "\uff0bCMD"],
    ids=["space", "newline", "nbsp", "zero-width", "bom", "fullwidth-equals", "fullwidth-plus"],
)
def test_a_formula_behind_whitespace_invisible_or_fullwidth_characters_is_guarded_too(text):
    from reports.csvfile import cell

    assert cell(text) == "'" + text
    assert cell("BTC-USDT") == "BTC-USDT" and cell(Decimal("-12.5")) == "-12.5"
