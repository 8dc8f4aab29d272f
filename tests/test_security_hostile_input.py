"""Hostile input through the real views: Hypothesis sends huge strings, unicode, control
characters, HTML and SQL fragments to the credential forms, the account form, the report schedule
form, the page filters and every API query parameter. No 500; a refused form stores nothing; an
OKX message carrying HTML is shown escaped. (Schemathesis drives the API from its OpenAPI schema
in test_api_schema.py.)"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Account, Credential
from reports.models import ReportSchedule
from snapshots.refresh import refresh_account
from tests.accounts_support import PASSWORD, make_user
from tests.workers_support import add_account, frozen

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
FRAGMENTS = [
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    '"; DROP TABLE accounts_account; --',
    "\x00",
    "\r\n",
    "../../etc/passwd",
    "%00",
    "{{ 7*7 }}",
    "\u202e",
    "😀",
    "9" * 400,
]
HOSTILE = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=5000),
    st.builds(lambda a, b: a + b, st.sampled_from(FRAGMENTS), st.text(max_size=20)),
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def signed_in(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role), backend=MODEL_BACKEND)
    return client


def stored() -> tuple[int, int, int]:
    return Account.objects.count(), Credential.objects.count(), ReportSchedule.objects.count()


@pytest.fixture
def team(make_simulator):
    sim = make_simulator(frozen())
    account = add_account(sim, "main")
    refresh_account(account.pk, cycle=1)
    return {"sim": sim, "account": account, "admin": signed_in("key_admin"), "viewer": signed_in("viewer")}


@FUZZ
@given(name=HOSTILE, api_key=HOSTILE, secret_key=HOSTILE, passphrase=HOSTILE, base_url=HOSTILE)
def test_the_add_account_form_refuses_hostile_input_and_stores_nothing(
    team, name, api_key, secret_key, passphrase, base_url
):
    before = stored()
    form = {"name": name, "kind": "master", "environment": "live", "region": "global", "base_url": base_url}
    credentials = {"api_key": api_key, "secret_key": secret_key, "passphrase": passphrase}
    response = team["admin"].post(reverse("admin:accounts_account_add"), {**form, **credentials})
    assert response.status_code == 200  # the form again, with its errors; never a 500 or a redirect
    assert "errornote" in response.content.decode() or "errorlist" in response.content.decode()
    assert stored() == before


@FUZZ
@given(api_key=HOSTILE, secret_key=HOSTILE, passphrase=HOSTILE)
def test_the_rotate_form_refuses_hostile_input_and_keeps_the_current_key(
    team, api_key, secret_key, passphrase
):
    account = team["account"]
    current = account.active_credential().pk
    url = reverse("admin:accounts_account_rotate", args=[account.pk])
    data = {"password": PASSWORD, "api_key": api_key, "secret_key": secret_key, "passphrase": passphrase}
    response = team["admin"].post(url, data)
    assert response.status_code == 200
    assert account.active_credential().pk == current
    assert Credential.objects.count() == 1


@FUZZ
@given(name=HOSTILE, zone=HOSTILE, recipients=HOSTILE, time_of_day=HOSTILE, currency=HOSTILE)
def test_the_report_schedule_form_refuses_hostile_input_and_stores_nothing(
    team, name, zone, recipients, time_of_day, currency
):
    before = stored()
    data = {"name": name, "cadence": "daily", "time_of_day": time_of_day, "time_zone": zone}
    data |= {"recipients": recipients, "all_accounts": "on", "currency": currency, "enabled": "on"}
    response = team["admin"].post(reverse("admin:reports_reportschedule_add"), data)
    if response.status_code == 302:  # everything happened to be valid: then it was stored whole
        assert ReportSchedule.objects.count() == before[2] + 1
        ReportSchedule.objects.all().delete()
        return
    assert response.status_code == 200
    assert stored() == before


PAGE_FILTERS = {
    "pages:errors": ("account", "category", "code", "since", "until"),
    "pages:overview": ("range",),
    "reports:list": ("page",),
    "reports:balances_at": ("date", "time", "zone"),
    "api:errors": ("account", "category", "code", "since", "until", "limit", "offset"),
    "api:accounts": ("limit", "offset"),
    "api:keys": ("limit", "offset"),
}


@FUZZ
@given(values=st.lists(HOSTILE, min_size=7, max_size=7))
def test_filters_and_api_parameters_answer_hostile_values_without_a_server_error(team, values):
    account = team["account"]
    targets = [(reverse(name), params) for name, params in PAGE_FILTERS.items()]
    targets += [
        (reverse("pages:account", args=[account.pk]), ("range",)),
        (reverse("api:equity", args=[str(account.pk)]), ("range",)),
        (reverse("api:balances", args=[str(account.pk)]), ("limit", "offset")),
    ]
    for url, params in targets:
        query = dict(zip(params, values, strict=False))
        response = team["viewer"].get(url, query)
        assert response.status_code in (200, 400), (url, query, response.status_code)
        if url.startswith("/api/") and response.status_code == 400:
            assert response["Content-Type"].startswith("application/json")


def test_an_okx_message_with_html_is_shown_escaped(team):
    sim, account = team["sim"], team["account"]
    sim.inject_fault(
        "/api/v5/account/balance", code="50013", msg='<script>alert("okx")</script><b>busy</b>', times=3
    )
    refresh_account(account.pk, cycle=2)
    for url in (reverse("pages:errors"), reverse("pages:keys"), reverse("pages:account", args=[account.pk])):
        page = team["viewer"].get(url).content.decode()
        assert '<script>alert("okx")' not in page and "<b>busy</b>" not in page, url
    errors = team["viewer"].get(reverse("pages:errors")).content.decode()
    assert "&lt;script&gt;alert(" in errors
