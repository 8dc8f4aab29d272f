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
from django.utils import timezone

from accounts.calls import CallRecorder
from accounts.crypto import DecryptionError
from accounts.health import HealthStatus, idle_deletion_applies
from accounts.jobs import JobOutcome
from accounts.models import Account, AccountKind, Credential, CredentialStatus, HostNotAllowed
from accounts.okx import CredentialRefused
from okxapi import (
    IDLE_DELETION_DAYS,
    TRANSIENT_CATEGORIES,
    AccountConfig,
    OkxError,
    SubAccount,
    SubAccountApiKey,
)

LABEL_LENGTH = 100


# --- Before a key is stored ----------------------------------------------------------------------
UID_UNCONFIRMED = "uid_unconfirmed"  # the refusal's category: the form asks for the UID
HOST_STEP = "Choose the account's region (global, EEA or US); OKX's host follows from it."


def check_host(account: Account, base_url: str) -> str:
    """Before an account moves to another host (the admin's "Change host"): one live
    account/config call with its active key at `base_url`, which must answer for the account's
    UID. Nothing is recorded in the account's history or health (a wrong new host is not the
    key's fault). Returns the checked key's fingerprint, "" for an account without a key of its
    own (its first key is checked on the new host by the rotation form). Raises
    CredentialRefused (category "host" for a host that is not allowed, OKX's diagnosis with
    its code for a refusal, "wrong_account" for a host that answers for another UID)."""
    credential = account.active_credential()
    try:
        account.checked_base_url(base_url)
        if credential is None:
            return ""
        with credential.build_client(base_url=base_url, stamp_successes=False) as client:
            config = client.get_account_config()
    except HostNotAllowed as error:
        raise CredentialRefused("host", str(error), (HOST_STEP,)) from None
    except OkxError as error:
        raise CredentialRefused.from_okx_error(error) from None
    except DecryptionError:
        raise CredentialRefused(
            "decryption", "The account's stored key cannot be decrypted; nothing was sent.",
            ("Restore the encryption key in FERNET_KEYS, or rotate the key first.",),
        ) from None  # fmt: skip
    except ValueError as error:  # an answer the client could not read: not a pass
        raise CredentialRefused("malformed", str(error), ("Check the host, then try again.",)) from None
    problem = _uid_problem(account, config)
    if problem:
        raise CredentialRefused(
            "wrong_account",
            f"At {base_url}, the key {credential.display_fingerprint} answers for UID {config.uid}, "
            f"not for {account.name} (UID {account.uid}).",
            (HOST_STEP,),
        )
    return credential.display_fingerprint


def admit(credential: Credential, *, confirmed_uid: str = "") -> list[str]:
    """Check an unsaved credential before it is stored; return the warnings a person must read.

    1. One live account/config call with the key itself: refuse a key that fails.
    2. Its identity (identity_problem): kind, master, the UID stored for the account, and for a
       sub-account the master's sub-account list (GET /api/v5/users/subaccount/list, read with
       the master's active key): the OKX sub-account name must map to the key's UID.
    3. A sub-account whose key no list or stored UID vouches for (no master key, or the master's
       list cannot be read) needs the person to confirm the key's UID: `confirmed_uid` must
       equal it, else the refusal (category UID_UNCONFIRMED) shows the UID to confirm.
    Then fill in what OKX says about the key (permissions, IP binding, label; the account's UID
    and OKX sub-account name when it had none).

    Raises CredentialRefused (category "wrong_account" for a key of another account); never
    stores anything."""
    try:
        config = credential.build_client().get_account_config()
    except OkxError as error:
        raise CredentialRefused.from_okx_error(error) from None
    except HostNotAllowed as error:
        raise CredentialRefused("host", str(error), (HOST_STEP,)) from None
    except ValueError as error:
        raise CredentialRefused("malformed", str(error), ("Paste the value again.",)) from None
    account = credential.account
    # A master's key is refused as such below: no need to ask its master's list.
    is_sub_key = account.kind == AccountKind.SUB and not config.is_master
    listing = read_master_listing(account) if is_sub_key else None
    refusal = _identity_refusal(account, config, listing)
    if refusal is not None:
        raise refusal
    if is_sub_key and not (listing and listing.subaccounts is not None) and not account.uid:
        _require_confirmation(account, config, listing, confirmed_uid)
    account.uid = account.uid or config.uid
    learned = []
    if listing is not None and listing.subaccounts is not None and not account.sub_acct_name:
        account.sub_acct_name = listing.name_of(config.uid)  # found there, or refused above
        learned.append(
            f"This key belongs to the OKX sub-account “{account.sub_acct_name}” (UID {config.uid}) in "
            f"{listing.master.name}'s list; the account's OKX sub-account name is set to it."
        )
    credential.permissions = sorted(config.perm)
    credential.ip_binding = list(config.ip)
    credential.label = credential.label or config.label[:LABEL_LENGTH]
    return [*learned, *admission_warnings(credential)]


