"""Forms that take a credential set: they strip and check shapes, then ask OKX once.

Secrets are write-only: PasswordInput never renders a value back, and once the candidate
credential (ciphertext only) is built the plaintext is dropped from cleaned_data.
"""

from __future__ import annotations

import re
import time
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.forms.models import construct_instance
from django.http import HttpRequest

from accounts import crypto
from accounts.audit import AuditAction, AuditEvent
from accounts.keycheck import UID_UNCONFIRMED, admit, check_host
from accounts.lockout import KEY_ACTION
from accounts.models import Account, AccountKind, Credential, Region, base_url_problem
from accounts.okx import CredentialRefused, region_host
from accounts.shapes import ShapeError, check_shape
from okxapi import TRANSIENT_CATEGORIES

SECRET_FIELDS = ("api_key", "secret_key", "passphrase")
ACCOUNT_FIELDS = ("name", "kind", "master", "sub_acct_name", "environment", "region", "base_url")
# After a refusal the API key is kept (encrypted, in the person's session, never in the page) for
# this long, so only the secret key and passphrase are typed again. It is offered only to the next
# attempt at the same thing (the add form: the same account name; rotate: the same account), and
# a fresh (GET) form forgets it.
KEPT_API_KEY_SECONDS = 15 * 60
KEPT_API_KEY_SESSION = "accounts.kept_api_key"
BASE_URL_HELP = (
    "Empty for OKX's host of the region. Another host only if the server's OKX_EXTRA_BASE_URLS "
    "setting lists it (the built-in simulator)."
)
# OKX's catalog speaks to every surface; the forms say it in their own fields' words.
_DOUBLED_REGION = "Check the base URL region too: Check the region of the account:"
# Catalog steps about what the background jobs do by themselves (okxapi.catalog).
_BACKGROUND_STEP = "Nothing to do"
_TRY_AGAIN = "Try again in a minute"
# "If it lasts, ..." / "If it repeats, ..." at the start, or "... if it lasts." at the end.
_IF_IT_LASTS = re.compile(r"^If it (?:lasts|repeats|persists), |\s+if it (?:lasts|repeats|persists)(?=\.?$)")


def refusal_messages(refusal: CredentialRefused, steps: tuple[str, ...] | None = None) -> list[str]:
    """What a person reads for a refusal: the category with OKX's code when there is one (the
    number people search for, e.g. 50105), the meaning, then numbered steps."""
    code = f", OKX code {refusal.code}" if refusal.code else ""
    lines = [f"Refused ({refusal.category}){code}: {refusal.meaning}"]
    steps = refusal.steps if steps is None else steps
    lines += [f"Step {number}: {step}" for number, step in enumerate(steps, start=1)]
    return lines


def steps_for_a_form(refusal: CredentialRefused) -> tuple[str, ...]:
    """The refusal's steps as the person at a form can follow them. OKX's catalog speaks to the
    background jobs too: "Nothing to do once: the client retries..." is advice about a refresh,
    not about a form that failed now. For a passing failure (transient categories, or any whose
    steps say there is nothing to do) the first step is "Try again in a minute; if it persists,
    <the catalog's next step>", and the steps about automatic retries are left out."""
    steps = [step for step in refusal.steps if not step.startswith(_BACKGROUND_STEP)]
    if refusal.category not in TRANSIENT_CATEGORIES and len(steps) == len(refusal.steps):
        return refusal.steps
    if not steps:
        return (f"{_TRY_AGAIN}; if it persists, check OKX's status page and this server's network.",)
    first = _IF_IT_LASTS.sub("", steps[0], count=1)
    if first != steps[0]:  # "If it lasts, check X" or "Check X if it lasts." -> one sentence
        first = first.rstrip(".")
        if not first[1:2].isupper():  # "OKX is slow" keeps its capitals
            first = first[:1].lower() + first[1:]
        return (f"{_TRY_AGAIN}; if it persists, {first}.", *steps[1:])
    return (f"{_TRY_AGAIN}; if it persists:", *steps)


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many wrong passwords: key actions are locked for your user for {minutes} minutes, "
        "from any address (the same limit as the login). Try again later, or ask another key admin."
    )


