"""The key-health check of one credential: ask OKX what it knows about the key, then apply the
pure rules of accounts.health and store the result on the credential. check_key() is the job the
tasks and the `check_keys` command run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from accounts.crypto import DecryptionError
from accounts.health import HealthState, KeyFacts, Policy, key_warnings
from accounts.history import call_recorder, note_undecryptable
from accounts.jobs import JobOutcome
from okxapi import TRANSIENT_CATEGORIES, AccountConfig, OkxError, SubAccountApiKey

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from accounts.models import Credential


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
    with credential.build_client(on_call=call_recorder(account, credential)) as client:
        config = client.get_account_config()
        view = OkxView(config, client.clock_offset_ms)
    master = account.master if account.sub_acct_name else None
    master_credential = master.active_credential() if master else None
    if master_credential is not None:
        observer = call_recorder(account, master_credential)
        try:
            with master_credential.build_client(on_call=observer) as master_client:
                view.listed_keys = master_client.get_subaccount_api_keys(account.sub_acct_name)
        except OkxError:
            view.listed_keys = None
    return view


def facts_for(credential: Credential, view: OkxView, last_refresh_at: datetime | None) -> KeyFacts:
    ours = _our_listed_key(credential, view.listed_keys)
    unknown = tuple(
        f"…{key.api_key[-4:]} ({key.label or 'no label'})"
        for key in view.listed_keys or []
        if key is not ours
    )
    created = (ours.created if ours else None) or credential.okx_created_at or credential.activated_at
    return KeyFacts(
        permissions=frozenset(view.config.perm),
        ip_binding=tuple(view.config.ip),
        demo=credential.account.is_demo,
        created_at=created,
        expires_on=credential.expires_on,
        last_success_at=credential.last_success_at,
        clock_offset_ms=view.clock_offset_ms,
        last_refresh_at=last_refresh_at,
        watched_since=credential.activated_at,
        unknown_keys=unknown,
        uid_problem=_uid_problem(credential, view.config),
    )


def _our_listed_key(credential: Credential, keys: list[SubAccountApiKey] | None) -> SubAccountApiKey | None:
    # We hold no plaintext outside build_client; the fingerprint (last 4 of the public key) is
    # what identifies our key among the few a sub-account has.
    for key in keys or []:
        if key.api_key.endswith(credential.fingerprint):
            return key
    return None


def _uid_problem(credential: Credential, config: AccountConfig) -> str:
    account = credential.account
    if account.uid and config.uid and config.uid != account.uid:
        return f"This key now answers for UID {config.uid}, not for {account.name} (UID {account.uid})."
    return ""


def policy() -> Policy:
    return Policy(settings.ROTATION_POLICY_DAYS, settings.REFRESH_INTERVAL_SECONDS)


def check_credential(credential: Credential, *, last_refresh_at: datetime | None = None) -> list[dict]:
    """Read the key's view from OKX, compute its warnings and store everything on the row.
    Raises OkxError when OKX refuses the key (already recorded and reflected in its status)."""
    credential.refresh_from_db()
    view = read_okx_view(credential)
    credential.refresh_from_db()  # the observer may have moved last_success_at and the status
    facts = facts_for(credential, view, last_refresh_at)
    credential.permissions = sorted(facts.permissions)
    credential.ip_binding = list(facts.ip_binding)
    credential.clock_offset_ms = facts.clock_offset_ms
    ours = _our_listed_key(credential, view.listed_keys)
    if ours is not None and ours.created is not None:
        credential.okx_created_at = ours.created
    credential.warnings = key_warnings(facts, timezone.now(), policy())
    credential.health_checked_at = timezone.now()
    if facts.uid_problem:
        credential.health_status, credential.health_message = HealthState.FAILING, facts.uid_problem
        credential.failing_since = credential.failing_since or timezone.now()
    elif not credential.health_status:
        credential.health_status = HealthState.OK
    credential.save(update_fields=[*CHECK_FIELDS])
    return credential.warnings


CHECK_FIELDS = (
    "permissions",
    "ip_binding",
    "clock_offset_ms",
    "okx_created_at",
    "warnings",
    "health_checked_at",
    "health_status",
    "health_message",
    "failing_since",
)


def credentials_to_check(account_name: str | None = None) -> QuerySet:
    """Active credentials of active accounts (optionally one account), ids only."""
    from accounts.models import Credential, CredentialStatus

    rows = Credential.objects.filter(status=CredentialStatus.ACTIVE, account__active=True)
    if account_name:
        rows = rows.filter(account__name=account_name)
    return rows.order_by("account__name").values_list("pk", flat=True)


def check_key(credential_id: int) -> JobOutcome:
    """Check one credential; OKX's refusals are already in the history and its status."""
    from accounts.models import Credential, CredentialStatus

    credential = Credential.objects.filter(pk=credential_id, status=CredentialStatus.ACTIVE).first()
    if credential is None:
        return JobOutcome(str(credential_id), "skipped", detail="no longer active")
    name = credential.account.name
    # The one read of a row snapshots owns, through Account's reverse relation: accounts does not
    # import snapshots (dependencies point one way).
    last = credential.account.snapshots.order_by("-taken_at").values_list("taken_at", flat=True).first()
    try:
        warnings = credential.check_health(last_refresh_at=last)
    except OkxError as error:
        transient = error.category in TRANSIENT_CATEGORIES
        return JobOutcome(name, "failed", error.category, error.diagnosis.meaning, transient)
    except DecryptionError as error:
        note_undecryptable(credential, error)
        return JobOutcome(name, "failed", "decryption", "a stored secret cannot be decrypted")
    credential.refresh_from_db(fields=["health_status", "health_message"])
    codes = ", ".join(w["code"] for w in warnings) or "no warnings"
    if credential.health_status == HealthState.FAILING:
        return JobOutcome(name, "failed", "identity", credential.health_message)
    return JobOutcome(name, "ok", detail=codes)