@dataclass
class MasterListing:
    """The master's sub-account list, as read for an identity check.

    subaccounts: OKX's rows (name -> UID), or None when they could not be read; `problem` then
    says why, for the person (OKX's diagnosis, or "no active key")."""

    master: Account
    subaccounts: list[SubAccount] | None
    problem: str = ""

    def uid_of(self, name: str) -> str | None:
        return next((sub.uid for sub in self.subaccounts or [] if sub.name == name), None)

    def name_of(self, uid: str) -> str:
        return next((sub.name for sub in self.subaccounts or [] if sub.uid == uid), "")


def read_master_listing(account: Account) -> MasterListing | None:
    """The master's sub-account list for a sub-account's identity check; None without a master.

    Read with the master's active key through its call observer (a failure is recorded in the
    master's history and moves that key's health: it is the master's key that failed). OKX:
    GET /api/v5/users/subaccount/list, "Applies to master accounts only"; per row `subAcct`
    is the "Sub-account name" and `uid` the "Sub-account uid" (OKX API v5 docs, "Get
    sub-account list"). A failure leaves the list unknown with its reason: never a pass."""
    master = account.master
    if master is None:
        return None
    master_credential = master.active_credential()
    if master_credential is None:
        return MasterListing(master, None, f"{master.name} has no active key")
    try:
        with master_credential.build_client(on_call=CallRecorder(master, master_credential)) as client:
            return MasterListing(master, client.get_subaccounts())
    except OkxError as error:
        problem = f"reading it with {master.name}'s key failed: {error.diagnosis.meaning} ({error.category})"
    except DecryptionError:
        problem = f"{master.name}'s stored key cannot be decrypted"
    except HostNotAllowed:
        problem = f"{master.name}'s host is not one of OKX's"
    except ValueError:  # an answer the client could not turn into rows: unknown, never a crash
        problem = f"OKX's answer to {master.name}'s key could not be read"
    return MasterListing(master, None, problem)


def identity_problem(account: Account, config: AccountConfig, listing: MasterListing | None = None) -> str:
    """Why a key (its account/config) does not belong to `account`; "" when it does (as far as
    the stored UID, the master and, when given, the master's sub-account list can tell)."""
    refusal = _identity_refusal(account, config, listing)
    return refusal.meaning if refusal else ""


def _identity_refusal(
    account: Account, config: AccountConfig, listing: MasterListing | None
) -> CredentialRefused | None:
    # OKX (account/config): "The current request account is main account if uid = mainUid. The
    # current request account is sub-account if uid != mainUid."
    def wrong(meaning: str, *steps: str) -> CredentialRefused:
        return CredentialRefused("wrong_account", meaning, steps or _identity_steps(account, config))

    # A sub-account's key under its own master: OKX's list of that master is the authority on
    # which name a UID is, so it speaks first (it names the sub-account and both UIDs).
    master = account.master if account.kind == AccountKind.SUB else None
    if (
        master is not None
        and listing is not None
        and listing.subaccounts is not None
        and not config.is_master
        and config.main_uid == (master.uid or config.main_uid)
    ):
        refusal = _listing_refusal(account, config, listing)
        if refusal is not None:
            return refusal
    if account.uid and config.uid != account.uid:
        return wrong(f"This key belongs to UID {config.uid}, not to {account.name} (UID {account.uid}).")
    if account.kind == AccountKind.MASTER and not config.is_master:
        return wrong(f"This key belongs to a sub-account (UID {config.uid}) of master UID {config.main_uid}.")
    if account.kind == AccountKind.SUB and config.is_master:
        return wrong(f"This key belongs to a master account (UID {config.uid}), not to a sub-account.")
    if master is not None and master.uid and config.main_uid != master.uid:
        return wrong(
            f"This key belongs to UID {config.uid} under master UID {config.main_uid}, "
            f"not under {master.name} (UID {master.uid})."
        )
    other = (
        Account.objects.filter(uid=config.uid, environment=account.environment).exclude(pk=account.pk).first()
    )
    if other is not None:
        return wrong(f"This key belongs to UID {config.uid}, which is already the account {other.name}.")
    return None