class PasswordReentry(forms.Form):
    """A key action's password re-entry, under the login's lockout (django-axes, its failure
    limit and cool-off), counted per username from any address (accounts.lockout): once locked,
    the right password is refused too, from every address.

    A user without a password here (signed up through single sign-on, accounts/sso) confirms
    with a current code of their authenticator app instead (key admins must have one,
    accounts/mfa), under the same lockout; the field keeps its name "password" (axes masks it)."""

    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(render_value=False)
    )

    request: HttpRequest | None = None
    audit_object: Any = None
    _user: AbstractBaseUser

    @property
    def user(self) -> AbstractBaseUser:
        return self._user

    @user.setter
    def user(self, user: AbstractBaseUser) -> None:
        self._user = user
        if self.uses_code:
            field = self.fields["password"]
            field.label = "Your two-factor code"
            field.help_text = (
                "You sign in with single sign-on and have no password here: the 6-digit code your "
                "authenticator app shows confirms this key action."
            )
            field.widget = forms.TextInput(
                attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "placeholder": field.label}
            )

    @property
    def uses_code(self) -> bool:
        return not self._user.has_usable_password()

    def clean_password(self) -> str:
        if self.request is None:
            raise ValueError("a key action's password check needs the request (the lockout counts per user)")
        username = self.user.get_username()
        credentials = {"username": username, KEY_ACTION: True}
        # KEY_ACTION: axes counts these failures per username, whatever the client's address.
        if AxesProxyHandler.is_locked(self.request, credentials):
            self._reauth_failed("locked out")
            raise forms.ValidationError(lockout_message(), code="locked")
        password = self.cleaned_data["password"]
        if self.uses_code:
            right = _authenticator_code_matches(self.user, password)
            if not right:
                AxesProxyHandler.user_login_failed(
                    sender=PasswordReentry, credentials=credentials, request=self.request
                )
        else:
            user = authenticate(self.request, username=username, password=password, **{KEY_ACTION: True})
            right = user is not None and user.pk == self.user.pk
        locked = bool(getattr(self.request, "axes_locked_out", False))
        # This form says so itself; left set, AxesMiddleware would swap the page for its bare 429.
        self.request.axes_locked_out = False  # type: ignore[attr-defined]
        if not right:
            self._reauth_failed("locked out" if locked else "")
            wrong = "That code is not right." if self.uses_code else "That is not your password."
            text = wrong + (f" {lockout_message()}" if locked else "")
            raise forms.ValidationError(text, code="locked" if locked else "reauth")
        return ""

    def _reauth_failed(self, detail: str) -> None:
        AuditEvent.record(
            AuditAction.REAUTH_FAILED, request=self.request, obj=self.audit_object, detail=detail
        )


