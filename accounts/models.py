"""OKX accounts (master and sub-accounts) and their encrypted credential sets. A Credential owns
its key health: the methods that change it and read it, over the pure rules of accounts/health.py."""

from __future__ import annotations

import dataclasses
import functools
import hmac
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from accounts import crypto, health
from accounts.audit import AuditAction, AuditEvent

# Desks and the diagnosed error history live in their own modules; imported so Django registers them.
from accounts.desks import Desk, DeskAccess  # noqa: F401
from accounts.health import HealthStatus, KeyFacts, Policy, WarningCode
from accounts.history import ApiError  # noqa: F401
from accounts.okx import is_successful_signed_call, region_host, shared_connection
from accounts.sso.users import OidcIdentity  # noqa: F401  (single sign-on identities)
from okxapi import HOSTS, CallRecord, Client, Connection, OkxError

FINGERPRINT_LENGTH = 4
ENCRYPTED_FIELDS = ("api_key_enc", "secret_key_enc", "passphrase_enc")


class NoCredential(Exception):
    """The account has no active credential and cannot be read through a master either."""


class HostNotAllowed(NoCredential):
    """The account's base URL is neither OKX's nor allowed by OKX_EXTRA_BASE_URLS: its key is not
    usable there, and nothing was sent (a NoCredential, so every reader already handles it)."""


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a bare http(s) origin ("https://host[:port]", optionally "/");
    None for anything else: a path, query, fragment, user info or another scheme."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    # An empty query, fragment or user info ("https://www.okx.com#", "https://@www.okx.com") is
    # still one: urlsplit gives "" or None for those, so the characters themselves are refused.
    marks = any(mark in url for mark in "?#") or "@" in parts.netloc
    bare = parts.path in ("", "/") and not marks
    if parts.scheme not in ("http", "https") or not parts.hostname or not bare:
        return None
    return parts.scheme, parts.hostname.lower(), port


def base_url_problem(url: str) -> str:
    """Why an account may not send its key to `url` ("" when it may): only OKX's own hosts
    (okxapi.HOSTS: global, EEA, US) and the origins listed in settings.OKX_EXTRA_BASE_URLS
    ("scheme://host[:port]"; without a port any port of that host) are allowed."""
    origin = _origin(url)
    okx = {_origin(host) for host in HOSTS.values()}
    if origin is not None and origin in okx:
        return ""
    for extra in settings.OKX_EXTRA_BASE_URLS:
        allowed = _origin(extra)
        if origin and allowed and origin[:2] == allowed[:2] and allowed[2] in (None, origin[2]):
            return ""
    hosts = ", ".join(f"{Region(region).label.split(' (')[0]} {host}" for region, host in HOSTS.items())
    return (
        f"{url} is not one of OKX's hosts ({hosts}). Choose the account's region instead; "
        "another host is used only when the server's OKX_EXTRA_BASE_URLS setting lists it."
    )


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


