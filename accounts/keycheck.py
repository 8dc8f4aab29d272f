"""The key checks: what OKX says about a key, asked with the key itself.

- admit(): before a key is stored (the admin's "Add account" and "Rotate key" forms): refuse a
  key that fails or belongs to another account, and say what a person must read.
- check_key(): the key-health job (the tasks, the `check_keys` command, the keys page's "test
  this key now"): read the key's view from OKX and hand it to Credential.record_check, which
  applies the pure rules of accounts.health and stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from accounts.calls import CallRecorder
from accounts.crypto import DecryptionError
from accounts.health import HealthStatus, idle_deletion_applies
from accounts.jobs import JobOutcome
from accounts.models import Account, AccountKind, Credential, CredentialStatus
from accounts.okx import CredentialRefused
from okxapi import IDLE_DELETION_DAYS, TRANSIENT_CATEGORIES, AccountConfig, OkxError, SubAccountApiKey

LABEL_LENGTH = 100


# --- Before a key is stored ----------------------------------------------------------------------
def admit(credential: Credential) -> list[str]:
    """One live account/config call with an unsaved credential: refuse (CredentialRefused) a key
    that fails or belongs to another account; fill in what OKX says about it (permissions, IP
    binding, label; the account's UID when it had none); return the warnings a person must read."""
    try:
        config = credential.build_client().get_account_config()
    except OkxError as error:
        raise CredentialRefused.from_okx_error(error) from None
    except ValueError as error:
        raise CredentialRefused("malformed", str(error), ("Paste the value again.",)) from None
    account = credential.account
    refusal = identity_problem(account, config)
    if refusal:
        raise CredentialRefused("wrong_account", refusal, _identity_steps(account, config))
    account.uid = account.uid or config.uid
    credential.permissions = sorted(config.perm)
    credential.ip_binding = list(config.ip)
    credential.label = credential.label or config.label[:LABEL_LENGTH]
    return admission_warnings(credential)


def identity_problem(account: Account, config: AccountConfig) -> str:
    """Why a key (its account/config) does not belong to `account`; "" when it does."""
    if account.uid and config.uid != account.uid:
        return f"This key belongs to UID {config.uid}, not to {account.name} (UID {account.uid})."
    if account.kind == AccountKind.MASTER and not config.is_master:
        return f"This key belongs to a sub-account (UID {config.uid}) of master UID {config.main_uid}."
    if account.kind == AccountKind.SUB and config.is_master:
        return f"This key belongs to a master account (UID {config.uid}), not to a sub-account."
    master = account.master if account.kind == AccountKind.SUB else None
    if master is not None and master.uid and config.main_uid != master.uid:
        return (
            f"This key belongs to UID {config.uid} under master UID {config.main_uid}, "
            f"not under {master.name} (UID {master.uid})."
        )
    other = (
        Account.objects.filter(uid=config.uid, environment=account.environment).exclude(pk=account.pk).first()
    )
    if other is not None:
        return f"This key belongs to UID {config.uid}, which is already the account {other.name}."
    return ""


def _identity_steps(account: Account, config: AccountConfig) -> tuple[str, ...]:
    return (
        f"Check which OKX account owns UID {config.uid}, and paste the key created in {account.name}.",
        "If the key is right, check the account chosen in this form.",
    )


def admission_warnings(credential: Credential) -> list[str]:
    """What a person must read before storing a key with these permissions."""
    warnings = []
    if "withdraw" in credential.permissions:
        warnings.append(
            "This key can WITHDRAW funds. The dashboard only reads; a read-only key is enough. "
            "Storing a withdraw key needs an explicit confirmation."
        )
    if idle_deletion_applies(credential.key_facts()):
        warnings.append(
            f"This key has trade permission and no IP binding: OKX deletes it after "
            f"{IDLE_DELETION_DAYS} days without a signed call. Bind it to an IP or use a read-only key."
        )
    return warnings


# --- Key health ------------------------------------------------------------------------------------
@dataclass
class OkxView:
    """What OKX said about the key: its config, and (sub-accounts) the master's list of keys."""

    config: AccountConfig
    clock_offset_ms: int | None
    listed_keys: list[SubAccountApiKey] | None = None


def read_okx_view(credential: Credential) -> OkxView:
    """1. account/config with the key itself (raises OkxError; recorded in the history).
    2. For a sub-account whose master has a key: the master's list of the sub-account's keys
       (a failure there is recorded and leaves the list unknown, not the key failing)."""
    account = credential.account
    with credential.build_client(on_call=CallRecorder(account, credential)) as client:
        config = client.get_account_config()
        view = OkxView(config, client.clock_offset_ms)
    master = account.master if account.sub_acct_name else None
    master_credential = master.active_credential() if master else None
    if master_credential is not None:
        observer = CallRecorder(account, master_credential)
        try:
            with master_credential.build_client(on_call=observer) as master_client:
                view.listed_keys = master_client.get_subaccount_api_keys(account.sub_acct_name)
        except OkxError:
            view.listed_keys = None
    return view


def check_credential(
    credential: Credential, *, last_refresh_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Read the key's view from OKX and store it with its warnings (Credential.record_check);
    returns the warnings. Raises OkxError when OKX refuses the key (already recorded in the
    history and reflected in its status by the call observer)."""
    credential.refresh_from_db()
    view = read_okx_view(credential)
    credential.refresh_from_db()  # the observer may have moved last_success_at and the status
    ours = _our_listed_key(credential, view.listed_keys)
    return credential.record_check(
        permissions=view.config.perm,
        ip_binding=view.config.ip,
        clock_offset_ms=view.clock_offset_ms,
        created_on_okx=ours.created if ours else None,
        last_refresh_at=last_refresh_at,
        unknown_keys=tuple(
            f"…{key.api_key[-4:]} ({key.label or 'no label'})"
            for key in view.listed_keys or []
            if key is not ours
        ),
        uid_problem=_uid_problem(credential.account, view.config),
    )


def _our_listed_key(credential: Credential, keys: list[SubAccountApiKey] | None) -> SubAccountApiKey | None:
    # We hold no plaintext outside build_client; the fingerprint (last 4 of the public key) is
    # what identifies our key among the few a sub-account has.
    for key in keys or []:
        if key.api_key.endswith(credential.fingerprint):
            return key
    return None


def _uid_problem(account: Account, config: AccountConfig) -> str:
    if account.uid and config.uid and config.uid != account.uid:
        return f"This key now answers for UID {config.uid}, not for {account.name} (UID {account.uid})."
    return ""


def credentials_to_check(account_name: str | None = None) -> QuerySet[Credential, int]:
    """Active credentials of active accounts (optionally one account), ids only."""
    rows = Credential.objects.filter(status=CredentialStatus.ACTIVE, account__active=True)
    if account_name:
        rows = rows.filter(account__name=account_name)
    return rows.order_by("account__name").values_list("pk", flat=True)


def check_key(credential_id: int) -> JobOutcome:
    """Check one credential; OKX's refusals are already in the history and its status."""
    credential = Credential.objects.filter(pk=credential_id, status=CredentialStatus.ACTIVE).first()
    if credential is None:
        return JobOutcome(str(credential_id), "skipped", detail="no longer active")
    name = credential.account.name
    # The one read of a row snapshots owns, through Account's reverse relation: accounts does not
    # import snapshots (dependencies point one way).
    last = credential.account.snapshots.order_by("-taken_at").values_list("taken_at", flat=True).first()
    try:
        warnings = check_credential(credential, last_refresh_at=last)
    except OkxError as error:
        transient = error.category in TRANSIENT_CATEGORIES
        return JobOutcome(name, "failed", error.category, error.diagnosis.meaning, transient)
    except DecryptionError as error:
        credential.fail_closed(error)
        return JobOutcome(name, "failed", "decryption", "a stored secret cannot be decrypted")
    credential.refresh_from_db(fields=["health_status", "health_message"])
    codes = ", ".join(w["code"] for w in warnings) or "no warnings"
    if credential.health_status == HealthStatus.FAILING:
        return JobOutcome(name, "failed", "identity", credential.health_message)
    return JobOutcome(name, "ok", detail=codes)