def _authenticator_code_matches(user: AbstractBaseUser, code: str) -> bool:
    """Whether `code` is the current code of one of `user`'s confirmed authenticator apps
    (django-otp's TOTP check, with its own back-off after wrong codes in a row)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    code = re.sub(r"\s", "", code)
    if not re.fullmatch(r"\d{6}", code):
        return False
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_is_allowed()[0] and device.verify_token(code):
            return True
    return False


def secret_input() -> forms.CharField:
    return forms.CharField(
        strip=False,  # stripping is done, and reported, by the shape check
        max_length=512,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class CredentialFields(forms.Form):
    """The credential part of a form; subclasses call check_credential(account) from clean()."""

    api_key = secret_input()
    api_key.label = "API key"
    api_key.required = False  # required unless one is kept from the last attempt (clean_api_key)
    secret_key = secret_input()
    passphrase = secret_input()
    label = forms.CharField(max_length=100, required=False, help_text="Defaults to the key's note on OKX.")
    expires_on = forms.DateField(
        required=False, help_text="Optional (YYYY-MM-DD): when your team plans to replace this key."
    )
    allow_withdraw = forms.BooleanField(
        required=False,
        label="I understand this key can withdraw funds and want to store it anyway",
    )
    confirm_uid = forms.CharField(
        label="Confirm UID",
        max_length=32,
        required=False,
        help_text=(
            "Only asked for a sub-account's key that its master's sub-account list cannot vouch for "
            "(no master key): enter the UID the check shows, once you have checked it on OKX."
        ),
    )

    request: HttpRequest | None = None
    actor_name = ""
    kept_scope = "add"  # which attempt's kept API key this is (add: per name; rotate: per account)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.candidate: Credential | None = None
        self.refusal: CredentialRefused | None = None
        self._api_key_enc = self._api_key_fingerprint = ""

    def setup_kept_api_key(self) -> None:
        """Say in the API key field that the last attempt's key is kept (by its last 4 only). A
        fresh form (not a submitted attempt) forgets it instead: a new task starts clean."""
        if not self.is_bound:
            self.forget_kept_api_key()
            return
        kept = self._kept_api_key()
        if kept:
            field = self.fields["api_key"]
            field.help_text = (
                f"Kept from your last attempt: the key ending …{kept['fingerprint']}. Leave this empty "
                "to use it again (type the secret key and passphrase), or paste another key."
            )
            field.widget.attrs["placeholder"] = f"kept: …{kept['fingerprint']}"
            self["api_key"].help_text = field.help_text  # a bound field copies it when first made

    def _kept_api_key(self) -> dict[str, Any] | None:
        session = getattr(self.request, "session", None)
        kept = session.get(KEPT_API_KEY_SESSION) if session is not None else None
        if not kept or kept.get("scope") != self.kept_scope:
            return None
        if time.time() - kept.get("at", 0) > KEPT_API_KEY_SECONDS:
            self.forget_kept_api_key()
            return None
        return kept

    def _keep_api_key(self) -> None:
        """After a refusal or an error elsewhere in the form: keep the API key (ciphertext) in the
        person's session for the next attempt; the page never carries it."""
        session = getattr(self.request, "session", None)
        if session is None:
            return
        encrypted, fingerprint = self._api_key_enc, self._api_key_fingerprint
        if not encrypted and self.cleaned_data.get("api_key"):
            encrypted = crypto.encrypt(self.cleaned_data["api_key"])
            fingerprint = self.cleaned_data["api_key"][-4:]
        if encrypted:
            session[KEPT_API_KEY_SESSION] = {
                "scope": self.kept_scope, "enc": encrypted, "fingerprint": fingerprint, "at": time.time()
            }  # fmt: skip
            self.setup_kept_api_key()  # the page shown next says so

    def forget_kept_api_key(self) -> None:
        """Drop the kept API key: this form's scope's, or any when the form is fresh (not a
        submitted attempt: the person has started something new)."""
        session = getattr(self.request, "session", None)
        if session is None:
            return
        kept = session.get(KEPT_API_KEY_SESSION)
        if kept is not None and (kept.get("scope") == self.kept_scope or not self.is_bound):
            session.pop(KEPT_API_KEY_SESSION, None)

    def _clean_secret(self, field: str) -> str:
        try:
            checked = check_shape(field, self.cleaned_data[field])
        except ShapeError as error:
            raise forms.ValidationError(str(error), code="shape") from None
        self.notes.extend(checked.notes)
        return checked.value

    def clean_api_key(self) -> str:
        kept = self._kept_api_key()
        if not self.cleaned_data.get("api_key") and kept:
            try:
                return crypto.decrypt(kept["enc"])
            except crypto.DecryptionError:
                self.forget_kept_api_key()
        if not self.cleaned_data.get("api_key"):
            raise forms.ValidationError(self.fields["api_key"].error_messages["required"], code="required")
        return self._clean_secret("api_key")

    def clean_secret_key(self) -> str:
        return self._clean_secret("secret_key")

    def clean_passphrase(self) -> str:
        return self._clean_secret("passphrase")

    def checked_candidate(self) -> Credential:
        """The credential a valid form has checked with OKX (ValueError before is_valid())."""
        if self.candidate is None:
            raise ValueError("no checked credential: the form is not valid")
        return self.candidate

    def check_credential(self, account: Account) -> None:
        """Build the candidate (ciphertext only), ask OKX once, refuse with the diagnosis."""
        if any(field not in self.cleaned_data for field in SECRET_FIELDS):
            return
        secrets = [self.cleaned_data.pop(field) for field in SECRET_FIELDS]
        self.candidate = Credential.from_plaintext(
            account,
            *secrets,
            label=self.cleaned_data.get("label") or "",
            expires_on=self.cleaned_data.get("expires_on"),
        )
        del secrets
        self._api_key_enc, self._api_key_fingerprint = self.candidate.api_key_enc, self.candidate.fingerprint
        current = account.active_credential()
        if current is not None and current.has_api_key_of(self.candidate):
            self._refuse(
                CredentialRefused(
                    "same_key",
                    f"This key ({current.display_fingerprint}) is already in use for {account.name}; "
                    "nothing to rotate.",
                    (
                        "Create a new key on OKX (API management), paste it here, then delete the old "
                        "one there once the new one is active.",
                    ),
                ),
            )
            return
        try:
            self.warnings = admit(self.candidate, confirmed_uid=self.cleaned_data.get("confirm_uid") or "")
        except CredentialRefused as refusal:
            self._refuse(refusal, field="confirm_uid" if refusal.category == UID_UNCONFIRMED else None)
            return
        if "withdraw" in self.candidate.permissions and not self.cleaned_data.get("allow_withdraw"):
            self._refuse(
                CredentialRefused(
                    "withdraw_unconfirmed",
                    "This key has the withdraw permission; confirm explicitly to store it.",
                    ("Prefer a read-only key.", "Or tick the confirmation and submit again."),
                ),
                field="allow_withdraw",
            )

    def form_steps(self, refusal: CredentialRefused) -> tuple[str, ...]:
        """The refusal's steps in this form's words (OKX's catalog speaks to every surface)."""
        steps = []
        for step in steps_for_a_form(refusal):
            if step.startswith(_DOUBLED_REGION):
                step = "Check the account's region too:" + step[len(_DOUBLED_REGION) :]
            steps.append(step)
        return tuple(steps)

    def _refuse(self, refusal: CredentialRefused, field: str | None = None) -> None:
        self.refusal = refusal
        messages = refusal_messages(refusal, self.form_steps(refusal))
        self.add_error(field, [forms.ValidationError(text, code=refusal.category) for text in messages])
        fingerprint = self.candidate.display_fingerprint if self.candidate else ""
        AuditEvent.record(
            AuditAction.VALIDATION_FAILED,
            request=self.request,
            actor_name=self.actor_name,
            obj=self.candidate.account if self.candidate and self.candidate.account.pk else None,
            detail=f"{refusal.category} {refusal.code} key {fingerprint}".replace("  ", " ").strip(),
        )
        self.candidate = None


