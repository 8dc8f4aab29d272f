"""Issue 18, a new user's review of the demo: the overview and its chart say what they show.
The chart starts and ends on the readings its change figure counts from and to (the points between
are means, and say so); before the first refresh there is no total, only why; an unknown change
is one "—" with its reason; the top bar counts keys that need attention and the key column shows
the worst warning's word; a bad query value is the 400 page with the top bar; losses carry the
minus sign on pages and the hyphen in CSV and API; a phone still sees why a row is off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.accounts_support import make_user
from tests.test_pages_queries import give_key, make_account, snap

pytestmark = pytest.mark.django_db

MINUS = "\u2212"


def signed_in(client, role: str = "viewer"):
    client.force_login(make_user(role))
    return client


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def kpi(html: str, kpi_id: str) -> tuple[str, str]:
    value = re.search(rf'id="{kpi_id}">(.*?)</div>', html, re.S).group(1)
    basis = re.search(rf'id="{kpi_id}-basis">(.*?)</div>', html, re.S).group(1)
    return text(value), text(basis)


def row_cells(html: str, pk: int) -> list[str]:
    row = re.search(rf'<tr[^>]*data-account="{pk}">(.*?)</tr>', html, re.S).group(1)
    return [text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def chart_values(html: str) -> list[list[str]]:
    """The chart's values table (newest first): [time, equity, kind] per point."""
    table = re.search(r'<details class="chart-values">(.*?)</details>', html, re.S).group(1)
    body = table[table.index("<tbody>") :]
    return [
        [text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def mark_labels(html: str) -> list[str]:
    return re.findall(r'<text class="mark-label [^"]*"[^>]*>([^<]*)</text>', html)


# -- 1. the chart agrees with the change figure beside it ---------------------------------------------
@pytest.fixture
def hour_old_team(settings):
    """One account an hour old: its first reading 841,669.48, the next four in the same 5-minute
    slot lower (so that slot's mean is 841,541.90), then readings above, the latest 841,566.94."""
    settings.DISPLAY_TIME_ZONE = "UTC"
    now = timezone.now()
    # 10 s into a 5-minute slot, so the slot's start and its mean are not the first reading.
    first = datetime.fromtimestamp((now - timedelta(minutes=58)).timestamp() // 300 * 300 + 10, tz=UTC)
    account = make_account("Alpha")
    give_key(account)
    snap(account, "841669.48", at=first)
    k = 1
    while first + timedelta(minutes=k) < now - timedelta(minutes=1):
        snap(account, "841510.00" if k < 5 else str(Decimal("841600") + k), at=first + timedelta(minutes=k))
        k += 1
    latest = now - timedelta(seconds=20)
    snap(account, "841566.94", at=latest)
    return {"account": account, "first": first, "latest": latest}


def test_the_chart_starts_and_ends_on_the_readings_of_the_change_since_first_data(client, hour_old_team):
    first, latest = hour_old_team["first"], hour_old_team["latest"]
    signed_in(client)
    account_path = f"/accounts/{hour_old_team['account'].pk}/"
    for path, kpi_id in (("/", "change-24h"), (account_path, "account-change-24h")):
        html = client.get(path).content.decode()
        change, basis = kpi(html, kpi_id)
        assert change == f"{MINUS}102.54 USD {MINUS}0.01%", path
        assert basis.startswith(f"since first data, {first:%Y-%m-%d %H:%M}"), path
        values = chart_values(html)
        # Oldest point: the first reading, at its own time; newest: the latest reading, the total.
        assert values[-1] == [f"{first:%Y-%m-%d %H:%M:%S}", "841,669.48", "reading"], path
        assert values[0] == [f"{latest:%Y-%m-%d %H:%M:%S}", "841,566.94", "reading"], path
        assert Decimal("841566.94") - Decimal("841669.48") == Decimal("-102.54")
        # The points between are means and are called so; no "low" names a mean as a reading.
        assert {kind for _, _, kind in values[1:-1]} == {"mean of its slot"}, path
        assert "841,541.90" not in html, path  # the first slot's mean is not drawn as a point
        for label in mark_labels(html.split('id="pnl"')[0]):  # the equity chart (the PnL's is below)
            assert "(mean)" in label or "841,669.48" in label or "841,566.94" in label, label
        assert "Each point between them is a mean" in html, path
    overview = client.get("/").content.decode()
    assert re.search(r'id="total-equity">\s*841,566.94 USD', overview)


def test_the_charts_ends_differ_by_exactly_the_change_printed_beside_it(client, settings):
    """Two accounts whose readings round differently one by one and summed: the line's first and
    last values still differ by the change figure, and the last is the total."""
    settings.DISPLAY_TIME_ZONE = "UTC"
    now = timezone.now()
    for name in ("Alpha", "Beta"):
        account = make_account(name)
        give_key(account)
        snap(account, "100.005", at=now - timedelta(minutes=30))
        snap(account, "100.004", at=now - timedelta(seconds=20))
    html = signed_in(client).get("/").content.decode()
    change = kpi(html, "change-24h")[0].split(" USD")[0]
    values = chart_values(html)
    first, last = (Decimal(values[i][1].replace(",", "")) for i in (-1, 0))
    assert values[-1][2] == values[0][2] == "reading"
    assert last - first == Decimal(change.replace(MINUS, "-").replace("+", ""))
    assert re.search(rf'id="total-equity">\s*{last} USD', html)


# -- 2 and 3. before the first refresh: no total, one dash with its reason ------------------------------
def test_before_the_first_refresh_there_is_no_total_but_the_reason(client):
    alpha, beta = make_account("Alpha"), make_account("Beta")
    for account in (alpha, beta):
        give_key(account)
    html = signed_in(client).get("/").content.decode()
    assert re.search(r'id="total-equity">\s*—\s*<', html)
    covers = text(re.search(r'id="total-covers">(.*?)</div>', html, re.S).group(1))
    assert covers.startswith("No account read yet: the first refresh runs within a minute.")
    assert "0.00 USD" not in html and "100%" not in html
    footer = text(re.search(r"<tfoot>(.*?)</tfoot>", html, re.S).group(1))
    no_reading = "— no reading at or before the period&#x27;s end"
    assert footer == f"Total — — {no_reading} {no_reading}"  # equity, change, PnL 24 h and 7 d
    for account in (alpha, beta):
        cells = row_cells(html, account.pk)
        assert cells[3] == "—" and cells[4] == "—"  # equity, share
        assert cells[5] == "— never read"  # one dash and why


def test_the_reason_names_the_configured_refresh_interval(client, settings):
    settings.REFRESH_INTERVAL_SECONDS = 300
    give_key(make_account("Alpha"))
    html = signed_in(client).get("/").content.decode()
    assert "No account read yet: the first refresh runs within 5 minutes." in text(html)


def test_an_unknown_change_is_one_dash_with_its_reason(client):
    give_key(make_account("Alpha"))
    html = signed_in(client).get("/").content.decode()
    for kpi_id in ("change-24h", "change-7d"):
        assert kpi(html, kpi_id) == ("—", "no account read yet: the first refresh runs within a minute")
    assert '<span class="pct">—</span>' not in html and '<span class="pct"></span>' not in html


# -- 4. the top bar counts keys needing attention; the key column shows the worst word --------------
def test_the_top_bar_counts_keys_that_need_attention_and_the_table_says_why(client):
    now = timezone.now()
    calm = make_account("Calm")
    give_key(calm)
    failing = make_account("Failing")
    give_key(failing, health_status="failing", health_message="The API key is frozen by OKX.")
    due = make_account("Due")
    give_key(due, okx_created_at=now - timedelta(days=120))
    for account in (calm, failing, due):
        snap(account, "1000", at=now - timedelta(seconds=20))
    html = signed_in(client).get("/").content.decode()
    assert re.search(r'<span class="count">2</span> keys need attention</a>', html)
    assert "key warning" not in html
    assert row_cells(html, due.pk)[10] == "rotation due"
    # The account page's key figure says the same word.
    page = signed_in(client).get(f"/accounts/{due.pk}/").content.decode()
    assert re.search(r'<span class="badge grace" id="account-key-badge">rotation due</span>', page)
    assert row_cells(html, failing.pk)[10] == "failing"
    assert row_cells(html, calm.pk)[10] == "ok"
    block = html[html.index('id="key-warnings-title"') :]
    assert "rotation due" in block[: block.index("</section>")]
    # Sorting by key status puts the keys needing attention first, failing first.
    ordered = signed_in(client).get("/?sort=key&dir=asc").content.decode()
    names = re.findall(r'data-account="\d+">\s*<td><a href="/accounts/\d+/">([^<]+)</a>', ordered)
    assert names == ["Failing", "Due", "Calm"]


def test_one_key_needing_attention_reads_in_the_singular(client):
    failing = make_account("Failing")
    give_key(failing, health_status="failing", health_message="The API key is frozen by OKX.")
    html = signed_in(client).get("/").content.decode()
    assert re.search(r'<span class="count">1</span> key needs attention</a>', html)


# -- 5. a bad query value is the project's 400 page --------------------------------------------------
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/?sort=bogus", "name, kind, environment, equity"),
        ("/?range=5y", "1d, 7d, 30d, 90d, all"),
        ("/keys/?sort=nonsense", "Unknown sort. Use one of:"),
        ("/keys/?sort=account&dir=up", "Use asc or desc"),
        ("/accounts/{pk}/?range=5y", "1d, 7d, 30d, 90d, all"),
    ],
)
def test_a_bad_query_value_is_the_400_page_with_the_menu_and_the_allowed_values(client, path, allowed):
    account = make_account("Alpha")
    give_key(account)
    response = signed_in(client).get(path.format(pk=account.pk))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<nav class="sections"' in html and '<header class="topbar">' in html
    message = text(re.search(r'id="bad-request-message">(.*?)</p>', html, re.S).group(1))
    assert allowed in message


def test_the_apis_400_stays_json(client):
    account = make_account("Alpha")
    response = signed_in(client).get(f"/api/v1/accounts/{account.pk}/equity?range=5y")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")


# -- 6. the minus sign on pages, the hyphen in data -------------------------------------------------
def test_losses_have_the_minus_sign_on_pages_and_the_hyphen_in_csv_and_api(client):
    now = timezone.now()
    account = make_account("Alpha")
    give_key(account)
    snap(account, "1000000.00", at=now - timedelta(days=2))
    snap(account, "999897.46", at=now - timedelta(seconds=20), upls=("-5.5",))
    signed_in(client)
    html = client.get("/").content.decode()
    assert kpi(html, "change-24h")[0] == f"{MINUS}102.54 USD {MINUS}0.01%"
    cells = row_cells(html, account.pk)
    assert cells[5] == f"{MINUS}102.54 {MINUS}0.01%"
    assert cells[8] == f"{MINUS}5.50"
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert kpi(page, "account-change-24h")[0] == f"{MINUS}102.54 USD {MINUS}0.01%"
    assert f"{MINUS}5.50" in page
    csv = client.get("/api/v1/accounts.csv").content.decode()
    assert "-102.54" in csv and MINUS not in csv
    api = client.get("/api/v1/accounts").content.decode()
    assert "-102.54" in api and MINUS not in api


# -- 7. a phone still sees why a row is off -----------------------------------------------------------
def test_a_rows_key_and_staleness_are_in_the_cell_a_phone_keeps(client):
    now = timezone.now()
    frozen = make_account("zeta-frozen")
    give_key(frozen, health_status="failing", health_message="The API key is frozen by OKX.")
    snap(frozen, "100", at=now - timedelta(hours=3))
    html = signed_in(client).get("/").content.decode()
    row = re.search(rf'<tr[^>]*data-account="{frozen.pk}">(.*?)</tr>', html, re.S).group(1)
    first_cell = re.search(r"<td>(.*?)</td>", row, re.S).group(1)  # the name cell: never "opt"
    status = text(re.search(r'<span class="row-status">(.*)</span>', first_cell, re.S).group(1))
    assert "key failing" in status and "stale: read" in status


# -- in a browser: the chart with means, at 1366 and 390 px ---------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_hour_old_chart_reads_at_1366_and_390_px(live_server, settings):
    from tests.accounts_support import PASSWORD
    from tests.browser import chromium, screenshot_path, sign_in

    settings.DISPLAY_TIME_ZONE = "UTC"
    now = timezone.now()
    account = make_account("Alpha")
    give_key(account)
    for minutes in range(58, 0, -1):
        snap(account, str(Decimal("841600") + (minutes * 37 % 101)), at=now - timedelta(minutes=minutes))
    snap(account, "841566.94", at=now - timedelta(seconds=20))
    user = make_user("viewer")
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1366, "height": 900})
        sign_in(tab, live_server.url, user.username, PASSWORD)
        for width in (1366, 390):
            tab.set_viewport_size({"width": width, "height": 900})
            for name, path in (("overview", "/"), ("account", f"/accounts/{account.pk}/")):
                tab.goto(f"{live_server.url}{path}")
                tab.screenshot(path=str(screenshot_path(f"h1-chart-{name}-{width}")), full_page=True)
                assert tab.evaluate("document.documentElement.scrollWidth") <= width
                note = tab.locator(".chart-note")
                assert note.is_visible() and "Each point between them is a mean" in note.inner_text()
                drawing = "wide" if width == 1366 else "narrow"
                labels = tab.locator(f"svg.chart.{drawing} text.mark-label").all_text_contents()
                assert any(label.startswith("last") and "841,566.94" in label for label in labels), labels
            response = tab.goto(f"{live_server.url}/?sort=bogus")
            tab.screenshot(path=str(screenshot_path(f"h1-400-{width}")), full_page=True)
            assert response.status == 400 and tab.locator("nav.sections").is_visible()
            assert tab.evaluate("document.documentElement.scrollWidth") <= width
