"""The demo scenario's data for the browser tests: the accounts exactly as `make demo` seeds them,
one refresh of every account and one key check, then the situations the pages must show.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from accounts.history import ApiError
from accounts.keycheck import check_key, credentials_to_check
from accounts.models import Account, Credential, CredentialStatus
from snapshots.refresh import refresh_account

IDLE_ACCOUNT = "gamma-mm"  # the demo's trade key without IP binding
IDLE_DAYS = 10  # OKX deletes it after 14 idle days: 4 days left


def seed(simulator) -> None:
    """1. The demo accounts, through the same command (and the same live checks) as `make demo`.
    2. One rate-limited call to the funding balances, so the history holds a transient error
       beside the frozen key's (zeta-frozen) permanent one.
    3. One refresh of every active account and one check of every key, synchronously."""
    call_command("seed_demo", simulator_url=simulator.url, stdout=StringIO())
    simulator.inject_fault("/api/v5/asset/balances", code="50011", times=1)
    for account_id in Account.objects.filter(active=True).order_by("name").values_list("pk", flat=True):
        refresh_account(account_id)
    for credential_id in credentials_to_check():
        check_key(credential_id)


def pause_idle_account(days: int = IDLE_DAYS) -> Credential:
    """gamma-mm was paused `days` ago, right after its last refresh: the dashboard has not used its
    trade key since, so OKX's idle-deletion clock runs (the page must put it first after failures)."""
    account = Account.objects.get(name=IDLE_ACCOUNT)
    Account.objects.filter(pk=account.pk).update(active=False)
    credential = account.credentials.get(status=CredentialStatus.ACTIVE)
    Credential.objects.filter(pk=credential.pk).update(last_success_at=timezone.now() - timedelta(days=days))
    return credential


def error_categories() -> set[str]:
    return set(ApiError.objects.values_list("category", flat=True))