class AccountAddForm(forms.ModelForm, CredentialFields):
    """A new account together with its first credential set."""

    base_url = forms.URLField(
        label="Custom base URL",
        required=False,
        assume_scheme="https",
        help_text=BASE_URL_HELP,
    )

    class Meta:
        model = Account
        fields = ACCOUNT_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The kept key belongs to the attempt at this account name: another name does not get it.
        self.kept_scope = f"add:{str(self.data.get(self.add_prefix('name'), '')).strip()}"
        self.setup_kept_api_key()

    def clean_base_url(self) -> str:
        url = self.cleaned_data.get("base_url") or ""
        problem = base_url_problem(url) if url else ""
        if problem:
            raise forms.ValidationError(problem, code="host")
        return url

    def form_steps(self, refusal: CredentialRefused) -> tuple[str, ...]:
        if refusal.category != "environment":
            return super().form_steps(refusal)
        # The add form chooses the environment in a dropdown: no "tick 'demo'" here.
        return (
            "Demo-trading keys are created separately on OKX (Trade > Demo Trading > Personal Center > "
            "Demo Trading API): for one, choose “demo trading” under Environment (add_account: --demo).",
            "A live key needs “live trading” under Environment (add_account: without --demo).",
            *[step for step in super().form_steps(refusal) if step.startswith("Check the account's region")],
        )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Account.objects.filter(name=name).exists():
            raise forms.ValidationError("An account with this name exists already.")
        return name

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind, master = cleaned.get("kind"), cleaned.get("master")
        if kind == AccountKind.MASTER and master is not None:
            self.add_error("master", "A master account has no master.")
        if master is not None and cleaned.get("environment") not in (None, master.environment):
            self.add_error("environment", f"The master {master.name} is {master.get_environment_display()}.")
        self._refuse_a_known_subaccount(master, cleaned.get("sub_acct_name") or "")
        if not self.errors:
            self.check_credential(construct_instance(self, self.instance, ACCOUNT_FIELDS))
        if self.candidate is not None:
            # The check may learn the OKX sub-account name from the master's list; ModelForm
            # builds the instance again from cleaned_data, so it goes there too.
            cleaned["sub_acct_name"] = self.candidate.account.sub_acct_name
            self._refuse_a_known_subaccount(master, cleaned["sub_acct_name"])
        if self.errors:
            self._keep_api_key()
        return cleaned

    def _refuse_a_known_subaccount(self, master: Account | None, name: str) -> None:
        """A sentence naming the account that has this OKX sub-account already (the constraint
        sub_acct_unique_per_master would otherwise refuse it after the check)."""
        if master is None or not name:
            return
        existing = Account.objects.filter(master=master, sub_acct_name=name).first()
        if existing is not None and not self.has_error("sub_acct_name"):
            self.add_error(
                "sub_acct_name",
                f"{master} already has the account {existing.name} for the OKX sub-account “{name}”. "
                f"To give it a new key, use “Rotate key” on {existing.name}'s page.",
            )

    @transaction.atomic
    def save_with_credential(self) -> Account:
        self.forget_kept_api_key()
        account = self.save()
        AuditEvent.record(
            AuditAction.ACCOUNT_ADD,
            request=self.request,
            actor_name=self.actor_name,
            obj=account,
            detail=f"{account.kind} {account.environment} UID {account.uid}",
        )
        account.install_credential(self.checked_candidate(), request=self.request, actor_name=self.actor_name)
        return account