class AccountQuerySet(models.QuerySet["Account"]):
    def in_team_totals(self) -> AccountQuerySet:
        """Active accounts whose money is the team's: live, not marked excluded from team totals.
        Every team total (overview, charts, PnL, reports) is over these only; per-account alerts
        (loss, risk) still watch excluded live accounts: their money and risk are real."""
        return self.filter(active=True, environment=Environment.LIVE, excluded_from_totals=False)


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
    excluded_from_totals = models.BooleanField(
        "excluded from team totals",
        default=False,
        db_default=False,  # rows written by code that predates the column (old migrations' states)
        help_text="Shown, but left out of the team's equity, PnL and charts (a test account).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_dashboard", "Can view the dashboard"),
            ("operate", "Can refresh accounts and acknowledge errors"),
            ("manage_keys", "Can add accounts and rotate credentials and encryption keys"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["uid", "environment"],
                condition=~Q(uid=""),
                name="account_uid_unique_per_environment",
                violation_error_message="Another account has this UID in this environment already.",
            ),
            models.UniqueConstraint(
                fields=["master", "sub_acct_name"],
                condition=~Q(sub_acct_name=""),
                name="sub_acct_unique_per_master",
                violation_error_message=(
                    "This master already has an account for this OKX sub-account name; "
                    "rotate that account's key instead of adding it again."
                ),
            ),
            models.CheckConstraint(
                condition=Q(kind=AccountKind.SUB) | Q(master__isnull=True),
                name="only_subaccounts_have_a_master",
                violation_error_message="Only a sub-account has a master: choose the kind sub-account.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_demo(self) -> bool:
        return self.environment == Environment.DEMO

    @property
    def in_team_totals(self) -> bool:
        """Counted in the team's totals: live and not excluded (AccountQuerySet.in_team_totals)."""
        return not self.is_demo and not self.excluded_from_totals

    @property
    def api_base_url(self) -> str:
        return self.base_url.rstrip("/") if self.base_url else region_host(self.region)

    def checked_base_url(self, base_url: str | None = None) -> str:
        """The host this account's key may be sent to: `base_url` (a host being checked before
        the account moves there) or the account's own. Raises HostNotAllowed (base_url_problem)
        for any other host, whoever wrote it into the row."""
        url = base_url or self.api_base_url
        problem = base_url_problem(url)
        if problem:
            raise HostNotAllowed(f"{self.name}: {problem} Nothing was sent.")
        return url.rstrip("/")

    def active_credential(self) -> Credential | None:
        """Read fresh from the database, so a rotation is seen by the very next call."""
        if self.pk is None:
            return None
        # At most one is active (a constraint), so no ordering: Meta's would join the account.
        return self.credentials.filter(status=CredentialStatus.ACTIVE).order_by().first()

    def build_client(self) -> Client:
        """A client of the account's own active credential; NoCredential when it has none."""
        credential = self.active_credential()
        if credential is None:
            raise NoCredential(f"account {self.name} has no active credential")
        return credential.build_client()

    def reading_credential(self) -> tuple[Credential, str | None]:
        """(credential, sub_acct): the account's own active credential, or its master's plus the
        OKX sub-account name for the master-only sub-account endpoints (None for own keys).
        One query for an own key (a refresh looks it up once), two through a master."""
        own = self.active_credential()
        if own is not None:
            return own, None
        master = (
            self.master if self.kind == AccountKind.SUB and self.master_id and self.sub_acct_name else None
        )
        if master is not None:
            through = master.active_credential()
            if through is None:
                raise NoCredential(f"account {master.name} has no active credential")
            return through, self.sub_acct_name
        raise NoCredential(f"account {self.name} has no active credential and no master to read it through")

    def reading_client(self) -> tuple[Client, str | None]:
        """(client, sub_acct): see reading_credential."""
        credential, sub_acct = self.reading_credential()
        return credential.build_client(), sub_acct

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
        if account is None:
            taken = Account.objects.filter(name=sub.name).exists()
            name = f"{self.name}/{sub.name}" if taken else sub.name
            account = Account(name=name[: Account._meta.get_field("name").max_length], kind=AccountKind.SUB)
        account.master, account.sub_acct_name, account.uid = self, sub.name, sub.uid
        account.okx_label = (sub.label or "")[:100]
        account.environment, account.region, account.base_url = self.environment, self.region, self.base_url
        if is_new:
            account.active = bool(sub.enabled)
        account.save()
        return is_new


HEALTH_MESSAGE_LENGTH = 500
# What key health reads from a credential's row: its own columns and its account's environment.
KEY_HEALTH_FIELDS = (
    "health_status", "warnings", "permissions", "ip_binding", "okx_created_at", "activated_at",
    "expires_on", "last_success_at",
)  # fmt: skip
KEY_HEALTH_COLUMNS = (*KEY_HEALTH_FIELDS, "account__environment")
# What a key check writes (Credential.record_check).
CHECK_FIELDS = (
    "permissions", "ip_binding", "clock_offset_ms", "okx_created_at", "warnings", "health_checked_at",
    "health_status", "health_message", "failing_since",
)  # fmt: skip


def health_policy() -> Policy:
    """The team's rotation policy and refresh interval (settings), as the health rules take them."""
    return Policy(settings.ROTATION_POLICY_DAYS, settings.REFRESH_INTERVAL_SECONDS)


class CredentialStatus(models.TextChoices):
    PENDING = "pending", "pending"
    ACTIVE = "active", "active"
    RETIRED = "retired", "retired"


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

    def needing_action(self, now: datetime) -> list[int]:
        """Ids of the credentials a person must act on at `now` (Credential.needs_action), from
        plain column values in one query: the top bar asks on every page, and 500 Credential and
        Account instances would cost it ~60 ms."""
        policy, found = health_policy(), []
        for row in self.values("pk", *KEY_HEALTH_COLUMNS):
            warnings = health.warnings_at(row["warnings"], Credential.facts_from(row), now, policy)
            if health.needs_action(row["health_status"], warnings):
                found.append(row["pk"])
        return found


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
    # Key health: written only by the methods of the "Key health" section below.
    health_status = models.CharField(max_length=8, choices=HealthStatus.choices, blank=True)
    health_message = models.CharField(max_length=HEALTH_MESSAGE_LENGTH, blank=True)
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

    def build_client(
        self,
        *,
        on_call: Callable[[CallRecord], None] | None = None,
        stamp_successes: bool = True,
        connection: Connection | None = None,
        base_url: str | None = None,
    ) -> Client:
        """The one place plaintext exists: decrypted straight into the client.
        Raises HostNotAllowed when the host is not OKX's (Account.checked_base_url) and
        crypto.DecryptionError when a value cannot be decrypted, both before any request.
        `base_url` replaces the account's host for a check of a new one (accounts.keycheck).
        `on_call` observes every attempt. Successful signed calls update last_success_at (an
        observer chained before on_call), unless stamp_successes is False: then on_call stamps
        it (a refresh does so once for its three calls, accounts.calls.CallRecorder with
        batch=True). `connection` is the process's shared one (accounts.okx) unless given: a
        refresh's own rate-limit wait, or a test's limiter."""
        account = self.account
        host = account.checked_base_url(base_url)
        return Client(
            crypto.decrypt(self.api_key_enc),
            crypto.decrypt(self.secret_key_enc),
            crypto.decrypt(self.passphrase_enc),
            demo=account.is_demo,
            base_url=host,
            connection=connection or shared_connection(),
            uid=account.uid or None,
            on_call=self._call_observer(on_call) if stamp_successes else on_call,
        )

    def _call_observer(self, chained: Callable[[CallRecord], None] | None) -> Callable[[CallRecord], None]:
        def observe(record: CallRecord) -> None:
            if self.pk and is_successful_signed_call(record):  # not while a new key is checked
                self.record_success()
            if chained is not None:
                chained(record)

        return observe

    def has_api_key_of(self, other: Credential) -> bool:
        """Whether `other` holds the same API key as this credential (a rotation to the key in
        use). The values are decrypted here only to be compared, in constant time; nothing is
        kept or returned. False when either has no secrets (retired) or cannot be decrypted."""
        if not (self.api_key_enc and other.api_key_enc) or self.fingerprint != other.fingerprint:
            return False
        try:
            mine, theirs = crypto.decrypt(self.api_key_enc), crypto.decrypt(other.api_key_enc)
        except crypto.DecryptionError:
            return False
        return hmac.compare_digest(mine.encode(), theirs.encode())

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

    def record_success(self, at: Any = None) -> None:
        """Note a successful signed call (the idle-deletion clock); never moves the time back."""
        at = at or timezone.now()
        Credential.objects.filter(pk=self.pk).filter(
            Q(last_success_at__isnull=True) | Q(last_success_at__lt=at)
        ).update(last_success_at=at)

    # --- Key health: the only writers of health_status, health_message and failing_since --------
    def note_success(self) -> None:
        """A successful signed call clears grace/failing, unless the key answers for another
        account: that stays failing until a person replaces it (record_check sets it)."""
        # order_by(): the Meta ordering would join the account for nothing.
        troubled = Credential.objects.filter(
            pk=self.pk, health_status__in=(HealthStatus.GRACE, HealthStatus.FAILING)
        ).order_by()
        warnings = troubled.values_list("warnings", flat=True).first()
        if warnings is None or any(w.get("code") == WarningCode.UID_MISMATCH for w in warnings):
            return
        troubled.update(health_status=HealthStatus.OK, failing_since=None, health_message="")

    def note_failure(self, error: OkxError, now: datetime | None = None) -> None:
        """A failed call moves the key along ok -> grace -> failing (accounts.health.after_failure),
        under a row lock, so concurrent failures count from the same first one."""
        now = now or timezone.now()
        with transaction.atomic():
            row = Credential.objects.select_for_update().filter(pk=self.pk).first()
            if row is None:
                return
            troubled = row.health_status in (HealthStatus.GRACE, HealthStatus.FAILING)
            grace = timedelta(minutes=settings.GRACE_PERIOD_MINUTES)
            status, since = health.after_failure(
                row.failing_since if troubled else None, permanent=error.permanent, now=now, grace=grace
            )
            message = health.failure_message(
                permanent=error.permanent, meaning=error.diagnosis.meaning, code=error.code
            )[:HEALTH_MESSAGE_LENGTH]
            Credential.objects.filter(pk=row.pk).update(
                health_status=status, failing_since=since, health_message=message
            )

    def fail_closed(self, error: Exception, now: datetime | None = None) -> None:
        """A stored secret that cannot be decrypted (crypto.DecryptionError): nothing was sent, and
        the key is failing at once, with the reason (a key id, never a value) for the keys page."""
        message = (
            f"The stored secret cannot be decrypted ({error}); nothing was sent to OKX. Restore the "
            "encryption key in FERNET_KEYS, or enter this credential set again."
        )[:HEALTH_MESSAGE_LENGTH]
        Credential.objects.filter(pk=self.pk).update(
            health_status=HealthStatus.FAILING,
            health_message=message,
            failing_since=Coalesce(F("failing_since"), Value(now or timezone.now())),
        )

    def record_check(
        self,
        *,
        permissions: Iterable[str],
        ip_binding: Iterable[str],
        clock_offset_ms: int | None,
        created_on_okx: datetime | None = None,
        last_refresh_at: datetime | None = None,
        unknown_keys: tuple[str, ...] = (),
        uid_problem: str = "",
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Store what a key check read from OKX and the warnings that follow at `now`; returns them.
        A key answering for another UID (uid_problem) fails at once; a first check makes a key ok.
        Saves CHECK_FIELDS: read the row afresh after the check's calls (their observer writes)."""
        now = now or timezone.now()
        self.permissions, self.ip_binding = sorted(permissions), list(ip_binding)
        self.clock_offset_ms = clock_offset_ms
        self.okx_created_at = created_on_okx or self.okx_created_at
        facts = self.key_facts(
            clock_offset_ms=clock_offset_ms,
            last_refresh_at=last_refresh_at,
            unknown_keys=unknown_keys,
            uid_problem=uid_problem,
        )
        self.warnings = health.key_warnings(facts, now, health_policy())
        self.health_checked_at = now
        if uid_problem:
            self.health_status = HealthStatus.FAILING
            self.health_message = uid_problem[:HEALTH_MESSAGE_LENGTH]
            self.failing_since = self.failing_since or now
        elif not self.health_status:
            self.health_status = HealthStatus.OK
        self.save(update_fields=CHECK_FIELDS)
        return self.warnings

    # --- Key health as every surface reads it (top bar, pages, API, alerts, reports) ------------
    @staticmethod
    def facts_from(columns: Mapping[str, Any]) -> KeyFacts:
        """The one place KeyFacts are built from a credential's row: `columns` maps each name of
        KEY_HEALTH_COLUMNS to its value (a row of .values(), or an instance's in key_facts)."""
        return KeyFacts(
            permissions=frozenset(columns["permissions"] or ()),
            ip_binding=tuple(columns["ip_binding"] or ()),
            demo=columns["account__environment"] == Environment.DEMO,
            created_at=columns["okx_created_at"] or columns["activated_at"],
            expires_on=columns["expires_on"],
            last_success_at=columns["last_success_at"],
            watched_since=columns["activated_at"],
        )

    def key_facts(self, **observed: Any) -> KeyFacts:
        """The facts of this key from its row; `observed` (KeyFacts fields) adds what a key check
        has just read and is not a column: clock offset, last refresh, unknown keys, uid problem."""
        columns = {name: functools.reduce(getattr, name.split("__"), self) for name in KEY_HEALTH_COLUMNS}
        return dataclasses.replace(self.facts_from(columns), **observed)

    def warnings_at(self, now: datetime) -> list[dict[str, Any]]:
        """The warnings as of `now`: the last check's, with the date rules recomputed
        (accounts.health.warnings_at). Dicts of code, message, date (ISO day or None), severity."""
        return health.warnings_at(self.warnings, self.key_facts(), now, health_policy())

    def needs_action(self, now: datetime) -> bool:
        """Failing, or a warning of severity warning/danger at `now` (what the top bar counts)."""
        return health.needs_action(self.health_status, self.warnings_at(now))

    @property
    def health_reason(self) -> str:
        """health_message as every surface shows it: in words, without the endpoint a message
        stored by an older version began with (accounts.health.without_endpoint); "" for none."""
        return health.without_endpoint(self.health_message)

    def idle_deletion_date(self) -> date | None:
        """The day OKX deletes this key unless it is used; None for a key the rule spares."""
        return health.idle_deletion_date(self.key_facts())
