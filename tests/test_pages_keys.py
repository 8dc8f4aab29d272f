"""The keys page (urgency order, what to do), the top bar on every page (warnings count, freshness,
stale banner, Redis down), and the operator's "test this key now"."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts import desks
from accounts.health import HealthStatus
from accounts.history import ApiError
from accounts.models import Account, Credential
from dashboard.pages import context_processors
from snapshots.models import Snapshot
from tests.accounts_support import fake_key_set, install, make_user, register_key, sim_account

pytestmark = pytest.mark.django_db

KEYS_URL = "/keys/"


def _key(name: str, n: int, **fields) -> Credential:
    """An account with a stored credential in the state a key check would have left."""
    account = Account.objects.create(name=name, base_url="http://127.0.0.1:9/")
    credential = install(account, fake_key_set(n))
    fields.setdefault("permissions", ["read_only"])
    fields.setdefault("ip_binding", ["203.0.113.7"])
    fields.setdefault("health_status", HealthStatus.OK)
    Credential.objects.filter(pk=credential.pk).update(**fields)
    credential.refresh_from_db()
    return credential


def _urgency_set() -> dict[str, Credential]:
    now = timezone.now()
    return {
        "calm": _key("calm-desk", 1),
        "grace": _key("grace-desk", 2, health_status=HealthStatus.GRACE, health_message="timeout"),
        "expiring": _key("expiring-desk", 3, expires_on=(now + timedelta(days=10)).date()),
        "idle": _key(
            "idle-trader",
            4,
            permissions=["read_only", "trade"],
            ip_binding=[],
            last_success_at=now - timedelta(days=10),
        ),
        "failing": _key(
            "zz-failing",
            5,
            health_status=HealthStatus.FAILING,
            health_message="/api/v5/account/balance: The API key is frozen.",
        ),
    }


def _order(html: str) -> list[str]:
    return re.findall(r'data-account="([^"]+)"', html)


@pytest.mark.parametrize(
    "role, status", [("viewer", 200), ("operator", 200), ("key_admin", 200), ("stranger", 403)]
)
def test_the_keys_page_is_for_dashboard_readers(client, role, status):
    client.force_login(make_user(role))
    assert client.get(KEYS_URL).status_code == status


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(KEYS_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_keys_come_failing_first_then_by_days_to_deletion_or_expiry(client):
    _urgency_set()
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    assert _order(html) == ["zz-failing", "idle-trader", "expiring-desk", "grace-desk", "calm-desk"]
    deletion = (timezone.now() + timedelta(days=4)).date().isoformat()
    assert f"Deleted by OKX in 4 days (on {deletion})" in html
    assert "Expires in 10 days" in html


def test_each_key_says_what_to_do(client):
    keys = _urgency_set()
    ApiError.objects.create(
        account=keys["failing"].account,
        credential=keys["failing"],
        endpoint="/api/v5/account/balance",
        http_status=401,
        code="50100",
        message="API frozen, please contact customer service.",
        category="account_restricted",
        meaning="The API key is frozen.",
        steps=["Ask OKX support why the key was frozen.", "Rotate in a new key."],
        first_seen=timezone.now(),
        last_seen=timezone.now(),
    )
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    failing = html.split('data-account="zz-failing"')[1].split("</article>")[0]
    assert "The API key is frozen." in failing and "Ask OKX support why the key was frozen." in failing
    idle = html.split('data-account="idle-trader"')[1].split("</article>")[0]
    assert "make a signed call" in idle and "bind the key to an IP address" in idle
    expiring = html.split('data-account="expiring-desk"')[1].split("</article>")[0]
    assert "rotate it here before the expiry date" in expiring


def test_only_key_admins_get_the_rotate_link(client):
    keys = _urgency_set()
    rotate = reverse("admin:accounts_account_rotate", args=[keys["expiring"].account.pk])
    client.force_login(make_user("viewer"))
    assert rotate not in client.get(KEYS_URL).content.decode()
    client.force_login(make_user("key_admin"))
    assert rotate in client.get(KEYS_URL).content.decode()


def test_retired_keys_are_listed_apart(client):
    old = _key("rotated-desk", 6)
    install(old.account, fake_key_set(7))
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    retired = html.split("Retired keys (1)")[1]
    assert old.display_fingerprint in retired
    assert _order(html) == ["rotated-desk"]


def test_text_on_the_cards_is_escaped(client):
    _key("<b>desk</b>", 13, health_status=HealthStatus.FAILING, health_message="<script>alert(1)</script>")
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    assert "<b>desk</b>" not in html and "<script>alert(1)" not in html
    assert "&lt;b&gt;desk&lt;/b&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- The top bar ---------------------------------------------------------------------------
def test_the_top_bar_counts_keys_that_need_action_and_links_to_them(client):
    _urgency_set()  # failing, idle (danger) and expiring (warning) need action; grace and calm do not
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    badge = re.search(r'<a class="warn-count" href="([^"]+)"[^>]*>\s*<span class="count">(\d+)</span>', html)
    assert badge is not None
    assert badge.groups() == ("/keys/", "3")


def test_the_top_bar_makes_the_same_few_queries_for_any_number_of_keys():
    user = make_user("viewer")
    desks.visible_account_ids(user)  # what the user sees: cached on the request's user by then

    def count(n_keys: int) -> int:
        for n in range(n_keys):
            _key(f"desk-{n_keys}-{n}", 100 * n_keys + n)
        with CaptureQueriesContext(connection) as queries:
            context_processors._facts(user, {})
        return len(queries)

    assert count(2) == count(12) == 2


def test_fresh_data_shows_when_it_was_refreshed_without_a_banner(client):
    account = _key("fresh-desk", 8).account
    Snapshot.objects.create(account=account, cycle=1, taken_at=timezone.now(), total_equity_usd=Decimal("10"))
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    assert re.search(r"Data refreshed \d\d:\d\d \(UTC\)", html)
    assert "Data may be stale" not in html


@override_settings(DISPLAY_TIME_ZONE="Asia/Tokyo")
def test_the_refresh_time_is_shown_in_the_display_zone(client):
    account = _key("tokyo-desk", 9).account
    taken = timezone.now().replace(microsecond=0)
    Snapshot.objects.create(account=account, cycle=1, taken_at=taken, total_equity_usd=Decimal("10"))
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    tokyo = taken + timedelta(hours=9)
    assert (
        f"Data refreshed {tokyo:%H:%M} (Asia/Tokyo)" in html or f"{tokyo:%Y-%m-%d %H:%M} (Asia/Tokyo)" in html
    )


def test_data_older_than_two_refresh_intervals_gets_the_stale_banner(client, settings):
    account = _key("old-desk", 10).account
    taken = timezone.now() - timedelta(seconds=2 * settings.REFRESH_INTERVAL_SECONDS + 5)
    Snapshot.objects.create(account=account, cycle=1, taken_at=taken, total_equity_usd=Decimal("10"))
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    assert "Data may be stale" in html and "no account has been refreshed" in html


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_page_still_renders_when_redis_does_not_answer(client):
    account = _key("redis-desk", 11).account
    Snapshot.objects.create(account=account, cycle=1, taken_at=timezone.now(), total_equity_usd=Decimal("10"))
    client.force_login(make_user("viewer"))
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0"):
        response = client.get(KEYS_URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Data may be stale" in html and "Redis broker does not answer" in html
    assert "redis-desk" in html


def test_anonymous_pages_carry_no_top_bar(client):
    _urgency_set()
    html = client.get(reverse("login")).content.decode()
    assert "warn-count" not in html and "Data refreshed" not in html and "Data may be stale" not in html


# --- Test this key now (operators; the one page action that calls the exchange) -------------
@pytest.fixture
def sim_key(simulator):
    keys = fake_key_set(42)
    register_key(simulator, "700000000000000001", keys, perm="read_only")
    account = sim_account(simulator, "sim-main", uid="")
    install(account, keys)
    return simulator, account, keys


def test_an_operator_tests_a_key_and_reads_the_result(client, sim_key):
    _, account, _ = sim_key
    client.force_login(make_user("operator"))
    response = client.post(reverse("pages:test_key", args=[account.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("pages:account", args=[account.pk])
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "OKX accepts key" in message
    assert Credential.objects.get(account=account, status="active").health_checked_at is not None


def test_a_refused_key_test_says_the_diagnosis(client, sim_key):
    simulator, account, keys = sim_key
    simulator.freeze_key(keys["api_key"])
    client.force_login(make_user("operator"))
    response = client.post(reverse("pages:test_key", args=[account.pk]))
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "failed the check" in message and "frozen" in message.lower()
    assert keys["api_key"] not in message and keys["secret_key"] not in message


@pytest.mark.parametrize("role", ["viewer", "stranger"])
def test_only_operators_may_test_a_key(client, sim_key, role):
    _, account, _ = sim_key
    client.force_login(make_user(role))
    assert client.post(reverse("pages:test_key", args=[account.pk])).status_code == 403
    assert Credential.objects.get(account=account, status="active").health_checked_at is None


def test_testing_a_key_takes_a_post(client, sim_key):
    _, account, _ = sim_key
    client.force_login(make_user("operator"))
    assert client.get(reverse("pages:test_key", args=[account.pk])).status_code == 405
    client.logout()
    response = client.post(reverse("pages:test_key", args=[account.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_keys_page_test_button_posts_with_the_pages_csrf_token(sim_key):
    """The cards share one CSRF token (templates/jinja2/dashboard/_key_cards.html): the form an
    operator submits carries a token the CSRF check accepts, and a viewer gets no form at all."""
    from django.test import Client

    _, account, _ = sim_key
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator"))
    html = client.get(KEYS_URL).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)" class="inline"><input type="hidden" '
        r'name="csrfmiddlewaretoken" value="([^"]+)"><button[^>]*>Test this key now',
        html,
    )
    assert form is not None and form.group(1) == reverse("pages:test_key", args=[account.pk])
    response = client.post(form.group(1), {"csrfmiddlewaretoken": form.group(2)})
    assert response.status_code == 302
    assert Credential.objects.get(account=account, status="active").health_checked_at is not None
    viewer = Client()
    viewer.force_login(make_user("viewer"))
    assert "Test this key now" not in viewer.get(KEYS_URL).content.decode()


# --- Which key dies when (issue 18 items 2, 3, 6) ---------------------------------------------
def _table_order(html: str) -> list[str]:
    return re.findall(r'<tr id="key-row-\d+" data-name="([^"]+)"', html)


def _row(html: str, name: str) -> str:
    return html.split(f'data-name="{name}"')[1].split("</tr>")[0]


def test_an_unchecked_key_says_not_checked_yet_and_what_happens_never_healthy(client):
    _key("new-desk", 20, health_status="", permissions=[], ip_binding=[])
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    card = html.split('data-account="new-desk"')[1].split("</article>")[0]
    assert "healthy" not in card
    assert "not checked yet" in card and "Wait for the first check" in card
    assert "a worker checks a key as soon as it is added" in card
    row = _row(html, "new-desk")
    assert "not checked yet" in row and "not read yet" in row
    assert "1 key not checked yet" in html


def test_an_unchecked_keys_overdue_rotation_shows_before_any_check(client):
    """The rotation rule reads nothing from OKX: a key stored 100 days ago and never checked is
    already overdue, on the card, in the table and in the top bar's count."""
    credential = _key("old-unchecked", 21, health_status="", permissions=[], ip_binding=[])
    Credential.objects.filter(pk=credential.pk).update(activated_at=timezone.now() - timedelta(days=100))
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    card = html.split('data-account="old-unchecked"')[1].split("</article>")[0]
    assert "90-day rotation policy" in card and "rotation due since" in card
    assert "overdue" in _row(html, "old-unchecked")
    assert re.search(r'<span class="count">1</span>', html)


