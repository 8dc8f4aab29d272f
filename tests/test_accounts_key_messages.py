"""Key health messages in words (issue 18, findings 1 and 4): OKX's refusal, its meaning and code,
never the endpoint of the call that failed (that stays in the error history); a message stored by
an older version with a leading "/api/v5/...: " is shown without it on every surface; a failing
key's account page says why it has no warnings."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.health import HealthStatus
from accounts.keycheck import check_key
from accounts.models import Account, Credential
from alerts.rules import key_failing
from reports.build import warnings_needing_action
from snapshots.refresh import current_cycle, refresh_account
from tests.accounts_support import fake_key_set, install, make_user
from tests.api_support import token_for
from tests.workers_support import add_account, frozen, key_fields

pytestmark = pytest.mark.django_db

FROZEN_WORDS = "OKX refused the key: the API key is frozen by OKX (code 50100)"
OLD_MESSAGE = "/api/v5/account/balance: The API key is frozen by OKX."


def page_text(client, url: str) -> str:
    """The page's text, tags removed and white space collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", client.get(url).content.decode()))
    return " ".join(text.split()).replace(" :", ":")


def key_block(text: str) -> str:
    """The account page's "Credential health" section, tags removed."""
    return text[text.index("Credential health") : text.index("Recent errors")]


def overview_line(text: str, name: str) -> str:
    block = text[text.index("Keys needing attention") : text.index("Open the keys page")]
    return block[block.index(f"{name}:") :]


@pytest.fixture
def frozen_key(make_simulator):
    sim = make_simulator(frozen("demo"))
    account = add_account(sim, "zeta-frozen")
    sim.freeze_key(key_fields(sim, "zeta-frozen")["api_key"])
    return account


def test_a_frozen_keys_message_says_what_okx_did_and_stays_the_same_whichever_call_failed(frozen_key):
    credential = frozen_key.active_credential()
    assert refresh_account(frozen_key.pk, cycle=current_cycle()).status == "failed"  # balance first
    credential.refresh_from_db()
    assert credential.health_status == HealthStatus.FAILING
    assert credential.health_message == FROZEN_WORDS
    assert check_key(credential.pk).status == "failed"  # account/config
    credential.refresh_from_db()
    assert credential.health_message == FROZEN_WORDS
    # The endpoints stay in the error history.
    assert set(credential.api_errors.values_list("endpoint", flat=True)) >= {"/api/v5/account/balance"}


def test_every_surface_shows_the_frozen_key_in_words_without_an_endpoint(client, frozen_key):
    refresh_account(frozen_key.pk, cycle=current_cycle())
    credential = frozen_key.active_credential()
    client.force_login(make_user("viewer"))

    overview = page_text(client, reverse("pages:overview"))
    assert FROZEN_WORDS in overview_line(overview, "zeta-frozen")
    assert "/api/" not in overview_line(overview, "zeta-frozen")
    block = key_block(page_text(client, reverse("pages:account", args=[frozen_key.pk])))
    assert FROZEN_WORDS in block and "/api/" not in block
    keys = page_text(client, reverse("pages:keys"))
    assert FROZEN_WORDS in keys
    [failing] = [
        w for w in warnings_needing_action(Account.objects.all(), timezone.now()) if w["code"] == "failing"
    ]
    assert failing["message"] == FROZEN_WORDS
    alert = key_failing(credential).text
    assert "/api/" not in alert and "Last failed call" not in alert
    assert "Diagnosis: key (OKX code 50100)" in alert


def test_a_message_stored_with_an_endpoint_is_shown_without_it(client):
    account = Account.objects.create(name="old-frozen", base_url="http://127.0.0.1:9/")
    credential = install(account, fake_key_set(7))
    Credential.objects.filter(pk=credential.pk).update(
        health_status=HealthStatus.FAILING, health_message=OLD_MESSAGE, failing_since=timezone.now()
    )
    credential.refresh_from_db()
    assert credential.health_reason == "The API key is frozen by OKX."
    client.force_login(make_user("viewer"))

    overview = page_text(client, reverse("pages:overview"))
    assert overview_line(overview, "old-frozen").startswith("old-frozen: The API key is frozen by OKX.")
    block = key_block(page_text(client, reverse("pages:account", args=[account.pk])))
    assert "The API key is frozen by OKX." in block and "/api/" not in block
    keys = page_text(client, reverse("pages:keys"))
    assert "The API key is frozen by OKX." in keys and "/api/v5/account/balance" not in keys
    [failing] = warnings_needing_action(Account.objects.all(), timezone.now())
    assert failing["message"] == "The API key is frozen by OKX."
    alert = key_failing(credential).text  # no call failed: the stored message is the diagnosis
    assert "Diagnosis: The API key is frozen by OKX." in alert and "/api/" not in alert
    api = client.get(reverse("api:keys"), HTTP_AUTHORIZATION=f"Token {token_for(make_user('viewer'))}")
    [row] = [row for row in api.json() if row["account_name"] == "old-frozen"]
    assert row["health_message"] == "The API key is frozen by OKX."
    assert "Diagnosis: The API key is frozen by OKX." in alert and "/api/" not in alert


def test_a_failing_keys_account_page_says_why_it_has_no_warnings(client, frozen_key):
    refresh_account(frozen_key.pk, cycle=current_cycle())
    client.force_login(make_user("viewer"))
    block = key_block(page_text(client, reverse("pages:account", args=[frozen_key.pk])))
    warnings = block[block.index("Warnings") :]
    assert warnings.startswith("Warnings None recorded: OKX refused the key before the check could read it.")
    assert "None." not in warnings
