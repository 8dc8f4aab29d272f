"""Issue 21, desks on the pages and the API: a viewer of desk A sees desk A's accounts only, on
every page, fragment, total, chart, CSV and API list, and gets 404 (never 403) for anything that
names an account of desk B; users who see every account (the all-desks flag, key admins) and an
installation without desks see both. An account "excluded from team totals" is listed, marked,
and never summed into the team's figures.

The team: desk A holds Aster (a master with a key), Aster sub (a sub-account whose master is
Borealis, of desk B: its pages must not name it) and Aster test (excluded from team totals);
desk B holds Borealis, whose equity (987,654.32 USD) and 24 h PnL (+87,654.32) appear nowhere
for the desk-A viewer, nor does any sum that includes them (989,654.32).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.desks import Desk, DeskAccess
from accounts.history import ApiError
from accounts.models import Account, AccountKind
from dashboard.pages.overview import ROWS_PER_PAGE
from dashboard.tasks import warm_pnl
from ledger.models import FlowKind
from tests.accounts_support import make_user
from tests.api_support import api_error
from tests.ledger_support import stored_flow
from tests.test_pages_overview import OVERVIEW_QUERIES
from tests.test_pages_queries import give_key, make_account, many_accounts, snap

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
B_NAME = "Borealis"
# Desk B's figures as the pages write them (and as the API and CSVs do), and the team's total
# with them: none may reach the desk-A viewer.
B_FIGURES = ("987,654.32", "987654.32", "87,654.32", "87654.32", "989,654.32", "989654.32")
A_TOTAL = "2,000.00"  # Aster 1,234.56 + Aster sub 765.44; Aster test's 500.00 is excluded
EVERYONE_TOTAL = "989,654.32"


@pytest.fixture
def world():
    now = timezone.now()
    aster = make_account("Aster")
    give_key(aster)
    snap(aster, "1000", at=now - timedelta(days=1, minutes=5))
    snap(aster, "1234.56", at=now - timedelta(seconds=20))
    borealis = make_account(B_NAME)
    give_key(borealis, health_status="failing", health_message="OKX says: API key doesn't exist.")
    snap(borealis, "900000", at=now - timedelta(days=1, minutes=5))
    snap(borealis, "987654.32", at=now - timedelta(seconds=20), upls=("12.5",))
    sub = make_account("Aster sub", kind=AccountKind.SUB, master=borealis, sub_acct_name="astersub")
    snap(sub, "765.44", at=now - timedelta(seconds=20), via_master=True)
    test = make_account("Aster test", excluded_from_totals=True)
    snap(test, "500", at=now - timedelta(seconds=20))
    # A transfer from Borealis to Aster (both sides, as the master's history gives them), and a
    # deposit into Borealis alone.
    stored_flow(aster, FlowKind.TRANSFER_IN, "50", now - timedelta(hours=2), counterparty=borealis)
    stored_flow(borealis, FlowKind.TRANSFER_OUT, "-50", now - timedelta(hours=2), counterparty=aster)
    stored_flow(borealis, FlowKind.DEPOSIT, "31337", now - timedelta(hours=3), state="2")
    errors = {
        "a": api_error(aster, now - timedelta(hours=1), "signature", "50113"),
        "b": api_error(borealis, now - timedelta(hours=1), "auth", "50111", message="Invalid OK-ACCESS-KEY"),
    }
    desk_a = Desk.objects.create(name="Desk A")
    desk_a.accounts.add(aster, sub, test)
    desk_b = Desk.objects.create(name="Desk B")
    desk_b.accounts.add(borealis)
    return {
        "aster": aster,
        "borealis": borealis,
        "sub": sub,
        "test": test,
        "errors": errors,
        "desk_a": desk_a,
        "desk_b": desk_b,
    }


def signed_in(role: str, desk: Desk | None = None, *, all_desks: bool = False) -> Client:
    user = make_user(role)
    if desk is not None:
        desk.members.add(user)
    if all_desks:
        DeskAccess.objects.create(user=user, all_desks=True)
    client = Client()
    client.force_login(user, backend=MODEL_BACKEND)
    return client


def body(response) -> str:
    return response.content.decode()


def read_urls(w) -> list[str]:
    """Every page, fragment, CSV and API read a desk-A viewer may open."""
    aster = w["aster"].pk
    api = "/api/v1"
    return [
        "/",
        "/overview/fragment/",
        "/?range=1d",
        "/keys/",
        "/errors/",
        "/transfers/",
        "/transfers/transfers.csv",
        f"/accounts/{aster}/",
        f"/accounts/{w['sub'].pk}/",
        f"/accounts/{w['test'].pk}/",
        f"{api}/accounts",
        f"{api}/accounts.csv",
        f"{api}/keys",
        f"{api}/errors",
        f"{api}/pnl",
        f"{api}/pnl?period=7d",
        f"{api}/flows",
        f"{api}/flows.csv",
        f"{api}/accounts/{aster}",
        f"{api}/accounts/{w['sub'].pk}",
        f"{api}/accounts/{aster}/balances",
        f"{api}/accounts/{aster}/balances.csv",
        f"{api}/accounts/{aster}/positions",
        f"{api}/accounts/{aster}/equity?range=1d",
        f"{api}/accounts/{aster}/closed-positions",
    ]


def b_urls(w) -> list[str]:
    """Every page and API route that names desk B's account."""
    b = w["borealis"].pk
    api = "/api/v1"
    return [
        f"/accounts/{b}/",
        f"/accounts/{b}/?range=1d&pnl=24h",
        f"{api}/accounts/{b}",
        f"{api}/accounts/{b}/balances",
        f"{api}/accounts/{b}/balances.csv",
        f"{api}/accounts/{b}/positions",
        f"{api}/accounts/{b}/equity",
        f"{api}/accounts/{b}/closed-positions",
    ]


