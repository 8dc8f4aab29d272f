"""The key-health check of one credential: ask OKX what it knows about the key, then apply the
pure rules of accounts.health and store the result on the credential."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from accounts.health import HealthState, KeyFacts, Policy, key_warnings
from accounts.history import call_recorder
from okxapi import AccountConfig, OkxError, SubAccountApiKey

if TYPE_CHECKING:
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