def _listing_refusal(
    account: Account, config: AccountConfig, listing: MasterListing
) -> CredentialRefused | None:
    """The master's list against the key: the name must map to the key's UID."""
    master, name = listing.master, account.sub_acct_name
    owner = listing.name_of(config.uid)
    whose = f"the sub-account “{owner}”" if owner else f"no sub-account in {master.name}'s list"
    if not name:
        if owner:
            return None  # the name is learned from the list (admit)
        return CredentialRefused(
            "wrong_account",
            f"This key belongs to UID {config.uid}, which is not in the sub-account list of "
            f"{master.name} (UID {config.main_uid}).",
            (
                f"Paste a key created in one of {master.name}'s sub-accounts.",
                "Or choose the master this sub-account belongs to.",
            ),
        )
    listed_uid = listing.uid_of(name)
    if listed_uid is None:
        return CredentialRefused(
            "unknown_subaccount",
            f"{master.name} has no sub-account named “{name}” on OKX (its list has "
            f"{len(listing.subaccounts or [])} sub-accounts; this key belongs to UID {config.uid}, {whose}).",
            (
                "Enter the OKX sub-account name exactly as OKX shows it (names are case-sensitive).",
                f"Or run “Discover sub-accounts” on {master.name} to list them.",
            ),
        )
    if listed_uid != config.uid:
        return CredentialRefused(
            "wrong_account",
            f"The OKX sub-account “{name}” is UID {listed_uid} in {master.name}'s list, but this key "
            f"belongs to UID {config.uid} ({whose}).",
            (
                f"Create or copy a key in the OKX sub-account “{name}” (UID {listed_uid}) "
                "and paste that one.",
                "If this key is right, check the sub-account name entered for this account.",
            ),
        )
    return None


def _require_confirmation(
    account: Account, config: AccountConfig, listing: MasterListing | None, confirmed_uid: str
) -> None:
    """No list vouches for this sub-account's key: the person confirms the UID OKX reported."""
    if confirmed_uid.strip() == config.uid:
        return
    why = (
        f"its master's sub-account list cannot be read ({listing.problem})"
        if listing is not None
        else "it has no master in the dashboard to check it against"
    )
    named = f"the OKX sub-account “{account.sub_acct_name}”" if account.sub_acct_name else account.name
    wrong = f" (you entered {confirmed_uid.strip()!r})" if confirmed_uid.strip() else ""
    raise CredentialRefused(
        UID_UNCONFIRMED,
        f"This key belongs to UID {config.uid} (a sub-account of master UID {config.main_uid}). "
        f"Its owner cannot be checked, because {why}. Confirm that UID {config.uid} is "
        f"{named}{wrong}.",
        (
            f"On OKX, check the UID of {named} (Sub-accounts page, or the top of its own account page).",
            f"If it is {config.uid}, enter {config.uid} in “Confirm UID”, paste the key again and submit.",
            "Or add the master's key first: the dashboard then checks the name against the master's list.",
        ),
    )


def _identity_steps(account: Account, config: AccountConfig) -> tuple[str, ...]:
    # Named as OKX shows it: a sub-account by its OKX sub-account name, not the dashboard's name.
    if account.kind == AccountKind.SUB and account.sub_acct_name:
        where = f"the OKX sub-account “{account.sub_acct_name}”"
    elif account.kind == AccountKind.SUB:
        where = "the OKX sub-account this account stands for"
    else:
        where = "the master account on OKX"
    return (
        f"Check which OKX account owns UID {config.uid}, and paste the key created in {where}.",
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
        except (OkxError, HostNotAllowed):
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
        _stamp_failed_check(credential)
        transient = error.category in TRANSIENT_CATEGORIES
        return JobOutcome(name, "failed", error.category, error.diagnosis.meaning, transient)
    except DecryptionError as error:
        credential.fail_closed(error)
        _stamp_failed_check(credential)
        return JobOutcome(name, "failed", "decryption", "a stored secret cannot be decrypted")
    except HostNotAllowed as error:
        return JobOutcome(name, "failed", "host", str(error))
    credential.refresh_from_db(fields=["health_status", "health_message"])
    codes = ", ".join(w["code"] for w in warnings) or "no warnings"
    if credential.health_status == HealthStatus.FAILING:
        return JobOutcome(name, "failed", "identity", credential.health_message)
    return JobOutcome(name, "ok", detail=codes)


def _stamp_failed_check(credential: Credential) -> None:
    # A failed check is a check (issue 18): the pages say when it ran, not "not checked yet". The
    # status and message are the call observer's (or fail_closed's); only the time is stamped.
    Credential.objects.filter(pk=credential.pk).update(health_checked_at=timezone.now())