class RotateForm(PasswordReentry, CredentialFields):
    """A key admin re-enters their password and pastes the new credential set."""

    field_order = ["password", *SECRET_FIELDS, "label", "expires_on", "allow_withdraw", "confirm_uid"]

    def __init__(
        self,
        account: Account,
        user: AbstractBaseUser,
        *args: Any,
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.account = self.audit_object = account
        self.user = user
        self.request = request
        self.kept_scope = f"rotate:{account.pk}"
        self.setup_kept_api_key()

    def form_steps(self, refusal: CredentialRefused) -> tuple[str, ...]:
        if refusal.category != "environment":
            return super().form_steps(refusal)
        # The account's environment is fixed here: say which key it needs.
        wanted = "a demo-trading key (Trade > Demo Trading > Personal Center > Demo Trading API)"
        return (
            f"{self.account.name} is {self.account.get_environment_display()}: paste "
            + (wanted if self.account.is_demo else "a live-trading key (OKX > API management)")
            + ".",
            *[step for step in super().form_steps(refusal) if step.startswith("Check the account's region")],
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not self.errors:
            self.check_credential(self.account)
        if self.errors and "password" not in self.errors:
            self._keep_api_key()
        return cleaned

    def rotate(self) -> Credential | None:
        """Activate the checked candidate; returns the retired credential (or None)."""
        candidate = self.checked_candidate()
        if self.account.sub_acct_name:  # learned from the master's list by the check, if it had none
            Account.objects.filter(pk=self.account.pk, sub_acct_name="").update(
                sub_acct_name=self.account.sub_acct_name
            )
        self.forget_kept_api_key()
        return self.account.install_credential(candidate, request=self.request)


class HostChangeForm(PasswordReentry):
    """Move an account to another host: a key action like a rotation (password under the
    login's lockout, one live check of the account's key at the new host, one audit event).
    Only OKX's hosts, or those OKX_EXTRA_BASE_URLS lists (accounts.models.base_url_problem)."""

    region = forms.ChoiceField(choices=Region.choices)
    base_url = forms.URLField(
        label="Custom base URL",
        required=False,
        assume_scheme="https",
        help_text=BASE_URL_HELP,
    )
    field_order = ["password", "region", "base_url"]

    def __init__(
        self,
        account: Account,
        user: AbstractBaseUser,
        *args: Any,
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("initial", {"region": account.region, "base_url": account.base_url})
        super().__init__(*args, **kwargs)
        self.account = self.audit_object = account
        self.user = user
        self.request = request
        self.checked_key = ""

    @property
    def new_url(self) -> str:
        """The host the account moves to (valid forms only)."""
        return (self.cleaned_data["base_url"] or region_host(self.cleaned_data["region"])).rstrip("/")

    def clean_base_url(self) -> str:
        url = (self.cleaned_data.get("base_url") or "").rstrip("/")
        problem = base_url_problem(url) if url else ""
        if problem:
            raise forms.ValidationError(problem, code="host")
        return url

    def clean(self) -> dict[str, Any]:
        super().clean()
        if self.errors:
            return self.cleaned_data
        account = self.account
        if (self.cleaned_data["region"], self.cleaned_data["base_url"]) == (account.region, account.base_url):
            raise forms.ValidationError("The account uses this host already; nothing to change.", code="same")
        try:
            self.checked_key = check_host(account, self.new_url)
        except CredentialRefused as refusal:
            messages = refusal_messages(refusal, steps_for_a_form(refusal))
            self.add_error(None, [forms.ValidationError(text) for text in messages])
            AuditEvent.record(
                AuditAction.VALIDATION_FAILED,
                request=self.request,
                obj=account,
                detail=f"host {self.new_url}: {refusal.category} {refusal.code}".strip(),
            )
        return self.cleaned_data

    @transaction.atomic
    def save(self) -> None:
        """Store the checked host; one audit event naming the old and the new host."""
        old = self.account.api_base_url
        Account.objects.filter(pk=self.account.pk).update(
            region=self.cleaned_data["region"], base_url=self.cleaned_data["base_url"]
        )
        checked = (
            f"checked with key {self.checked_key}"
            if self.checked_key
            else "no key of its own: its first key is checked there"
        )
        AuditEvent.record(
            AuditAction.HOST_CHANGE,
            request=self.request,
            obj=self.account,
            detail=f"{old} -> {self.new_url} ({checked})",
        )