def test_an_overdue_rotation_counts_the_same_on_the_top_bar_the_overview_and_the_keys_page(client):
    now = timezone.now()
    _key("calm-desk", 22)
    _key("rotate-desk", 23, okx_created_at=now - timedelta(days=120))
    paused = _key("paused-desk", 24, okx_created_at=now - timedelta(days=120))
    Account.objects.filter(pk=paused.account_id).update(active=False)
    client.force_login(make_user("viewer"))

    overview = client.get(reverse("pages:overview")).content.decode()
    top_bar = re.search(
        r'<a class="warn-count" href="/keys/"[^>]*>\s*<span class="count">(\d+)</span>', overview
    )
    block = overview[overview.index('id="key-warnings-title"') :]
    block = block[: block.index("</section>")]
    listed = re.findall(r'<a href="/accounts/\d+/">([^<]+)</a>', block)
    keys = client.get(KEYS_URL).content.decode()
    marked = [name for name in _table_order(keys) if "needs attention" in _row(keys, name)]

    assert int(top_bar.group(1)) == len(listed) == len(marked) == 1
    assert listed == marked == ["rotate-desk"]
    assert "1 key needs attention" in keys and "rotation due" in block
    # Each surface says which warnings it shows.
    assert "Advice such as a missing IP binding is on the keys page" in block
    assert "the same keys the top bar counts and the overview lists" in keys


