"""Issue 18 (review H2): a report says the same changes as the overview, and reads well.

1. A desk younger than the change window: the report's change boxes, its per-account changes, the
   plain-text e-mail and the CSV give the overview's "since first data" figures, not "—".
2. Amounts are written as on the account page (snapshots.numbers): coin PnL rounded with its sign,
   sizes with thousands separators.
3. In Chromium: no word is split across lines at 1366 px, and at 390 px the stored report and the
   list of sent reports show every figure inside the screen, with nothing scrolling sideways.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from reports import delivery
from reports.models import Report
from snapshots import queries
from snapshots.models import BalanceLine, PositionLine, Snapshot, Wallet, write_snapshot
from snapshots.numbers import format_percent
from tests.accounts_support import make_user
from tests.test_reports import make_account, make_schedule, make_snapshot

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def usdt(amount: str) -> list[tuple[str, str, str, str]]:
    return [(Wallet.TRADING, "USDT", amount, amount)]


def words(html: str) -> str:
    """The text a reader sees in a piece of HTML, on one line."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def figure(text: str) -> Decimal:
    """A figure as a page shows it ("-102.54 USD", "+1,234.50"; a minus sign too) as a Decimal."""
    number = text.replace("\u2212", "-").replace(",", "").replace("USD", "").strip()
    return Decimal(number)


@pytest.fixture
def young_desk() -> dict[str, object]:
    """Two accounts at NOW: "young" first read 5 h ago (less than a day), "old" with 10 days of
    history (a whole 24 h and 7 d, less than 30 d). Young lost 102.54, old gained 40."""
    young, old = make_account("young-desk"), make_account("old-desk")
    make_snapshot(young, NOW - timedelta(hours=5), usdt("1102.54"))
    make_snapshot(young, NOW - timedelta(minutes=1), usdt("1000"))
    make_snapshot(old, NOW - timedelta(days=10), usdt("5000"))
    make_snapshot(old, NOW - timedelta(days=2), usdt("5010"))
    make_snapshot(old, NOW - timedelta(minutes=1), usdt("5050"))
    return {"young": young, "old": old}


def overview_figures() -> tuple[queries.Totals, dict[str, queries.AccountRow]]:
    rows = queries.account_rows()
    return queries.totals(rows), {row.account.name: row for row in rows}


def test_a_report_gives_the_overviews_changes_since_first_data_not_a_dash(client, young_desk):
    schedule = make_schedule(time_zone="UTC")
    client.force_login(make_user("viewer"), backend=MODEL_BACKEND)
    with time_machine.travel(NOW, tick=False):
        totals, rows = overview_figures()
        overview = client.get("/").content.decode()
        delivery.deliver_slot(schedule.pk, NOW)
    report = Report.objects.get()

    # The overview: 24 h is -62.54 (young since its first data, old over the whole day); 7 d
    # -52.54 the same way; 30 d: both since their first data.
    kpi = re.search(r'id="change-24h">([^<]*)<', overview).group(1)
    assert figure(kpi) == totals.change_24h.usd == Decimal("-62.54") and totals.change_24h.mixed
    assert totals.change_7d.usd == Decimal("-52.54") and totals.change_7d.mixed
    young_change = rows["young-desk"].change_24h
    assert young_change.usd == Decimal("-102.54") and young_change.since == NOW - timedelta(hours=5)
    percent = format_percent(totals.change_24h.ratio)

    # The stored report (its page shows the same document), the e-mail text and the CSV.
    page = client.get(reverse("reports:detail", args=[report.pk])).content.decode()
    mixed = "accounts with less history since their first data from 2026-06-10 03:00 UTC"
    for html in (report.html, page):
        boxes = [words(box) for box in re.findall(r'class="change-box".*?</td>', html, re.S)]
        assert "-62.54" in boxes[0] and percent in boxes[0] and mixed in boxes[0]
        assert "-52.54" in boxes[1] and "accounts with less history" in boxes[1]
        assert "-52.54" in boxes[2] and "since first data 2026-05-31 08:00 UTC" in boxes[2]
        changes = html[html.index('class="rt account-changes"') :]  # each account on two rows
        account_rows = re.findall(r"<tr>\s*<td class=\"rt-title\".*?</tr>\s*<tr>.*?</tr>", changes, re.S)
        young_row = next(words(row) for row in account_rows if "young-desk" in row)
        assert "-102.54" in young_row and "since first data 2026-06-10 03:00 UTC" in young_row
        old_row = next(row for row in account_rows if "old-desk" in row)
        assert "+40.00" in old_row and "+50.00" in old_row  # 24 h and 7 d over the whole window
    assert f"change 24 h: -62.54 ({percent}), {mixed}" in report.text
    assert "young-desk: 1,000.00  (24 h -102.54 since first data 2026-06-10 03:00 UTC;" in report.text
    assert report.totals["changes_usd"]["24h"] == "-62.54"
    assert report.totals["changes_since"]["30d"] == (NOW - timedelta(days=10)).isoformat()

    rows_csv = list(csv.DictReader(io.StringIO(report.csv)))
    team = {r["item"]: r for r in rows_csv if r["section"] == "change"}
    assert Decimal(team["24h"]["change_usd"]) == totals.change_24h.usd
    assert Decimal(team["7d"]["change_usd"]) == totals.change_7d.usd
    assert team["24h"]["note"] == "some accounts since first data, from 2026-06-10T03:00:00+00:00"
    assert team["30d"]["note"] == "since first data 2026-05-31T08:00:00+00:00"
    per_account = {(r["account"], r["item"]): r for r in rows_csv if r["section"] == "account change"}
    for name, row in rows.items():
        assert Decimal(per_account[(name, "24h")]["account_change_usd"]) == row.change_24h.usd
    assert per_account[("young-desk", "24h")]["note"].startswith("since first data")
    assert per_account[("old-desk", "24h")]["note"] == ""
    # One kind of figure per column: the team's changes and the accounts' never share one.
    assert all(r["change_usd"] == "" for r in rows_csv if r["section"] == "account change")


