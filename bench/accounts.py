"""Dashboard accounts for a generated simulator scenario, created in bulk (no live checks)."""

from __future__ import annotations

from django.utils import timezone

from okxsim import Scenario


def create_accounts(scenario: Scenario, base_url: str, *, prefix: str, own_keys: bool) -> list[int]:
    """The scenario's master (with its key) and sub-accounts (with their keys if `own_keys`) as
    active dashboard accounts; earlier benchmark accounts are deactivated first. Returns the ids."""
    from accounts.models import Account, AccountKind, Credential, CredentialStatus, Environment

    # Inactive accounts are not refreshed; clearing their UIDs lets the same simulator UIDs return.
    Account.objects.filter(active=True).update(active=False, uid="")
    master = Account.objects.create(
        name=f"{prefix}-master",
        kind=AccountKind.MASTER,
        uid=scenario.master.uid,
        base_url=base_url,
        environment=Environment.LIVE,
    )
    subs = Account.objects.bulk_create(
        Account(
            name=f"{prefix}-{sub.name}",
            kind=AccountKind.SUB,
            master=master,
            sub_acct_name=sub.name,
            uid=sub.uid,
            base_url=base_url,
            environment=Environment.LIVE,
        )
        for sub in scenario.subaccounts
    )
    keyed = [master, *subs] if own_keys else [master]
    now = timezone.now()
    credentials = []
    for account in keyed:
        key = scenario.keys_of(account.sub_acct_name or "master")[0]
        credentials.append(
            Credential.from_plaintext(
                account,
                key.api_key,
                key.secret_key,
                key.passphrase,
                label="bench",
                permissions=["read_only"],
                status=CredentialStatus.ACTIVE,
                activated_at=now,
            )
        )
    Credential.objects.bulk_create(credentials)
    return [master.pk, *(sub.pk for sub in subs)]
