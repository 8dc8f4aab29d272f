"""The errors page: the diagnosed history newest first, filters (clear message on bad input),
escaping of OKX's text, and acknowledging (operators only, CSRF, filters kept)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.history import ApiError, ErrorAcknowledgement
from accounts.models import Account
from okxapi import OkxError
from tests.accounts_support import make_user

pytestmark = pytest.mark.django_db

ERRORS_URL = "/errors/"
BALANCE = "/api/v5/account/balance"


def _error(account: Account, *, at: datetime | None = None, **fields) -> ApiError:
    at = at or timezone.now()
    values = {
        "endpoint": "/api/v5/account/balance",
        "http_status": 401,
        "code": "50113",
        "message": "Invalid Sign",
        "category": "signature",
        "meaning": "The signature does not match.",
        "steps": ["Check the secret key.", "Check the clock."],
        "first_seen": at,
        "last_seen": at,
    }
    return ApiError.objects.create(account=account, **{**values, **fields})


def _ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="error-(\d+)"', html)]


@pytest.fixture
def desks() -> tuple[Account, Account]:
    return Account.objects.create(name="alpha-desk"), Account.objects.create(name="beta-desk")


@pytest.mark.parametrize(
    "role, status", [("viewer", 200), ("operator", 200), ("key_admin", 200), ("stranger", 403)]
)
def test_the_errors_page_is_for_dashboard_readers(client, role, status):
    client.force_login(make_user(role))
    assert client.get(ERRORS_URL).status_code == status


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(ERRORS_URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_errors_come_newest_first_fifty_to_a_page(client, desks):
    now = timezone.now()
    rows = [_error(desks[0], at=now - timedelta(minutes=n), code=str(50000 + n)) for n in range(60)]
    client.force_login(make_user("viewer"))
    first = _ids(client.get(ERRORS_URL).content.decode())
    second = _ids(client.get(ERRORS_URL, {"page": 2}).content.decode())
    assert first == [row.pk for row in rows[:50]]
    assert second == [row.pk for row in rows[50:]]


def test_each_row_shows_the_diagnosis(client, desks):
    _error(desks[0], count=7)
    client.force_login(make_user("viewer"))
    html = client.get(ERRORS_URL).content.decode()
    for text in ("alpha-desk", "/api/v5/account/balance", "401", "50113", "Invalid Sign", "signature"):
        assert text in html
    assert "The signature does not match." in html and "<li>Check the clock.</li>" in html
    assert '<td class="num count" data-label="Count">7</td>' in html


def test_okx_text_is_escaped(client, desks):
    _error(desks[0], message='<script>alert("x")</script>', endpoint="/api/v5/<b>bold</b>")
    client.force_login(make_user("viewer"))
    html = client.get(ERRORS_URL).content.decode()
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_filters_by_account_category_and_code(client, desks):
    alpha, beta = desks
    sign = _error(alpha)
    limit = _error(alpha, code="50011", category="rate_limit", http_status=429)
    other = _error(beta)
    client.force_login(make_user("viewer"))

    def shown(**query) -> set[int]:
        response = client.get(ERRORS_URL, query)
        assert response.status_code == 200
        return set(_ids(response.content.decode()))

    assert shown(account=alpha.pk) == {sign.pk, limit.pk}
    assert shown(category="rate_limit") == {limit.pk}
    assert shown(code="50113") == {sign.pk, other.pk}
    assert shown(account=beta.pk, code="50113") == {other.pk}
    assert shown(category="clock") == set()


@override_settings(DISPLAY_TIME_ZONE="Asia/Tokyo")
def test_dates_are_whole_days_in_the_display_zone(client, desks):
    # 16:00 UTC on 1 May is 01:00 on 2 May in Tokyo.
    late = _error(desks[0], at=datetime(2024, 5, 1, 16, 0, tzinfo=UTC))
    early = _error(desks[0], at=datetime(2024, 5, 1, 14, 0, tzinfo=UTC), code="50001")
    client.force_login(make_user("viewer"))

    def shown(**query) -> set[int]:
        return set(_ids(client.get(ERRORS_URL, query).content.decode()))

    assert shown(since="2024-05-02", until="2024-05-02") == {late.pk}
    assert shown(since="2024-05-01", until="2024-05-01") == {early.pk}
    assert shown(since="2024-05-03") == set()


def test_an_error_spanning_days_matches_any_day_it_was_seen(client, desks):
    span = _error(
        desks[0],
        first_seen=datetime(2024, 5, 1, 10, tzinfo=UTC),
        last_seen=datetime(2024, 5, 3, 10, tzinfo=UTC),
    )
    client.force_login(make_user("viewer"))
    assert _ids(client.get(ERRORS_URL, {"since": "2024-05-02", "until": "2024-05-02"}).content.decode()) == [
        span.pk
    ]


@pytest.mark.parametrize(
    "query, says",
    [
        ({"category": "bogus"}, "Select a valid choice"),
        ({"account": "999999"}, "Select a valid choice"),
        ({"account": "abc"}, "Select a valid choice"),
        ({"since": "yesterday"}, "Enter a valid date"),
        ({"until": "2024-13-40"}, "Enter a valid date"),
        ({"code": "<x>"}, "An OKX code is digits"),
        ({"since": "2024-05-03", "until": "2024-05-01"}, "on or before"),
    ],
)
def test_bad_filters_get_a_clear_message_not_a_crash(client, desks, query, says):
    _error(desks[0])
    client.force_login(make_user("viewer"))
    response = client.get(ERRORS_URL, query)
    html = response.content.decode()
    assert response.status_code == 400
    assert "These filters cannot be used" in html and says in html
    assert _ids(html) == []


def test_a_page_number_out_of_range_shows_the_last_page(client, desks):
    row = _error(desks[0])
    client.force_login(make_user("viewer"))
    assert _ids(client.get(ERRORS_URL, {"page": "99"}).content.decode()) == [row.pk]
    assert _ids(client.get(ERRORS_URL, {"page": "x"}).content.decode()) == [row.pk]


# --- Acknowledge ----------------------------------------------------------------------------
def _ack_url(error: ApiError) -> str:
    return reverse("pages:acknowledge_error", args=[error.pk])


def test_only_operators_see_the_acknowledge_button(client, desks):
    _error(desks[0])
    client.force_login(make_user("viewer"))
    assert "Acknowledge</button>" not in client.get(ERRORS_URL).content.decode()
    client.force_login(make_user("operator"))
    assert "Acknowledge</button>" in client.get(ERRORS_URL).content.decode()


def test_an_operator_acknowledges_and_returns_to_the_same_filters(client, desks):
    error = _error(desks[0])
    operator = make_user("operator")
    client.force_login(operator)
    back = f"{ERRORS_URL}?category=signature&account={desks[0].pk}"
    response = client.post(_ack_url(error), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    error.refresh_from_db()
    assert error.acknowledged and error.acknowledged_by == operator
    assert timezone.now() - error.acknowledged_at < timedelta(minutes=1)
    html = client.get(back).content.decode()
    assert "acknowledged" in html and f"by {operator.username}" in html


def test_acknowledge_does_not_redirect_to_another_site(client, desks):
    error = _error(desks[0])
    client.force_login(make_user("operator"))
    response = client.post(_ack_url(error), {"next": "https://evil.example/"})
    assert response["Location"] == ERRORS_URL


@pytest.mark.parametrize("role", ["viewer", "stranger"])
def test_others_cannot_acknowledge(client, desks, role):
    error = _error(desks[0])
    client.force_login(make_user(role))
    assert client.post(_ack_url(error)).status_code == 403
    error.refresh_from_db()
    assert not error.acknowledged


def test_acknowledge_takes_a_post_with_a_csrf_token(desks):
    error = _error(desks[0])
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator"))
    assert client.get(_ack_url(error)).status_code == 405
    assert client.post(_ack_url(error)).status_code == 403
    error.refresh_from_db()
    assert not error.acknowledged
    anonymous = Client()
    response = anonymous.post(_ack_url(error))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_acknowledging_a_missing_error_is_404(client):
    client.force_login(make_user("operator"))
    assert client.post(reverse("pages:acknowledge_error", args=[999999])).status_code == 404


# --- Dates out of range (issue 17, finding 4) ----------------------------------------------------
@pytest.mark.parametrize(
    "zone", ["UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12"]
)
@pytest.mark.parametrize("query", [{"until": "9999-12-31"}, {"since": "0001-01-01"}, {"since": "9999-12-31"}])
def test_a_date_at_the_end_of_the_calendar_is_refused_with_a_message_in_any_zone(
    client, desks, settings, zone, query
):
    settings.DEBUG = False
    settings.DISPLAY_TIME_ZONE = zone
    _error(desks[0])
    client.force_login(make_user("viewer"))
    response = client.get(ERRORS_URL, query)
    html = response.content.decode()
    assert response.status_code == 400
    assert "These filters cannot be used" in html and "Enter a date from 0001-01-02 to 9999-12-30." in html
    assert _ids(html) == []


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_the_first_and_last_days_allowed_still_filter(client, desks, settings, zone):
    settings.DISPLAY_TIME_ZONE = zone
    row = _error(desks[0])
    client.force_login(make_user("viewer"))
    response = client.get(ERRORS_URL, {"since": "0001-01-02", "until": "9999-12-30"})
    assert response.status_code == 200 and _ids(response.content.decode()) == [row.pk]


# --- Acknowledging that lasts (issue 18, item 7) -------------------------------------------------
BUSY = OkxError(BALANCE, http_status=429, code="50013", message="Systems are busy")


def _fail(account: Account, error: OkxError = BUSY, *, at: datetime | None = None) -> ApiError:
    """A failure as the call observer records it (accounts.calls.CallRecorder)."""
    return ApiError.record(account.pk, None, error, now=at)


def _state(client, row: ApiError) -> str:
    html = client.get(ERRORS_URL).content.decode()
    match = re.search(rf'<tr id="error-{row.pk}".*?<td class="state"[^>]*>(.*?)</td>', html, re.S)
    assert match, f"row {row.pk} is not on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_a_new_failure_of_an_acknowledged_kind_shows_acknowledged_with_who_and_until_when(client, desks):
    alpha = desks[0]
    first = _fail(alpha, at=timezone.now() - timedelta(hours=2))  # older than the repeat window
    operator = make_user("operator")
    client.force_login(operator)

    client.post(_ack_url(first), {"snooze": "recovery"})
    again = _fail(alpha)

    assert again.pk != first.pk  # recorded on its own row (a new hour), with its count
    assert again.acknowledged and again.acknowledged_by == operator
    assert ApiError.objects.unacknowledged().count() == 0
    assert _state(client, again) == f"acknowledged by {operator.username}, " + (
        f"{timezone.localtime(again.acknowledged_at):%Y-%m-%d %H:%M} until it recovers"
    )
    assert _fail(alpha).pk == again.pk and ApiError.objects.get(pk=again.pk).count == 2
    # Another kind of the same account is news.
    signature = _fail(alpha, OkxError(BALANCE, http_status=401, code="50113", message="Invalid Sign"))
    assert not signature.acknowledged
    assert "Acknowledge" in _state(client, signature)


def test_a_snooze_ends_and_the_next_failure_is_news_again(client, desks):
    alpha = desks[0]
    start = timezone.now()
    row = _fail(alpha, at=start)
    client.force_login(make_user("operator"))
    with time_machine.travel(start, tick=False):
        response = client.post(_ack_url(row), {"snooze": "1h"}, follow=True)
    assert "until" in response.content.decode()

    within = _fail(alpha, at=start + timedelta(minutes=59))
    after = _fail(alpha, at=start + timedelta(minutes=61))

    assert within.pk == row.pk and within.acknowledged
    assert after.pk != row.pk and not after.acknowledged
    with time_machine.travel(start, tick=False):
        until = timezone.localtime(start + timedelta(hours=1))
        assert _state(client, row).endswith(f"until {until:%Y-%m-%d %H:%M} or until it recovers")


def test_acknowledge_all_for_an_account_takes_its_open_kinds_and_no_other_accounts(client, desks):
    alpha, beta = desks
    busy = _fail(alpha)
    sign = _fail(alpha, OkxError(BALANCE, http_status=401, code="50113", message="Invalid Sign"))
    other = _fail(beta)
    client.force_login(make_user("operator"))

    response = client.post(
        reverse("pages:acknowledge_account", args=[alpha.pk]), {"snooze": "1d"}, follow=True
    )

    assert "Acknowledged 2 kinds of error of alpha-desk (2 rows)" in response.content.decode()
    assert set(ApiError.objects.unacknowledged().values_list("pk", flat=True)) == {other.pk}
    assert ErrorAcknowledgement.objects.filter(account=alpha).count() == 2
    assert all(a.until and a.until - a.at == timedelta(days=1) for a in ErrorAcknowledgement.objects.all())
    assert {busy.pk, sign.pk} == set(ApiError.objects.filter(acknowledged=True).values_list("pk", flat=True))
    assert _fail(alpha, at=timezone.now() + timedelta(hours=2)).acknowledged
    assert not _fail(beta, at=timezone.now() + timedelta(hours=2)).acknowledged


def test_the_row_buttons_offer_a_snooze_and_all_of_the_account(client, desks):
    row = _error(desks[0])
    client.force_login(make_user("operator"))
    state = _state(client, row)
    for label in ("until it recovers", "1 hour", "1 day", "1 week", "Acknowledge", "All of alpha-desk"):
        assert label in state
    html = client.get(ERRORS_URL).content.decode()
    assert f'formaction="{reverse("pages:acknowledge_account", args=[desks[0].pk])}"' in html


@pytest.mark.parametrize("snooze", ["forever", "2h", "<x>"])
def test_a_snooze_the_form_does_not_offer_is_refused_and_changes_nothing(client, desks, snooze):
    row = _error(desks[0])
    client.force_login(make_user("operator"))
    for url in (_ack_url(row), reverse("pages:acknowledge_account", args=[desks[0].pk])):
        response = client.post(url, {"snooze": snooze})
        assert response.status_code == 400
        assert "Choose how long" in response.content.decode()
    row.refresh_from_db()
    assert not row.acknowledged and not ErrorAcknowledgement.objects.exists()


@pytest.mark.parametrize(
    "role, status", [("viewer", 403), ("stranger", 403), ("operator", 302), ("key_admin", 302)]
)
def test_only_roles_that_operate_acknowledge_all_of_an_account(client, desks, role, status):
    _error(desks[0])
    client.force_login(make_user(role))
    assert client.post(reverse("pages:acknowledge_account", args=[desks[0].pk])).status_code == status
    assert ErrorAcknowledgement.objects.exists() is (status == 302)


def test_acknowledge_all_takes_a_post_with_a_csrf_token(desks):
    _error(desks[0])
    url = reverse("pages:acknowledge_account", args=[desks[0].pk])
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator"))
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert not ErrorAcknowledgement.objects.exists()
    assert client.post(reverse("pages:acknowledge_account", args=[999999])).status_code == 403  # CSRF first


def test_the_api_says_acknowledged_for_a_failure_under_an_acknowledgement(client, desks):
    first = _fail(desks[0], at=timezone.now() - timedelta(hours=2))
    operator = make_user("operator")
    client.force_login(operator)
    client.post(_ack_url(first))
    again = _fail(desks[0])
    rows = {row["id"]: row for row in client.get("/api/v1/errors").json()["results"]}
    assert rows[again.pk]["acknowledged"] is True and rows[again.pk]["acknowledged_at"]
