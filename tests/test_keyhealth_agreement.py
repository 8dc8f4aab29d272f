"""Every surface that says which keys need a person agrees, on the demo scenario: the top bar's
count, the overview's "Keys needing attention", the keys page, the API's key list, the reports'
warnings and the alert rules all read Credential's key-health methods (issue 15: the top bar said
4 while the overview listed 2, because the overview left out overdue rotations).

The scenario: `make demo`'s accounts, one refresh and one key check each (tests/demo_data.py),
then gamma-mm's trade key left idle until OKX's deletion is 2 days away, and an expiry date 5
days ahead entered for beta-readonly's key, so that the idle and expiry reminders are due too.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.health import ACTION_SEVERITIES, HealthStatus
from accounts.models import Account, Credential, CredentialStatus
from alerts.models import AlertRule, AlertSettings
from alerts.rules import find
from dashboard.pages import context_processors
from dashboard.pages.keys import key_rows
from reports.build import build
from tests import demo_data
from tests.accounts_support import make_user

pytestmark = pytest.mark.django_db

IDLE_DAYS = 12  # OKX deletes the idle key after 14 days: 2 left, inside the 3-day reminder
EXPIRING_ACCOUNT = "beta-readonly"
EXPIRES_IN_DAYS = 5  # inside the 7-day reminder


@pytest.fixture
def demo(simulator):
    demo_data.seed(simulator)
    idle = Credential.objects.get(account__name=demo_data.IDLE_ACCOUNT, status=CredentialStatus.ACTIVE)
    Credential.objects.filter(pk=idle.pk).update(last_success_at=timezone.now() - timedelta(days=IDLE_DAYS))
    Credential.objects.filter(account__name=EXPIRING_ACCOUNT, status=CredentialStatus.ACTIVE).update(
        expires_on=(timezone.now() + timedelta(days=EXPIRES_IN_DAYS)).date()
    )


def _names(html: str, start: str, end: str) -> list[str]:
    block = html[html.index(start) : html.index(end)]
    return re.findall(r'<a href="/accounts/\d+/">([^<]+)</a>', block)


def test_every_surface_names_the_same_keys_needing_action(client, demo):
    now = timezone.now()
    active = Credential.objects.filter(status=CredentialStatus.ACTIVE).select_related("account")
    expected = sorted(c.account.name for c in active if c.needs_action(now))
    # Failing (the frozen key), idle deletion (danger), rotation overdue and expiring (warning).
    assert expected == ["alpha-desk", "beta-readonly", "gamma-mm", "zeta-frozen"]

    client.force_login(make_user("viewer"))
    html = client.get(reverse("pages:overview")).content.decode()
    top_bar = re.search(r'<a class="warn-count" href="/keys/"[^>]*>\s*<span class="count">(\d+)</span>', html)
    assert int(top_bar.group(1)) == context_processors.warnings_count(now) == len(expected)

    overview = _names(html, 'id="key-warnings-title"', 'class="kpis"')
    assert sorted(overview) == expected and len(overview) == len(expected)

    rows = key_rows(active, today=now.date(), now=now)
    assert sorted(row.account.name for row in rows if row.needs_action) == expected

    keys = client.get(reverse("api:keys")).json()
    needing = [
        key["account_name"]
        for key in keys
        if key["status"] == HealthStatus.FAILING
        or any(w["severity"] in ACTION_SEVERITIES for w in key["warnings"])
    ]
    assert sorted(needing) == expected

    report = build(Account.objects.filter(active=True), now)
    assert sorted({warning["account"] for warning in report.warnings}) == expected


def test_the_alert_rules_find_the_failing_idle_and_expiring_keys_the_keys_page_shows(demo):
    now = timezone.now()
    active = Credential.objects.filter(status=CredentialStatus.ACTIVE).select_related("account")
    rows = {row.account.name: row for row in key_rows(active, today=now.date(), now=now)}
    conditions = find(now, AlertSettings.load()).conditions.values()

    def subjects(rule: str) -> dict[str, str]:
        """account name -> the alert's title, for the conditions of one rule."""
        names = dict(Credential.objects.values_list("pk", "account__name"))
        return {names[c.credential_id]: c.title for c in conditions if c.rule == rule}

    assert sorted(subjects(AlertRule.KEY_FAILING)) == sorted(
        name for name, row in rows.items() if row.status == HealthStatus.FAILING
    )
    idle = subjects(AlertRule.IDLE_DELETION)
    assert sorted(idle) == [demo_data.IDLE_ACCOUNT]
    # The reminder's date is the keys page's deadline for the same key (one idle-deletion clock).
    gamma = rows[demo_data.IDLE_ACCOUNT]
    assert gamma.deadline_what == "deleted by OKX" and gamma.days_left == 14 - IDLE_DAYS
    assert gamma.deadline.isoformat() in idle[demo_data.IDLE_ACCOUNT]
    expiring = subjects(AlertRule.EXPIRES_SOON)
    assert sorted(expiring) == [EXPIRING_ACCOUNT]
    beta = rows[EXPIRING_ACCOUNT]
    assert beta.deadline_what == "expires" and beta.deadline.isoformat() in expiring[EXPIRING_ACCOUNT]
    # Every key an alert names is one the keys page says needs action.
    assert {name for name in [*idle, *expiring]} <= {name for name, row in rows.items() if row.needs_action}


def test_a_paused_accounts_key_is_on_the_keys_page_only(client, demo):
    """As in `make demo`, where gamma-mm is paused: the top bar counts and the overview lists the
    keys of active accounts (the ones alerts and reports watch); the keys page still shows the
    paused account's key, marked as such, with its deadline."""
    Account.objects.filter(name=demo_data.IDLE_ACCOUNT).update(active=False)
    client.force_login(make_user("viewer"))
    html = client.get(reverse("pages:overview")).content.decode()
    top_bar = re.search(r'<a class="warn-count" href="/keys/"[^>]*>\s*<span class="count">(\d+)</span>', html)
    overview = _names(html, 'id="key-warnings-title"', 'class="kpis"')
    assert demo_data.IDLE_ACCOUNT not in overview
    assert int(top_bar.group(1)) == len(overview) == 3
    keys_page = client.get(reverse("pages:keys")).content.decode()
    card = keys_page[keys_page.index(f'data-account="{demo_data.IDLE_ACCOUNT}"') :]
    assert "account paused" in card[:1500] and "Deleted by OKX in" in card[:1500]
