"""Issue 16, items 6 and 7: demo trading is kept apart from the team's figures, and what the
product could not read is "—" with its reason, never zero.

The team: two live accounts with equity (817,431.19 USD together), a demo-trading account of
100,000 USD (10.9 % of all three: the share the issue saw in the team's total), a sub-account
read through its master (OKX has no positions endpoint for that) and a live account whose key
never worked (gamma, no snapshot).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, AccountKind, Environment
from alerts.models import AlertSettings
from alerts.rules import Findings, loss
from reports.build import build
from reports.render import render, to_csv
from snapshots import queries
from tests.api_support import client_as
from tests.test_pages_queries import make_account, snap

pytestmark = pytest.mark.django_db

LIVE_TOTAL = Decimal("817431.19")
DEMO_EQUITY = Decimal("100000")
NOT_VIA_MASTER = "not readable through the master key"


@pytest.fixture
def team():
    now = timezone.now()
    alpha = make_account("alpha")
    snap(alpha, "600000", at=now - timedelta(seconds=30), upls=("120.5",))
    beta = make_account("beta-sub", kind=AccountKind.SUB, master=alpha, sub_acct_name="beta")
    snap(beta, "217431.19", at=now - timedelta(seconds=30), via_master=True)
    demo = make_account("eta-demo", environment=Environment.DEMO)
    snap(demo, "100000", at=now - timedelta(seconds=30), upls=("5",))
    gamma = make_account("gamma")  # its key never worked: no snapshot
    return {"alpha": alpha, "beta": beta, "demo": demo, "gamma": gamma}


def _by_name(rows):
    return {row.account.name: row for row in rows}


def test_the_demo_share_the_issue_saw_is_no_longer_in_the_team_total(team):
    assert (DEMO_EQUITY / (LIVE_TOTAL + DEMO_EQUITY) * 100).quantize(Decimal("0.1")) == Decimal("10.9")
    rows = queries.account_rows()
    totals = queries.totals(rows)
    assert totals.equity_usd == LIVE_TOTAL
    assert (totals.accounts, totals.counted) == (3, 2)  # alpha, beta-sub, gamma; gamma never read
    assert [(out.account.name, out.reason) for out in totals.not_in_total] == [("gamma", "never read")]
    demo = queries.totals(rows, Environment.DEMO)
    assert (demo.equity_usd, demo.accounts, demo.counted) == (DEMO_EQUITY, 1, 1)
    # Shares are of the account's own environment's total.
    by_name = _by_name(rows)
    assert by_name["eta-demo"].share == 1
    assert by_name["alpha"].share + by_name["beta-sub"].share == 1


def test_the_team_chart_leaves_the_demo_account_out(team):
    series = queries.equity_series(None, "1d")
    assert series[-1][1] == LIVE_TOTAL


def test_the_overview_has_a_demo_section_with_its_subtotal_and_says_what_the_total_covers(client, team):
    html = client_as(client, "viewer").get("/").content.decode()
    assert re.search(r'id="total-equity">817,431.19 USD<', html)
    covers = re.search(r'id="total-covers">(.*?)</div>', html, re.S).group(1)
    assert "3 live accounts; the total covers 2: gamma never read" in covers
    main, demo = html.split('id="demo-trading"')
    main_table = main[main.index('id="accounts"') :]
    assert f'data-account="{team["demo"].pk}"' not in main_table
    assert f'data-account="{team["demo"].pk}"' in demo
    assert re.search(r'id="demo-subtotal-equity">100,000.00<', demo)
    assert re.search(r'id="total-row-equity">817,431.19<', main)


def _cells(html: str, pk: int) -> list[str]:
    row = re.search(rf'<tr[^>]*data-account="{pk}">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]


def test_unknown_positions_and_pnl_are_a_dash_with_the_reason_on_the_overview(client, team):
    html = client_as(client, "viewer").get("/").content.decode()
    upl, positions = _cells(html, team["beta"].pk)[8:10]
    assert (upl, positions) == (f"— {NOT_VIA_MASTER}", f"— {NOT_VIA_MASTER}")
    upl, positions = _cells(html, team["gamma"].pk)[8:10]
    assert (upl, positions) == ("— never read", "— never read")
    upl, positions = _cells(html, team["alpha"].pk)[8:10]
    assert (upl, positions) == ("+120.50", "1")


def test_the_account_page_says_positions_are_unknown_and_why(client, team):
    viewer = client_as(client, "viewer")
    html = viewer.get(f"/accounts/{team['beta'].pk}/").content.decode()
    assert re.search(r'id="account-upl">—<', html)
    assert f"open positions: — ({NOT_VIA_MASTER})" in html
    html = viewer.get(f"/accounts/{team['gamma'].pk}/").content.decode()
    assert "No open positions" not in html
    assert "Positions unknown: never read" in html


def test_the_api_gives_null_with_a_reason_and_totals_without_demo(client, team):
    viewer = client_as(client, "viewer")
    body = viewer.get("/api/v1/accounts").json()
    assert Decimal(body["totals"]["equity_usd"]) == LIVE_TOTAL
    assert body["totals"]["not_in_total"] == [
        {"account": team["gamma"].pk, "name": "gamma", "reason": "never read"}
    ]
    assert Decimal(body["demo_totals"]["equity_usd"]) == DEMO_EQUITY
    rows = {row["name"]: row for row in body["accounts"]}
    assert (rows["eta-demo"]["environment"], rows["eta-demo"]["in_total"]) == ("demo", False)
    assert rows["alpha"]["in_total"] is True
    beta = rows["beta-sub"]
    assert (beta["open_positions"], beta["upl_usd"], beta["positions_unknown_reason"]) == (
        None,
        None,
        NOT_VIA_MASTER,
    )
    gamma = rows["gamma"]
    assert (gamma["equity_usd"], gamma["equity_unknown_reason"], gamma["in_total"]) == (
        None,
        "never read",
        False,
    )
    assert (gamma["open_positions"], gamma["positions_unknown_reason"]) == (None, "never read")
    assert (rows["alpha"]["open_positions"], rows["alpha"]["positions_unknown_reason"]) == (1, None)
    positions = viewer.get(f"/api/v1/accounts/{team['beta'].pk}/positions").json()
    assert (positions["positions"], positions["positions_unknown_reason"]) == (None, NOT_VIA_MASTER)
    positions = viewer.get(f"/api/v1/accounts/{team['gamma'].pk}/positions").json()
    assert (positions["positions"], positions["positions_unknown_reason"]) == (None, "never read")


def test_the_accounts_csv_leaves_unknown_cells_empty_with_the_reason(client, team):
    response = client_as(client, "viewer").get("/api/v1/accounts.csv")
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    beta = rows["beta-sub"]
    assert (beta["open_positions"], beta["upl_usd"], beta["positions_unknown_reason"]) == (
        "",
        "",
        NOT_VIA_MASTER,
    )
    gamma = rows["gamma"]
    assert (gamma["equity_usd"], gamma["open_positions"], gamma["positions_unknown_reason"]) == (
        "",
        "",
        "never read",
    )
    assert rows["eta-demo"]["in_total"] != rows["alpha"]["in_total"]
    # The live rows in the total add up to the API's total.
    assert (
        sum(Decimal(r["equity_usd"]) for r in rows.values() if r["environment"] == "live" and r["equity_usd"])
        == LIVE_TOTAL
    )


def test_the_report_total_leaves_demo_out_and_says_which_positions_are_unknown(team):
    data = build(Account.objects.filter(active=True), timezone.now())
    assert data.total_usd == LIVE_TOTAL
    assert [row.name for row in data.demo_accounts] == ["eta-demo"]
    assert data.demo_total_usd == DEMO_EQUITY
    assert data.upl_usd == Decimal("120.5")  # the demo position's 5 USD is paper money
    rendered = render(data, "Daily", "UTC")
    assert "Total equity: 817,431.19 USD" in rendered.text
    assert "Demo trading (paper money, not in the total): subtotal 100,000.00 USD" in rendered.text
    assert f"Positions and PnL unknown (—, not counted): beta-sub ({NOT_VIA_MASTER}), gamma (never read)" in (
        rendered.text
    )
    assert "Demo trading: subtotal 100,000.00 USD" in rendered.html
    assert rendered.totals["total_usd"] == "817431.19"
    assert rendered.totals["demo_total_usd"] == "100000"
    rows = list(csv.DictReader(io.StringIO(to_csv(data))))
    total = next(r for r in rows if r["section"] == "total")
    # One kind of figure per column: the total in `total`, each account's equity in its own column.
    assert total["total"] == "817431.19"
    equities = [r["account_equity_usd"] for r in rows if r["section"] == "equity" and r["account_equity_usd"]]
    assert sum(Decimal(e) for e in equities) == LIVE_TOTAL
    unknown = {r["account"]: r["note"] for r in rows if r["item"] == "positions unknown"}
    assert unknown == {"beta-sub": NOT_VIA_MASTER, "gamma": "never read"}
    assert [(r["account"], r["demo_equity_usd"]) for r in rows if r["section"] == "demo equity"] == [
        ("eta-demo", "100000")
    ]


def test_a_demo_account_s_loss_raises_no_alert(team):
    AlertSettings.objects.update_or_create(pk=1, defaults={"equity_drop": True, "equity_drop_percent": 10})
    now = timezone.now()
    snap(team["demo"], "40000", at=now)  # 60 % lost since its first reading of 100,000
    snap(team["alpha"], "300000", at=now)  # 50 % lost since 600,000
    findings = Findings()
    loss(now, Decimal(10), findings)
    assert list(findings.conditions) == [("equity_drop", f"account:{team['alpha'].pk}")]


def test_a_demo_accounts_paper_price_never_converts_a_live_report(team):
    """The report's currency of presentation is priced from the newest stored balance line: a
    demo account's line, even a newer one, is never that price."""
    from reports.build import usd_rate
    from snapshots.models import BalanceLine, Wallet

    now = timezone.now()
    live = snap(team["alpha"], "600000", at=now - timedelta(seconds=20))
    BalanceLine.objects.create(
        snapshot=live, wallet=Wallet.TRADING, ccy="BTC", equity=Decimal(2), usd_value=Decimal(130000)
    )
    paper = snap(team["demo"], "100000", at=now - timedelta(seconds=10))
    BalanceLine.objects.create(
        snapshot=paper, wallet=Wallet.TRADING, ccy="BTC", equity=Decimal(1), usd_value=Decimal(1)
    )
    assert usd_rate("BTC", now) == Decimal(65000)