def test_the_table_says_which_key_dies_when(client):
    keys = _urgency_set()
    now = timezone.now()
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    header = html.split('id="key-table"')[1].split("</thead>")[0]
    for label in ("Account", "Key", "Permissions", "IP bound", "Age", "Rotate by", "OKX deletes it on",
                  "Expires", "Status", "Last success"):  # fmt: skip
        assert f">{label}</a></th>" in header
    idle = _row(html, "idle-trader")
    deletion = (now + timedelta(days=4)).date().isoformat()
    assert f'>{deletion}</time> <span class="note">unless used</span>' in idle
    assert "read_only, trade" in idle and '<td data-label="IP bound">no</td>' in idle
    calm = _row(html, "calm-desk")
    assert "never: bound to an IP" in calm and "yes (1 IP)" in calm
    rotate_by = (keys["calm"].activated_at + timedelta(days=90)).date().isoformat()
    assert f">{rotate_by}</time>" in calm
    assert (now + timedelta(days=10)).date().isoformat() in _row(html, "expiring-desk")
    assert "needs attention" in _row(html, "zz-failing") and "needs attention" not in calm


@override_settings(DISPLAY_TIME_ZONE="Asia/Tokyo")
def test_the_tables_dates_are_in_the_display_zone(client):
    # The last signed call at 20:00 UTC: OKX's deletion 14 days later is the next day in Tokyo.
    used = (timezone.now() - timedelta(days=10)).replace(hour=20, minute=0, second=0, microsecond=0)
    _key("night-trader", 25, permissions=["read_only", "trade"], ip_binding=[], last_success_at=used)
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    tokyo_day = (used + timedelta(days=14, hours=9)).date().isoformat()
    assert f">{tokyo_day}</time>" in _row(html, "night-trader")
    assert "Times and dates are in Asia/Tokyo" in html
    # The card's deadline is the same day as the table's.
    card = html.split('data-account="night-trader"')[1].split("</article>")[0]
    assert f"(on {tokyo_day})" in card