def test_an_account_read_after_the_report_time_is_no_baseline(young_desk):
    """A report as of 4 h ago counts young-desk's change from its first snapshot before then,
    never from one taken later."""
    schedule = make_schedule(time_zone="UTC")
    make_snapshot(young_desk["young"], NOW - timedelta(hours=4), usdt("1100"))
    delivery.deliver_slot(schedule.pk, NOW - timedelta(hours=4) + timedelta(seconds=30))
    report = Report.objects.get()
    rows_csv = list(csv.DictReader(io.StringIO(report.csv)))
    (young,) = [
        r
        for r in rows_csv
        if r["section"] == "account change" and r["account"] == "young-desk" and r["item"] == "24h"
    ]
    assert Decimal(young["account_change_usd"]) == Decimal("-2.54")


def write_positions(account, taken_at: datetime) -> None:
    """An inverse swap with a coin PnL of many digits and a MARGIN position of 1,500 USDT."""
    snapshot = Snapshot(
        account=account,
        cycle=int(taken_at.timestamp()) // 60,
        taken_at=taken_at,
        total_equity_usd=Decimal("50000"),
        trading_equity_usd=Decimal("50000"),
        funding_usd=Decimal(0),
    )
    lines = [
        BalanceLine(wallet=Wallet.TRADING, ccy="USDT", equity=Decimal("50000"), usd_value=Decimal("50000"))
    ]
    positions = [
        PositionLine(
            inst_id="BTC-USD-SWAP",
            inst_type="SWAP",
            side="long",
            size=Decimal("12"),
            size_unit="contracts",
            upl=Decimal("0.010295748032"),
            upl_ccy="BTC",
            upl_usd=Decimal("669.22362208"),
            notional_usd=Decimal("1200"),
        ),
        PositionLine(
            inst_id="BTC-USDT",
            inst_type="MARGIN",
            side="short",
            size=Decimal("-1500"),
            size_unit="USDT",
            upl=Decimal("464.43815"),
            upl_ccy="USDT",
            upl_usd=Decimal("464.43815"),
            notional_usd=Decimal("1500"),
        ),
    ]
    assert write_snapshot(snapshot, lines, positions)