def test_a_desk_viewer_gets_404_for_every_route_naming_the_other_desks_account(world):
    viewer = signed_in("viewer", world["desk_a"])
    for url in b_urls(world):
        response = viewer.get(url)
        assert response.status_code == 404, url
        assert B_NAME not in body(response), url
    # The same answer as for an account that does not exist: the viewer does not learn it exists.
    unknown = viewer.get("/api/v1/accounts/999999").json()
    assert viewer.get(f"/api/v1/accounts/{world['borealis'].pk}").json() == unknown


def test_the_acting_posts_on_the_other_desks_objects_answer_404_and_change_nothing(world):
    operator = signed_in("operator", world["desk_a"])
    b, error = world["borealis"].pk, world["errors"]["b"].pk
    for url in (
        f"/accounts/{b}/test-key/",
        f"/accounts/{b}/refresh/",
        f"/errors/{error}/acknowledge/",
        f"/errors/account/{b}/acknowledge/",
    ):
        assert operator.post(url).status_code == 404, url
    assert not ApiError.objects.filter(pk=error, acknowledged=True).exists()
    # Its own desk's error is acknowledged as any operator's.
    own = world["errors"]["a"].pk
    assert operator.post(f"/errors/{own}/acknowledge/").status_code == 302
    assert ApiError.objects.get(pk=own).acknowledged


def test_the_other_desks_names_and_figures_appear_nowhere_for_a_desk_viewer(world):
    viewer = signed_in("viewer", world["desk_a"])
    for url in read_urls(world):
        response = viewer.get(url)
        assert response.status_code == 200, url
        text = body(response)
        assert B_NAME not in text, url
        leaked = [figure for figure in B_FIGURES if figure in text]
        assert not leaked, f"{url}: {leaked}"
        assert "31337" not in text and "31,337" not in text, url  # Borealis's deposit