def test_the_table_sorts_by_a_columns_link(client):
    now = timezone.now()
    _key("b-young", 26, okx_created_at=now - timedelta(days=5))
    _key("a-old", 27, okx_created_at=now - timedelta(days=60))
    _key("c-middle", 28, okx_created_at=now - timedelta(days=30))
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    link = re.search(r'<a href="([^"]+)">Rotate by</a>', html).group(1).replace("&amp;", "&")
    assert link == "?sort=rotate_by&dir=asc"
    ascending = client.get(KEYS_URL + link).content.decode()
    assert _table_order(ascending) == ["a-old", "c-middle", "b-young"]
    flipped = re.search(r'<a href="([^"]+)" class="sorted asc">Rotate by</a>', ascending).group(1)
    descending = client.get(KEYS_URL + flipped.replace("&amp;", "&")).content.decode()
    assert _table_order(descending) == ["b-young", "c-middle", "a-old"]
    assert _table_order(client.get(KEYS_URL + "?sort=account").content.decode()) == [
        "a-old",
        "b-young",
        "c-middle",
    ]
    # The cards keep their order of urgency whatever the table's.
    assert _order(descending) == _order(ascending)


@pytest.mark.parametrize("query", ["?sort=secret_key_enc", "?sort=age&dir=sideways", "?sort=%00"])
def test_an_unknown_sort_is_a_clear_400(client, query):
    _key("desk", 29)
    client.force_login(make_user("viewer"))
    response = client.get(KEYS_URL + query)
    assert response.status_code == 400
    assert "Use one of" in response.content.decode() or "Use asc or desc" in response.content.decode()


def test_a_failing_keys_steps_start_with_words_not_an_endpoint(client):
    _urgency_set()
    client.force_login(make_user("viewer"))
    html = client.get(KEYS_URL).content.decode()
    failing = html.split('data-account="zz-failing"')[1].split("</article>")[0]
    steps = re.findall(r"<li>([^<]*)</li>", failing.split("What to do")[1])
    assert steps and all(not step.strip().startswith("/api") for step in steps)
    # A message stored with its endpoint ("/api/v5/account/balance: ...") is shown without it.
    assert "The API key is frozen." in steps and "/api/v5" not in failing


def test_a_frozen_keys_failed_test_is_a_check(client, sim_key):
    simulator, account, keys = sim_key
    simulator.freeze_key(keys["api_key"])
    client.force_login(make_user("operator"))
    client.post(reverse("pages:test_key", args=[account.pk]))
    html = client.get(KEYS_URL).content.decode()
    card = html.split(f'data-account="{account.name}"')[1].split("</article>")[0]
    assert "not checked yet" not in card and "last checked" in card and "the check failed" in card
    assert "failing" in card and "healthy" not in card


def test_testing_a_key_names_its_warnings_in_words(client, sim_key):
    _, account, _ = sim_key
    client.force_login(make_user("operator"))
    response = client.post(reverse("pages:test_key", args=[account.pk]))
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "This key is not bound to an IP address." in message
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", message), message  # no codes like no_ip_binding


def test_the_account_page_says_an_unchecked_keys_warnings_are_not_known(client):
    credential = _key("fresh-add", 30, health_status="", permissions=[], ip_binding=[])
    client.force_login(make_user("viewer"))
    html = client.get(reverse("pages:account", args=[credential.account_id])).content.decode()
    section = html[html.index('id="credential"') :]
    assert "not checked yet" in section and "Not known yet: this key has not been checked" in section
    assert "healthy" not in section