def test_coin_pnl_and_sizes_are_written_as_on_the_account_page():
    account = make_account("gamma-mm")
    write_positions(account, NOW - timedelta(minutes=1))
    schedule = make_schedule(time_zone="UTC")
    delivery.deliver_slot(schedule.pk, NOW)
    report = Report.objects.get()
    for document in (report.html, report.text):
        assert "+0.01029575 BTC" in document and "0.010295748032" not in document
        assert "+464.44 USDT" in document and "464.43815" not in document
        assert "1,500 USDT" in document and "1500 USDT" not in document
        assert "+669.22" in document and "1,200.00" in document
    # The CSV keeps the exact figures.
    assert "0.010295748032" in report.csv and "464.43815" in report.csv


# -- in a real browser ---------------------------------------------------------------------------
SPLIT_WORDS = """
() => {
  const split = [];
  const cells = ".report-doc th, .report-doc td, table.reports td, table.reports th";
  for (const cell of document.querySelectorAll(cells)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /\\S+/g;
      let m;
      while ((m = re.exec(node.data)) !== null) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        const tops = new Set(rects.map(r => Math.round(r.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  }
  return split;
}
"""
SCROLLERS = """
(selector) => [...document.querySelectorAll(selector)]
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => el.className || el.tagName)
"""
OFF_SCREEN = """
(selector) => [...document.querySelectorAll(selector)]
  .filter(el => el.offsetParent !== null && el.textContent.trim())
  .filter(el => {
    const r = el.getBoundingClientRect();
    return r.left < 0 || r.right > window.innerWidth + 0.5;
  })
  .map(el => (el.dataset.label || "") + ": " + el.textContent.trim().slice(0, 30))
"""


@pytest.mark.django_db(transaction=True)
def test_the_report_and_the_list_read_at_1366_and_390_px(live_server):
    from tests.accounts_support import PASSWORD, ensure_roles
    from tests.browser import chromium, screenshot_path, sign_in

    ensure_roles()
    slot = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    desk = make_account("epsilon-futures-desk")
    write_positions(desk, slot - timedelta(hours=3))
    write_positions(desk, slot - timedelta(minutes=1))
    young = make_account("alpha-desk")
    make_snapshot(young, slot - timedelta(hours=6), usdt("48312.87"))
    make_snapshot(young, slot - timedelta(minutes=1), usdt("48210.33"))
    schedule = make_schedule("Morning desk report", time_zone="Europe/Berlin")
    delivery.deliver_slot(schedule.pk, slot - timedelta(hours=1))
    delivery.deliver_slot(schedule.pk, slot)
    report = Report.objects.get(slot=slot)
    assert "since first data" in report.html
    user = make_user("viewer")
    pages = {
        "report-detail": reverse("reports:detail", args=[report.pk]),
        "reports-list": reverse("reports:list"),
    }
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1366, "height": 900})
        sign_in(tab, live_server.url, user.username, PASSWORD)
        for width in (1366, 390):
            tab.set_viewport_size({"width": width, "height": 900})
            for name, url in pages.items():
                tab.goto(f"{live_server.url}{url}")
                tab.screenshot(path=str(screenshot_path(f"h2-{name}-{width}")), full_page=True)
                assert tab.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
                split = tab.evaluate(SPLIT_WORDS)
                assert split == [], (name, width, split)
                assert tab.evaluate(SCROLLERS, ".report-doc, .report-doc table, .table-wrap") == [], (
                    name,
                    width,
                )
                assert tab.evaluate(OFF_SCREEN, ".report-doc td, table.reports td") == [], (name, width)
        # At 390 px each figure of a row is labelled: the columns the table used to hide.
        tab.goto(f"{live_server.url}{pages['report-detail']}")
        for label in ("Snapshot", "Value (USD)", "UPL (USD)", "UPL", "24 h change"):
            cell = tab.locator(f'.report-doc td[data-label="{label}"]').first
            assert cell.is_visible(), label
        tab.goto(f"{live_server.url}{pages['reports-list']}")
        row = tab.locator("table.reports tbody tr").first
        for label in ("Data", "Total"):
            assert row.locator(f'td[data-label="{label}"]').is_visible(), label
        assert (
            row.get_by_role("link", name="Open").is_visible()
            and row.get_by_role("link", name="CSV").is_visible()
        )
