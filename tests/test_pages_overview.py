"""The overview, its polled fragment and the account page: access per role, what a person reads
on them, sorting, escaping of text from OKX, and a fixed query count for any number of accounts.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import callstats
from accounts.history import ApiError
from accounts.models import Account, AccountKind
from dashboard.pages.charts import line_chart
from dashboard.pages.overview import ROWS_PER_PAGE
from dashboard.tasks import warm_pnl
from snapshots.models import BalanceLine, Snapshot, Wallet
from snapshots.queries import stale_after
from tests.accounts_support import make_user
from tests.test_pages_queries import give_key, make_account, many_accounts, snap

pytestmark = pytest.mark.django_db

OVERVIEW = "/"
FRAGMENT = "/overview/fragment/"


def signed_in(client, role: str):
    client.force_login(make_user(role))
    return client


def cells(html: str, row_id: int) -> list[str]:
    """The text of each cell of the accounts table row of one account."""
    row = re.search(rf'<tr[^>]*data-account="{row_id}">(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def account_order(html: str) -> list[str]:
    return re.findall(r'data-account="\d+">\s*<td><a href="/accounts/\d+/">([^<]+)</a>', html)


@pytest.fixture
def team():
    """A master with a key and positions, a sub read through it, a sub with a failing key."""
    now = timezone.now()
    master = make_account("Alpha master")
    give_key(master)
    snap(master, "1000", at=now - timedelta(days=1, minutes=2))
    snap(master, "1234.5", at=now - timedelta(seconds=20), upls=("30", "-5.5"))
    via = make_account("Beta sub", kind=AccountKind.SUB, master=master, sub_acct_name="beta")
    snap(via, "300", at=now - timedelta(seconds=20), via_master=True)
    failing = make_account("Gamma sub", kind=AccountKind.SUB, master=master, sub_acct_name="gamma")
    give_key(failing, health_status="failing", health_message="OKX says: API key doesn't exist.")
    snap(failing, "50000.25", at=now - timedelta(hours=3))  # stale
    return {"master": master, "via": via, "failing": failing}


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [OVERVIEW, FRAGMENT, "/accounts/{pk}/"])
@pytest.mark.parametrize(
    ("role", "expected"), [("stranger", 403), ("viewer", 200), ("operator", 200), ("key_admin", 200)]
)
def test_each_page_is_open_to_every_role_with_the_view_permission(client, team, path, role, expected):
    response = signed_in(client, role).get(path.format(pk=team["master"].pk))
    assert response.status_code == expected


@pytest.mark.parametrize("path", [OVERVIEW, FRAGMENT, "/accounts/1/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={path}")


def test_the_pages_answer_get_only(client, team):
    signed_in(client, "operator")
    assert client.post(OVERVIEW).status_code == 405
    assert client.post(f"/accounts/{team['master'].pk}/").status_code == 405


# -- the overview ---------------------------------------------------------------------------------
def test_the_overview_total_is_the_sum_of_the_rows(client, team):
    html = signed_in(client, "viewer").get(OVERVIEW).content.decode()
    total = re.search(r'id="total-equity">([^<]+)<', html).group(1)
    assert total == "51,534.75 USD"  # 1,234.50 + 300.00 + 50,000.25
    equities = [Decimal(cells(html, a.pk)[3].replace(",", "")) for a in team.values()]
    assert sum(equities) == Decimal("51534.75")
    # Only the master has a day of history; the subs count from their first snapshot (no change).
    assert 'id="change-24h">+234.50 USD <span class="pct">+0.46%</span><' in html  # of 51,300.25
    basis = re.search(r'id="change-24h-basis">(.*?)</div>', html, re.S).group(1)
    assert "accounts with less history since their first data" in basis
    # Nobody has a week: the 7 d change is since the first data (the master's, a day ago).
    assert 'id="change-7d">+234.50 USD <span class="pct">+0.46%</span><' in html
    # The master's first snapshot, as stored (a clock read here could be a minute later).
    first = Snapshot.objects.filter(account=team["master"]).order_by("taken_at").first().taken_at
    first = first.strftime("%Y-%m-%d %H:%M")  # DISPLAY_TIME_ZONE is UTC in the tests
    basis = re.search(r'id="change-7d-basis">(.*?)</div>', html, re.S).group(1)
    assert "since first data" in basis and first in basis and "less than 7 d of history" in basis


def test_each_row_shows_every_column_of_the_issue(client, team):
    html = signed_in(client, "viewer").get(OVERVIEW).content.decode()
    name, kind, env, equity, share, change, pnl_24h, pnl_7d, upl, positions, key, refreshed, _risk = cells(
        html, team["master"].pk
    )
    assert (name, kind, env) == ("Alpha master", "master", "live")
    assert (equity, share, upl, positions, key) == ("1,234.50", "2.4%", "+24.50", "2", "ok")
    assert change == "+234.50 +23.45%"  # from 1,000.00 a day ago
    assert pnl_24h == "+234.50 +23.45%"  # no flows: the PnL is the change
    assert pnl_7d.startswith("+234.50 +23.45% since ")  # a day of history, not a week
    local = (timezone.now() - timedelta(seconds=20)).strftime("%Y-%m-%d")
    assert refreshed.startswith(local)
    assert cells(html, team["via"].pk)[10] == "via master"
    gamma = cells(html, team["failing"].pk)
    assert gamma[10] == "failing" and gamma[11].endswith("stale")
    assert "1 account stale" in html


def test_failing_keys_and_keys_near_deletion_come_first(client, team):
    soon = make_account("Delta expiring")
    give_key(
        soon,
        expires_on=timezone.now().date() + timedelta(days=3),
        permissions=["read"],
        ip_binding=["10.0.0.1"],
    )
    html = signed_in(client, "viewer").get(OVERVIEW).content.decode()
    block = html[html.index('id="key-warnings-title"') : html.index('class="kpis"')]
    assert block.index("Gamma sub") < block.index("Delta expiring")
    assert "OKX says: API key doesn&#x27;t exist." in block
    assert "expires soon" in block and (timezone.now().date() + timedelta(days=3)).isoformat() in block
    assert 'href="/keys/"' in block
    assert html.index("key-warnings-title") < html.index('id="accounts"')


def test_no_warning_block_when_every_key_is_fine(client):
    give_key(make_account("Fine"))
    html = signed_in(client, "viewer").get(OVERVIEW).content.decode()
    assert "key-warnings-title" not in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Gamma sub", "Alpha master", "Beta sub"]),  # equity, largest first
        ("?sort=equity&dir=asc", ["Beta sub", "Alpha master", "Gamma sub"]),
        ("?sort=name&dir=asc", ["Alpha master", "Beta sub", "Gamma sub"]),
        ("?sort=name&dir=desc", ["Gamma sub", "Beta sub", "Alpha master"]),
        # Beta sub's positions are unknown (read through the master): last, like every unknown.
        ("?sort=positions&dir=desc", ["Alpha master", "Gamma sub", "Beta sub"]),
        ("?sort=key&dir=asc", ["Gamma sub", "Beta sub", "Alpha master"]),  # failing, none, ok
        ("?sort=refreshed&dir=asc", ["Gamma sub", "Alpha master", "Beta sub"]),
        ("?sort=change&dir=desc", ["Alpha master", "Beta sub", "Gamma sub"]),  # unknown change last
    ],
)
def test_the_table_sorts_by_each_column_on_the_server(client, team, query, expected):
    html = signed_in(client, "viewer").get(OVERVIEW + query).content.decode()
    assert account_order(html) == expected


def test_the_header_links_sort_and_keep_the_range(client, team):
    html = signed_in(client, "viewer").get(OVERVIEW + "?range=30d&sort=name&dir=asc").content.decode()
    assert 'href="?range=30d&amp;sort=name&amp;dir=desc" class="sorted asc"' in html
    assert 'href="?range=30d&amp;sort=upl&amp;dir=desc"' in html
    assert 'aria-sort="ascending"' in html


def test_account_names_in_the_table_are_escaped(client):
    account = make_account("<b>Bold</b> & co")
    give_key(account)
    html = signed_in(client, "viewer").get(OVERVIEW).content.decode()
    assert "<b>Bold</b>" not in html
    assert f'<a href="/accounts/{account.pk}/">&lt;b&gt;Bold&lt;/b&gt; &amp; co</a>' in html


@pytest.mark.parametrize("query", ["?sort=password", "?sort=name&dir=up", "?range=2y"])
def test_an_unknown_sort_or_range_is_a_400_that_says_what_is_allowed(client, team, query):
    response = signed_in(client, "viewer").get(OVERVIEW + query)
    assert response.status_code == 400
    assert "Use" in response.content.decode()


def test_the_chart_draws_the_total_and_every_range_links(client, team):
    html = signed_in(client, "viewer").get(OVERVIEW + "?range=1d").content.decode()
    assert '<svg class="chart wide"' in html and '<svg class="chart narrow"' in html
    # The newest bucket: every account's latest value (Gamma's, 3 hours old, carried forward).
    assert re.search(r"last( / high)? 51,534.75 USD", html)
    for key in ("1d", "7d", "30d", "90d", "all"):
        assert f"range={key}" in html
    assert 'class="current" aria-current="true">1d<' in html
    assert "/api/v1/accounts.csv" in html


def test_the_fragment_is_the_live_part_alone_and_the_page_polls_it(client, team):
    signed_in(client, "viewer")
    page = client.get(OVERVIEW + "?sort=name&dir=asc").content.decode()
    assert 'data-fragment-url="/overview/fragment/?range=7d&amp;sort=name&amp;dir=asc"' in page
    assert 'data-refresh-seconds="' in page and "/static/dashboard/overview.js" in page
    fragment = client.get(reverse("pages:overview_fragment") + "?range=7d&sort=name&dir=asc").content.decode()
    assert "<html" not in fragment and "<body" not in fragment
    assert 'id="total-equity">51,534.75 USD<' in fragment
    assert account_order(fragment) == ["Alpha master", "Beta sub", "Gamma sub"]


def test_the_pages_carry_no_inline_script_or_style(client, team):
    signed_in(client, "operator")
    for path in (OVERVIEW, FRAGMENT, f"/accounts/{team['master'].pk}/"):
        html = client.get(path).content.decode()
        assert "<style" not in html and " style=" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)


@pytest.mark.usefixtures("mid_hour")
@pytest.mark.parametrize("n", [10, 200])
def test_the_overview_runs_the_same_number_of_queries_for_10_and_200_accounts(client, n):
    many_accounts(n)
    warm_pnl.apply()  # as beat does every refresh interval
    signed_in(client, "viewer")
    client.get(OVERVIEW)  # sessions and permissions warm
    with CaptureQueriesContext(connection) as captured:
        response = client.get(OVERVIEW)
    assert response.status_code == 200
    assert response.content.decode().count("data-account=") == min(n, ROWS_PER_PAGE)
    assert len(captured) == OVERVIEW_QUERIES


# Session, user, permissions (2), which accounts the user sees (1: accounts.desks, whether desks
# are in use; a desk-limited viewer pays one more, tests/test_desks_pages.py), account rows (3),
# the 7 d change (1), the chart (3: active ids, values at the range's start, bucket means; its
# newest point is the total the rows give), and the risk column (1: snapshots.risk.account_risk's
# read of the rows' latest snapshots' positions; the rows give the snapshots and their risk
# figures). The top bar's facts come from the rows (context_processors.known); the PnL columns, the team's and
# its calendar from the cache (the warm-pnl task works them out: dashboard/pages/pnl.py).
OVERVIEW_QUERIES = 12


def test_the_team_table_shows_100_accounts_a_page_and_its_total_is_of_all_of_them(client):
    many_accounts(120)  # bulk-0000 … bulk-0119, 110.00 USD each
    warm_pnl.apply()
    signed_in(client, "viewer")
    first = client.get(OVERVIEW + "?sort=name&dir=asc").content.decode()
    names = account_order(first)
    assert len(names) == 100 and names[0] == "bulk-0000" and names[-1] == "bulk-0099"
    assert (
        "Accounts 1\u2013100 of 120, sorted by account; "
        "the figures above the table and its total row are of every page." in first
    )
    assert 'id="total-equity">13,200.00 USD<' in first and 'id="total-row-equity">13,200.00<' in first
    assert 'href="?range=7d&amp;sort=name&amp;dir=asc&amp;page=2" rel="next">Next<' in first
    # The poll and the range links keep the page; a new sort starts on the first page.
    assert 'data-fragment-url="/overview/fragment/?range=7d&amp;sort=name&amp;dir=asc&amp;page=1"' in first
    assert 'href="?range=30d&amp;sort=name&amp;dir=asc&amp;page=1"' in first
    assert 'href="?range=7d&amp;sort=equity&amp;dir=desc"' in first

    second = client.get(OVERVIEW + "?sort=name&dir=asc&page=2").content.decode()
    assert account_order(second) == [f"bulk-{i:04d}" for i in range(100, 120)]
    assert "Accounts 101\u2013120 of 120" in second and 'rel="prev">Previous<' in second
    assert 'id="total-equity">13,200.00 USD<' in second
    fragment = client.get(FRAGMENT + "?range=7d&sort=name&dir=asc&page=2").content.decode()
    assert account_order(fragment) == account_order(second)
    # Past the last page: the last page (accounts may have gone since the link was made).
    assert account_order(
        client.get(OVERVIEW + "?sort=name&dir=asc&page=9").content.decode()
    ) == account_order(second)

    every = client.get(OVERVIEW + "?sort=name&dir=asc&page=all").content.decode()
    assert len(account_order(every)) == 120 and "All 120 accounts, sorted by account" in every
    # Sorting every row again keeps every row.
    assert 'href="?range=7d&amp;sort=name&amp;dir=desc&amp;page=all" class="sorted asc"' in every


@pytest.mark.parametrize("page", ["0", "two", "-1", "\u00b2", "9" * 5000])
def test_a_page_that_is_no_number_is_a_400_that_says_what_is_allowed(client, team, page):
    response = signed_in(client, "viewer").get(OVERVIEW + f"?page={page}")
    assert response.status_code == 400
    assert "Use page= a number from 1, or page=all" in response.content.decode()


def test_with_100_accounts_or_fewer_there_is_no_pager(client, team):
    html = signed_in(client, "viewer").get(OVERVIEW).content.decode()
    assert "accounts-pager" not in html and "page=" not in html


def test_the_overview_says_when_planned_refreshes_expired_because_the_workers_cannot_keep_up(client):
    many_accounts(8)  # bulk-0000 … bulk-0007
    ids = dict(Account.objects.values_list("name", "pk"))
    signed_in(client, "viewer")
    assert "refresh-shortfall" not in client.get(OVERVIEW).content.decode()
    # An hour ago one expired: outside the stale window, it says nothing now.
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        callstats.record_refresh(ids["bulk-0000"], "expired", 0.0)
    assert "refresh-shortfall" not in client.get(OVERVIEW).content.decode()
    # What the worker records when a planned refresh expires unrun (snapshots.tasks.count_expired_refresh).
    for i in (6, 5, 4, 3, 2, 1, 1):
        callstats.record_refresh(ids[f"bulk-{i:04d}"], "expired", 0.0)
    html = client.get(FRAGMENT).content.decode()
    minutes = round(stale_after().total_seconds() / 60)
    assert (
        '<strong id="refresh-shortfall">7 planned refreshes did not run in the last '
        f"{minutes} minutes</strong>: no worker was free before their refresh interval ended (bulk-0001, "
        "bulk-0002, bulk-0003, bulk-0004, "
        "bulk-0005 and 1 more)"
    ) in html
    assert "add worker processes (<code>WORKER_CONCURRENCY</code>" in html


@pytest.mark.usefixtures("mid_hour")
def test_the_polled_fragment_does_not_pay_for_the_top_bar_it_does_not_show(client):
    many_accounts(10)
    warm_pnl.apply()
    signed_in(client, "viewer")
    client.get(FRAGMENT)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(FRAGMENT)
    assert response.status_code == 200 and "warn-count" not in response.content.decode()
    assert len(captured) == OVERVIEW_QUERIES  # no top bar: no key count, no newest refresh


# -- the account page -----------------------------------------------------------------------------
def test_the_account_page_shows_balances_positions_and_its_chart(client, team):
    master = team["master"]
    latest = master.snapshots.order_by("-taken_at").first()
    BalanceLine.objects.create(snapshot=latest, wallet=Wallet.FUNDING, ccy="ZZZ", equity=Decimal("12.5"))
    BalanceLine.objects.create(
        snapshot=latest,
        wallet=Wallet.FUNDING,
        ccy="BTC",
        equity=Decimal("0.00012300"),
        usd_value=Decimal("12.3"),
    )
    html = signed_in(client, "viewer").get(f"/accounts/{master.pk}/").content.decode()
    balances = html[html.index('id="balances"') : html.index("</table>", html.index('id="balances"'))]
    assert re.search(r"<td>trading</td><td>USDT</td><td class=\"num\">1,234.50</td>", balances)
    assert re.search(r"<td>funding</td><td>BTC</td><td class=\"num\">0.000123</td>.*12.30", balances)
    assert re.search(r"<td>funding</td><td>ZZZ</td>.*unpriced", balances)
    positions = html[html.index('id="positions"') :]
    assert "BTC-USDT-SWAP-0" in positions and "30.00" in positions and "\u22125.50" in positions
    assert '<svg class="chart wide"' in html
    assert f'href="/api/v1/accounts/{master.pk}/balances.csv"' in html
    assert "Data last refreshed" in html


def test_the_account_page_shows_the_credential_health(client, team):
    credential = team["master"].active_credential()
    credential.permissions = ["read_only", "trade"]
    credential.ip_binding = ["203.0.113.7"]
    credential.clock_offset_ms = -120
    credential.expires_on = date(2031, 5, 1)
    credential.last_success_at = timezone.now() - timedelta(minutes=1)
    credential.warnings = [
        {"code": "clock_skew", "message": "Clock off.", "date": "2030-01-02", "severity": "warning"}
    ]
    credential.save()
    html = signed_in(client, "viewer").get(f"/accounts/{team['master'].pk}/").content.decode()
    health = html[html.index('id="credential"') :]
    for text in (
        "read_only, trade",
        "203.0.113.7",
        credential.display_fingerprint,
        "2031-05-01",
        "-120 ms",
        "Clock off.",
        "(2030-01-02)",
    ):
        assert text in health
    assert "FAKE0000" not in html  # the key itself is never on a page


def test_the_test_key_button_is_for_operators_only(client, team):
    path = f"/accounts/{team['master'].pk}/"
    button = f'action="/accounts/{team["master"].pk}/test-key/"'
    assert button not in signed_in(client, "viewer").get(path).content.decode()
    html = signed_in(client, "operator").get(path).content.decode()
    assert button in html and "csrfmiddlewaretoken" in html


def test_recent_errors_are_listed_with_the_okx_message_escaped(client, team):
    now = timezone.now()
    for i in range(12):
        ApiError.objects.create(
            account=team["failing"],
            endpoint="/api/v5/account/balance",
            code="50111",
            message=f"<script>alert({i})</script><b>bold</b>",
            category="auth",
            meaning="Invalid OK-ACCESS-KEY.",
            first_seen=now - timedelta(minutes=i),
            last_seen=now - timedelta(minutes=i),
        )
    html = signed_in(client, "viewer").get(f"/accounts/{team['failing'].pk}/").content.decode()
    errors = html[html.index('id="recent-errors"') :]
    assert errors.count("&lt;script&gt;alert(") == 10
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert f'href="/errors/?account={team["failing"].pk}"' in html


def test_a_sub_account_without_its_own_key_says_whose_key_reads_it(client, team):
    html = signed_in(client, "viewer").get(f"/accounts/{team['via'].pk}/").content.decode()
    assert "read through the key of" in html and "Alpha master" in html
    assert "OKX gives no positions of a sub-account that way" in html


def test_an_account_without_snapshots_says_so(client):
    account = make_account("Empty")
    html = signed_in(client, "viewer").get(f"/accounts/{account.pk}/").content.decode()
    assert "No snapshot of this account yet." in html
    assert "No equity history in this range yet." in html


def test_an_unknown_account_is_404_and_a_bad_range_400(client, team):
    signed_in(client, "viewer")
    assert client.get("/accounts/999999/").status_code == 404
    response = client.get(f"/accounts/{team['master'].pk}/?range=5y")
    assert response.status_code == 400
    assert "1d, 7d, 30d, 90d, all" in response.content.decode()


# -- the chart ------------------------------------------------------------------------------------
def test_the_chart_labels_its_high_low_and_last_values_and_escapes_its_label(settings):
    settings.DISPLAY_TIME_ZONE = "Asia/Tokyo"
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    points = [(start + timedelta(hours=h), Decimal(v)) for h, v in enumerate(["100", "250.5", "90", "120"])]
    svg = line_chart(points, label="<b>Equity</b>")
    assert "high 250.50 USD" in svg and "low 90.00 USD" in svg and "last 120.00 USD" in svg
    assert "&lt;b&gt;Equity&lt;/b&gt;" in svg and "<b>" not in svg
    assert "times in Asia/Tokyo" in svg
    assert (start + timedelta(hours=9)).strftime("%H:%M") in svg  # midnight UTC is 09:00 in Tokyo
    assert " style=" not in svg


def test_a_flat_or_single_point_chart_still_draws():
    now = timezone.now()
    assert "last 5.00 USD" in line_chart([(now, Decimal("5"))], label="x")
    flat = line_chart([(now - timedelta(hours=1), Decimal("5")), (now, Decimal("5"))], label="x")
    assert "last / high / low 5.00 USD" in flat  # one label, not two on top of each other
