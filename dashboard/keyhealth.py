"""The key-health check of one credential as the tasks and the `check_keys` command run it."""

from __future__ import annotations

from accounts.crypto import DecryptionError
from accounts.history import note_undecryptable
from accounts.models import Credential, CredentialStatus, HealthStatus
from dashboard.models import Snapshot
from dashboard.refresh import Outcome
from okxapi import TRANSIENT_CATEGORIES, OkxError


def credentials_to_check(account_name: str | None = None):
    """Active credentials of active accounts (optionally one account), ids only."""
    rows = Credential.objects.filter(status=CredentialStatus.ACTIVE, account__active=True)
    if account_name:
        rows = rows.filter(account__name=account_name)
    return rows.order_by("account__name").values_list("pk", flat=True)


def check_key(credential_id: int) -> Outcome:
    """Check one credential; OKX's refusals are already in the history and its status."""
    credential = Credential.objects.filter(pk=credential_id, status=CredentialStatus.ACTIVE).first()
    if credential is None:
        return Outcome(str(credential_id), "skipped", detail="no longer active")
    name = credential.account.name
    last = Snapshot.objects.filter(account_id=credential.account_id).order_by("-taken_at").first()
    try:
        warnings = credential.check_health(last_refresh_at=last.taken_at if last else None)
    except OkxError as error:
        transient = error.category in TRANSIENT_CATEGORIES
        return Outcome(name, "failed", error.category, error.diagnosis.meaning, transient)
    except DecryptionError as error:
        note_undecryptable(credential, error)
        return Outcome(name, "failed", "decryption", "a stored secret cannot be decrypted")
    credential.refresh_from_db(fields=["health_status", "health_message"])
    codes = ", ".join(w["code"] for w in warnings) or "no warnings"
    if credential.health_status == HealthStatus.FAILING:
        return Outcome(name, "failed", "identity", credential.health_message)
    return Outcome(name, "ok", detail=codes)
