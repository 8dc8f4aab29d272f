"""The errors page: the diagnosed history newest first, filters (clear message on bad input),
escaping of OKX's text, and acknowledging (operators only, CSRF, filters kept)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.history import ApiError
from accounts.models import Account
from tests.accounts_support import make_user

pytestmark = pytest.mark.django_db

ERRORS_URL = "/errors/"


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
    assert '<td class="num count">7</td>' in html


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