def test_a_desk_viewers_overview_totals_chart_and_pnl_are_their_desks(world):
    html = body(signed_in("viewer", world["desk_a"]).get("/?range=1d"))
    assert re.search(rf'id="total-equity">{A_TOTAL} USD<', html)
    assert re.search(rf'id="total-row-equity">{A_TOTAL}<', html)
    # The chart ends on the total beside it: the newest point sums the desk's team accounts only.
    assert re.search(rf"last( / high)? {A_TOTAL} USD", html)
    # The team PnL 24 h is the desk's: Aster's 1,234.56 - 1,000 less the 50 Borealis sent it (a
    # transfer from outside this team is an inflow, not a gain; Aster sub has no reading a day ago).
    team_pnl = re.search(r'id="team-pnl-24h"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert "+184.56" in team_pnl
    assert 'id="desk-scope"' in html and "Desk A" in html and "Desk B" not in html
    # The master of Aster sub is of desk B: "under another account", never its name.
    assert "under another account" in html
    # Borealis's failing key is not counted in this viewer's top bar.
    assert "warn-count" not in html


def test_the_excluded_account_is_listed_and_marked_but_not_in_any_team_figure(world):
    viewer = signed_in("viewer", world["desk_a"])
    html = body(viewer.get("/"))
    main, excluded = html.split('id="excluded-accounts"')
    assert f'data-account="{world["test"].pk}"' not in main[main.index('id="accounts"') :]
    assert f'data-account="{world["test"].pk}"' in excluded
    assert "excluded from team totals" in excluded
    assert re.search(r'id="excluded-subtotal-equity">500.00<', excluded)
    covers = re.search(r'id="total-covers">(.*?)</div>', html, re.S).group(1)
    assert "2 live accounts" in covers and "1 more excluded from team totals: Aster test" in covers
    assert "2,500.00" not in html  # the total with the excluded account
    page = body(viewer.get(f"/accounts/{world['test'].pk}/"))
    assert 'class="badge none team-label"' in page and "excluded from team totals" in page
    api = viewer.get("/api/v1/accounts").json()
    assert Decimal(api["totals"]["equity_usd"]) == Decimal("2000.00")
    rows = {row["name"]: row for row in api["accounts"]}
    assert (rows["Aster test"]["in_team"], rows["Aster test"]["not_in_team_reason"]) == (
        False,
        "excluded from team totals",
    )
    assert rows["Aster test"]["in_total"] is False and rows["Aster test"]["share"] == "1"
    assert (rows["Aster"]["in_team"], rows["Aster"]["not_in_team_reason"]) == (True, None)
    pnl = viewer.get("/api/v1/pnl?period=24h").json()
    in_team = {row["name"]: (row["in_team"], row["not_in_team_reason"]) for row in pnl["accounts"]}
    assert in_team == {
        "Aster": (True, None),
        "Aster sub": (True, None),
        "Aster test": (False, "excluded from team totals"),
    }
    cells = {
        row["name"]: row for row in csv.DictReader(io.StringIO(body(viewer.get("/api/v1/accounts.csv"))))
    }
    assert (cells["Aster test"]["in_team"], cells["Aster test"]["in_total"]) == ("false", "false")
    assert cells["Aster test"]["not_in_team_reason"] == "excluded from team totals"


def test_the_excluded_account_stays_out_of_the_everyone_total_too(world):
    html = body(signed_in("key_admin").get("/"))
    assert re.search(rf'id="total-equity">{EVERYONE_TOTAL} USD<', html)
    assert re.search(r'id="excluded-subtotal-equity">500.00<', html)


def test_a_transfer_with_the_other_desk_names_another_account(world):
    viewer = signed_in("viewer", world["desk_a"])
    html = body(viewer.get("/transfers/"))
    assert html.count("data-okx-id=") == 1  # Aster's side only; Borealis's two flows are not listed
    assert "another account" in html
    flows = viewer.get("/api/v1/flows").json()["results"]
    assert [(f["account_name"], f["counterparty"], f["counterparty_name"]) for f in flows] == [
        ("Aster", None, "another account")
    ]
    rows = list(csv.DictReader(io.StringIO(body(viewer.get("/api/v1/flows.csv")))))
    assert [(r["account"], r["counterparty"]) for r in rows] == [("Aster", "another account")]
    rows = list(csv.DictReader(io.StringIO(body(viewer.get("/transfers/transfers.csv")))))
    assert [(r["account"], r["counterparty"]) for r in rows] == [("Aster", "another account")]
    # Choosing desk B's account in a filter is refused as an unknown one (400), never its rows.
    b = world["borealis"].pk
    for url in (f"/transfers/?account={b}", f"/errors/?account={b}"):
        response = viewer.get(url)
        assert response.status_code == 400 and B_NAME not in body(response), url
    assert viewer.get(f"/api/v1/flows?account={b}").json()["results"] == []
    assert viewer.get(f"/api/v1/errors?account={b}").json()["results"] == []


def test_the_account_page_of_a_sub_whose_master_is_on_another_desk_does_not_name_it(world):
    html = body(signed_in("viewer", world["desk_a"]).get(f"/accounts/{world['sub'].pk}/"))
    assert "under another account" in html and "read through another account's key" in html
    assert f'href="/accounts/{world["borealis"].pk}/' not in html
    api = signed_in("viewer", world["desk_a"]).get(f"/api/v1/accounts/{world['sub'].pk}").json()
    assert (api["master"], api["master_name"]) == (None, "another account")


@pytest.mark.parametrize("who", ["all_desks", "key_admin", "no_desks"])
def test_users_who_see_every_account_see_both_desks(world, who):
    if who == "no_desks":
        Desk.objects.all().delete()  # no desk at all: desks are not in use, every viewer sees all
        client = signed_in("viewer")
    else:
        client = signed_in("viewer", all_desks=True) if who == "all_desks" else signed_in("key_admin")
    html = body(client.get("/"))
    assert B_NAME in html and "987,654.32" in html
    assert re.search(rf'id="total-equity">{EVERYONE_TOTAL} USD<', html)
    assert 'id="desk-scope"' not in html
    assert "1 key needs attention" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert client.get(f"/accounts/{world['borealis'].pk}/").status_code == 200
    names = {row["name"] for row in client.get("/api/v1/accounts").json()["accounts"]}
    assert names == {"Aster", "Aster sub", "Aster test", B_NAME}
    flows = client.get("/api/v1/flows").json()["results"]
    assert {f["counterparty_name"] for f in flows} == {B_NAME, "Aster", ""}


def test_a_desk_member_without_accounts_sees_none_and_is_told_why(world):
    empty = Desk.objects.create(name="Desk C")
    viewer = signed_in("viewer", empty)
    html = body(viewer.get("/"))
    assert "data-account=" not in html
    assert "You see no account: a key admin adds accounts to your desk" in html
    assert viewer.get("/api/v1/accounts").json()["accounts"] == []
    assert viewer.get(f"/accounts/{world['aster'].pk}/").status_code == 404


@pytest.mark.usefixtures("mid_hour")
@pytest.mark.parametrize("n", [10, 200])
def test_a_desk_viewers_overview_costs_one_query_more_than_a_viewers_for_any_number(client, n):
    many_accounts(n)
    desk = Desk.objects.create(name="Bulk desk")
    desk.accounts.add(*Account.objects.all())
    user = make_user("viewer")
    desk.members.add(user)
    warm_pnl.apply()  # as beat does every refresh interval: the desk's team figures too
    client.force_login(user, backend=MODEL_BACKEND)
    client.get("/")
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/")
    assert body(response).count("data-account=") == min(n, ROWS_PER_PAGE)  # a page of the table
    # The viewer's one query (are desks in use, and an all-desks flag?) and the desk's accounts.
    assert len(captured) == OVERVIEW_QUERIES + 1


def test_a_sub_page_shows_nothing_of_another_desks_masters_ledger(world):
    """Break-it review: a sub-account on desk A read through a master on desk B showed the
    master's backfill count and its last problem text."""
    from ledger.models import LedgerSync

    LedgerSync.objects.create(
        account=world["borealis"],
        progress={"subaccount_bills": {"rows": 4242, "done": False, "oldest_ms": 1700000000000}},
        last_synced_at=timezone.now(),
        last_problem="Borealis-secret-problem",
    )
    text = body(signed_in("viewer", world["desk_a"]).get(f"/accounts/{world['sub'].pk}/"))
    assert "4242" not in text and "Borealis-secret-problem" not in text
    assert "Its progress is shown to those who see that account." in text
