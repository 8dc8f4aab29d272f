"""OKX accounts (master and sub-accounts) and their encrypted credential sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts import crypto
from accounts.audit import AuditAction, AuditEvent
from accounts.okx import CredentialRefused, is_successful_signed_call, region_host, shared_limiter
from okxapi import IDLE_DELETION_DAYS, AccountConfig, CallRecord, Client, OkxError
from okxapi.client import DEFAULT_TIMEOUT

FINGERPRINT_LENGTH = 4
ENCRYPTED_FIELDS = ("api_key_enc", "secret_key_enc", "passphrase_enc")
CONNECT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT[0]


class NoCredential(Exception):
    """The account has no active credential and cannot be read through a master either."""


class AccountKind(models.TextChoices):
    MASTER = "master", "master account"
    SUB = "sub", "sub-account"


class Environment(models.TextChoices):
    LIVE = "live", "live trading"
    DEMO = "demo", "demo trading"


class Region(models.TextChoices):
    GLOBAL = "global", "global (www.okx.com)"
    EEA = "eea", "EEA (eea.okx.com)"
    US = "us", "US (app.okx.com)"


class Account(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=AccountKind.choices, default=AccountKind.MASTER)
    master = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subaccounts",
        limit_choices_to={"kind": AccountKind.MASTER},
    )
    sub_acct_name = models.CharField("OKX sub-account name", max_length=100, blank=True)
    uid = models.CharField("UID", max_length=32, blank=True, help_text="Learned from the exchange.")
    okx_label = models.CharField("OKX label", max_length=100, blank=True)
    environment = models.CharField(max_length=8, choices=Environment.choices, default=Environment.LIVE)
    region = models.CharField(max_length=8, choices=Region.choices, default=Region.GLOBAL)
    base_url = models.URLField(
        "custom base URL", blank=True, help_text="Overrides the region's host (e.g. the built-in simulator)."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_dashboard", "Can view the dashboard"),
            ("operate", "Can refresh accounts and acknowledge errors"),
            ("manage_keys", "Can add accounts and rotate credentials and encryption keys"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["uid", "environment"], condition=~Q(uid=""), name="account_uid_unique_per_environment"
            ),
            models.UniqueConstraint(
                fields=["master", "sub_acct_name"],
                condition=~Q(sub_acct_name=""),
                name="sub_acct_unique_per_master",
            ),
            models.CheckConstraint(
                condition=Q(kind=AccountKind.SUB) | Q(master__isnull=True),
                name="only_subaccounts_have_a_master",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_demo(self) -> bool:
        return self.environment == Environment.DEMO

    @property
    def api_base_url(self) -> str:
        return self.base_url.rstrip("/") if self.base_url else region_host(self.region)

    def active_credential(self) -> Credential | None:
        """Read fresh from the database, so a rotation is seen by the very next call."""
        if self.pk is None:
            return None
        # At most one is active (a constraint), so no ordering: Meta's would join the account.
        return self.credentials.filter(status=CredentialStatus.ACTIVE).order_by().first()

    def build_client(self, **options: Any) -> Client:
        credential = self.active_credential()
        if credential is None:
            raise NoCredential(f"account {self.name} has no active credential")
        return credential.build_client(**options)

    def reading_credential(self) -> tuple[Credential, str | None]:
        """(credential, sub_acct): the account's own active credential, or its master's plus the
        OKX sub-account name for the master-only sub-account endpoints (None for own keys).
        One query for an own key (a refresh looks it up once), two through a master."""
        own = self.active_credential()
        if own is not None:
            return own, None
        if self.kind == AccountKind.SUB and self.master_id and self.sub_acct_name:
            through = self.master.active_credential()
            if through is None:
                raise NoCredential(f"account {self.master.name} has no active credential")
            return through, self.sub_acct_name
        raise NoCredential(f"account {self.name} has no active credential and no master to read it through")

    def reading_client(self, **options: Any) -> tuple[Client, str | None]:
        """(client, sub_acct): see reading_credential."""
        credential, sub_acct = self.reading_credential()
        return credential.build_client(**options), sub_acct

    def check_identity(self, config: AccountConfig) -> None:
        """Refuse a key that does not belong to this account (raises CredentialRefused)."""
        refusal = self._identity_problem(config)
        if refusal:
            raise CredentialRefused("wrong_account", refusal, self._identity_steps(config))

    def _identity_problem(self, config: AccountConfig) -> str:
        if self.uid and config.uid != self.uid:
            return f"This key belongs to UID {config.uid}, not to {self.name} (UID {self.uid})."
        if self.kind == AccountKind.MASTER and not config.is_master:
            return f"This key belongs to a sub-account (UID {config.uid}) of master UID {config.main_uid}."
        if self.kind == AccountKind.SUB and config.is_master:
            return f"This key belongs to a master account (UID {config.uid}), not to a sub-account."
        if (
            self.kind == AccountKind.SUB
            and self.master
            and self.master.uid
            and config.main_uid != self.master.uid
        ):
            return (
                f"This key belongs to UID {config.uid} under master UID {config.main_uid}, "
                f"not under {self.master.name} (UID {self.master.uid})."
            )
        other = (
            Account.objects.filter(uid=config.uid, environment=self.environment).exclude(pk=self.pk).first()
        )
        if other is not None:
            return f"This key belongs to UID {config.uid}, which is already the account {other.name}."
        return ""

    def _identity_steps(self, config: AccountConfig) -> tuple[str, ...]:
        return (
            f"Check which OKX account owns UID {config.uid}, and paste the key created in {self.name}.",
            "If the key is right, check the account chosen in this form.",
        )

    @transaction.atomic
    def install_credential(
        self, new: Credential, *, request: HttpRequest | None = None, actor_name: str = ""
    ) -> Credential | None:
        """Make `new` the active credential and retire the current one (its secrets destroyed),
        in one transaction; one audit event. Returns the retired credential, if any."""
        Account.objects.select_for_update().filter(pk=self.pk).first()
        if self.uid:  # learned by the check just made, for an account that had none
            Account.objects.filter(pk=self.pk, uid="").update(uid=self.uid)
        old = self.credentials.select_for_update().filter(status=CredentialStatus.ACTIVE).first()
        if old is not None:
            old.retire()
        new.account = self
        new.status = CredentialStatus.ACTIVE
        new.activated_at = timezone.now()
        if request is not None and request.user.is_authenticated:
            new.created_by = request.user
        new.save()
        action = AuditAction.CREDENTIAL_ROTATE if old else AuditAction.CREDENTIAL_ADD
        detail = (
            f"{old.display_fingerprint} replaced by {new.display_fingerprint}"
            if old
            else new.display_fingerprint
        )
        AuditEvent.record(action, request=request, actor_name=actor_name, obj=new, detail=detail)
        return old

    def discover_subaccounts(self) -> tuple[int, int]:
        """Read the master's sub-account list and create or update one Account per sub-account.
        Returns (created, updated)."""
        if self.kind != AccountKind.MASTER:
            raise ValueError("only a master account has sub-accounts")
        created = updated = 0
        for sub in self.build_client().get_subaccounts():
            was_created = self._upsert_subaccount(sub)
            created += was_created
            updated += not was_created
        return created, updated

    def _upsert_subaccount(self, sub: Any) -> bool:
        account = (
            Account.objects.filter(master=self, sub_acct_name=sub.name).first()
            or Account.objects.filter(uid=sub.uid, environment=self.environment).exclude(uid="").first()
        )
        is_new = account is None
        if is_new:
            taken = Account.objects.filter(name=sub.name).exists()
            account = Account(name=f"{self.name}/{sub.name}" if taken else sub.name, kind=AccountKind.SUB)
        account.master, account.sub_acct_name, account.uid = self, sub.name, sub.uid
        account.okx_label = (sub.label or "")[:100]
        account.environment, account.region, account.base_url = self.environment, self.region, self.base_url
        if is_new:
            account.active = bool(sub.enabled)
        account.save()
        return is_new


class CredentialStatus(models.TextChoices):
    PENDING = "pending", "pending"
    ACTIVE = "active", "active"
    RETIRED = "retired", "retired"


class HealthStatus(models.TextChoices):
    OK = "ok", "ok"
    GRACE = "grace", "grace"
    FAILING = "failing", "failing"


class CredentialQuerySet(models.QuerySet):
    def encryption_key_counts(self) -> dict[str, int]:
        """How many stored secret values each encryption key id protects (retired sets hold none)."""
        counts: dict[str, int] = {}
        for values in self.values_list(*ENCRYPTED_FIELDS):
            for key_id in filter(None, map(crypto.stored_key_id, values)):
                counts[key_id] = counts.get(key_id, 0) + 1
        return counts

    def needing_reencryption(self) -> models.QuerySet:
        """Rows holding any value not under the newest key (the filter is a prefix match)."""
        prefix = crypto.keyring().newest_id + crypto.SEPARATOR
        stale = Q()
        for name in ENCRYPTED_FIELDS:
            stale |= ~Q(**{name: ""}) & ~Q(**{f"{name}__startswith": prefix})
        return self.filter(stale)


class Credential(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="credentials")
    # "<key id>$<Fernet token>" (accounts.crypto); blanked when the credential is retired.
    api_key_enc = models.TextField(blank=True, editable=False)
    secret_key_enc = models.TextField(blank=True, editable=False)
    passphrase_enc = models.TextField(blank=True, editable=False)
    fingerprint = models.CharField(
        max_length=FINGERPRINT_LENGTH, editable=False, help_text="Last 4 of the API key."
    )
    label = models.CharField(max_length=100, blank=True)
    permissions = models.JSONField(
        default=list, blank=True, help_text="As reported by OKX (account/config perm)."
    )
    ip_binding = models.JSONField(default=list, blank=True, help_text="IP addresses bound to the key on OKX.")
    okx_created_at = models.DateTimeField("created on OKX", null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True, help_text="Optional; entered by a person.")
    status = models.CharField(
        max_length=8, choices=CredentialStatus.choices, default=CredentialStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField("last successful signed call", null=True, blank=True)
    # Filled by the key-health worker.
    health_status = models.CharField(max_length=8, choices=HealthStatus.choices, blank=True)
    health_message = models.CharField(max_length=500, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    clock_offset_ms = models.IntegerField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["account__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=Q(status="active"), name="one_active_credential_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account.name if self.account_id else '?'} {self.display_fingerprint} ({self.status})"

    def __repr__(self) -> str:
        return f"<Credential {self.pk} {self.display_fingerprint} {self.status}>"

    @property
    def display_fingerprint(self) -> str:
        return f"…{self.fingerprint}"

    @property
    def has_secrets(self) -> bool:
        return all(getattr(self, name) for name in ENCRYPTED_FIELDS)

    @property
    def encryption_key_ids(self) -> set[str]:
        return {crypto.stored_key_id(getattr(self, name)) for name in ENCRYPTED_FIELDS if getattr(self, name)}

    @classmethod
    def from_plaintext(
        cls, account: Account, api_key: str, secret_key: str, passphrase: str, **fields: Any
    ) -> Credential:
        """An unsaved credential holding only ciphertext; the plaintext is not kept."""
        return cls(
            account=account,
            api_key_enc=crypto.encrypt(api_key),
            secret_key_enc=crypto.encrypt(secret_key),
            passphrase_enc=crypto.encrypt(passphrase),
            fingerprint=api_key[-FINGERPRINT_LENGTH:],
            **fields,
        )

    def build_client(self, *, stamp_successes: bool = True, **options: Any) -> Client:
        """The one place plaintext exists: decrypted straight into the client.
        Raises crypto.DecryptionError (before any request) when a value cannot be decrypted.
        Successful signed calls update last_success_at (on_call, chained to any given observer),
        unless stamp_successes is False: then the given observer stamps it (a refresh does so
        once for its three calls, accounts.history.CallRecorder with batch=True)."""
        account = self.account
        options.setdefault("limiter", shared_limiter())
        options.setdefault("uid", account.uid or None)
        options.setdefault("timeout", (CONNECT_TIMEOUT_SECONDS, settings.OKX_READ_TIMEOUT_SECONDS))
        if stamp_successes:
            options["on_call"] = self._call_observer(options.get("on_call"))
        return Client(
            crypto.decrypt(self.api_key_enc),
            crypto.decrypt(self.secret_key_enc),
            crypto.decrypt(self.passphrase_enc),
            demo=account.is_demo,
            base_url=account.api_base_url,
            **options,
        )

    def _call_observer(self, chained: Callable[[CallRecord], None] | None) -> Callable[[CallRecord], None]:
        def observe(record: CallRecord) -> None:
            if self.pk is not None and is_successful_signed_call(record):
                self.record_success()
            if chained is not None:
                chained(record)

        return observe

    def check_with_exchange(self) -> list[str]:
        """One live account/config call: refuse (CredentialRefused) a key that fails or belongs to
        another account; record what OKX says about it; return the warnings a person must read."""
        try:
            config = self.build_client().get_account_config()
        except OkxError as error:
            raise CredentialRefused.from_okx_error(error) from None
        except ValueError as error:
            raise CredentialRefused("malformed", str(error), ("Paste the value again.",)) from None
        self.account.check_identity(config)
        self.account.uid = self.account.uid or config.uid
        self.permissions = sorted(config.perm)
        self.ip_binding = list(config.ip)
        self.label = self.label or config.label[:100]
        return self.warnings_for_permissions()

    def warnings_for_permissions(self) -> list[str]:
        warnings = []
        if "withdraw" in self.permissions:
            warnings.append(
                "This key can WITHDRAW funds. The dashboard only reads; a read-only key is enough. "
                "Storing a withdraw key needs an explicit confirmation."
            )
        if self.idle_deletion_applies:
            warnings.append(
                f"This key has trade permission and no IP binding: OKX deletes it after "
                f"{IDLE_DELETION_DAYS} days without a signed call. Bind it to an IP or use a read-only key."
            )
        return warnings

    @property
    def idle_deletion_applies(self) -> bool:
        risky = {"trade", "withdraw"} & set(self.permissions)
        return bool(risky) and not self.ip_binding and not self.account.is_demo

    def retire(self) -> None:
        """Retire and destroy the secrets; the metadata stays for history."""
        for name in ENCRYPTED_FIELDS:
            setattr(self, name, "")
        self.status = CredentialStatus.RETIRED
        self.retired_at = timezone.now()
        self.save(update_fields=[*ENCRYPTED_FIELDS, "status", "retired_at"])

    def reencrypt(self) -> bool:
        """Re-encrypt this row's secrets under the newest key, safely beside running workers:
        the row is locked, and the update only applies if the ciphertext is still what was read
        (a concurrent rotation wins). Returns whether the row changed."""
        with transaction.atomic():
            row = Credential.objects.select_for_update().filter(pk=self.pk).first()
            if row is None:
                return False
            newest = crypto.keyring().newest_id
            current = {name: getattr(row, name) for name in ENCRYPTED_FIELDS}
            fresh = {
                name: crypto.reencrypt(value)
                for name, value in current.items()
                if value and crypto.stored_key_id(value) != newest
            }
            if not fresh:
                return False
            return bool(Credential.objects.filter(pk=self.pk, **current).update(**fresh))

    def check_health(self, *, last_refresh_at: Any = None) -> list[dict]:
        """Ask OKX about this key; store its permissions, status and warnings (accounts/keycheck.py)."""
        from accounts.keycheck import check_credential

        return check_credential(self, last_refresh_at=last_refresh_at)

    def record_success(self, at: Any = None) -> None:
        """Note a successful signed call (the idle-deletion clock); never moves the time back."""
        at = at or timezone.now()
        Credential.objects.filter(pk=self.pk).filter(
            Q(last_success_at__isnull=True) | Q(last_success_at__lt=at)
        ).update(last_success_at=at)


# The diagnosed error history lives in its own module; imported here so Django registers it.
from accounts.history import ApiError  # noqa: E402, F401
