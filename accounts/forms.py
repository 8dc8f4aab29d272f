"""Forms that take a credential set: they strip and check shapes, then ask OKX once.

Secrets are write-only: PasswordInput never renders a value back, and once the candidate
credential (ciphertext only) is built the plaintext is dropped from cleaned_data.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.forms.models import construct_instance
from django.http import HttpRequest

from accounts.audit import AuditAction, AuditEvent
from accounts.keycheck import UID_UNCONFIRMED, admit
from accounts.models import Account, AccountKind, Credential
from accounts.okx import CredentialRefused
from accounts.shapes import ShapeError, check_shape

SECRET_FIELDS = ("api_key", "secret_key", "passphrase")
ACCOUNT_FIELDS = ("name", "kind", "master", "sub_acct_name", "environment", "region", "base_url")


def secret_input() -> forms.CharField:
    return forms.CharField(
        strip=False,  # stripping is done, and reported, by the shape check
        max_length=512,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class CredentialFields(forms.Form):
    """The credential part of a form; subclasses call check_credential(account) from clean()."""

    api_key = secret_input()
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.candidate: Credential | None = None
        self.refusal: CredentialRefused | None = None

    def _clean_secret(self, field: str) -> str:
        try:
            checked = check_shape(field, self.cleaned_data[field])
        except ShapeError as error:
            raise forms.ValidationError(str(error), code="shape") from None
        self.notes.extend(checked.notes)
        return checked.value

    def clean_api_key(self) -> str:
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

    def _refuse(self, refusal: CredentialRefused, field: str | None = None) -> None:
        self.refusal = refusal
        messages = [f"Refused ({refusal.category}): {refusal.meaning}"]
        messages += [f"Step {number}: {step}" for number, step in enumerate(refusal.steps, start=1)]
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
        help_text=Account.base_url.field.help_text,
    )

    class Meta:
        model = Account
        fields = ACCOUNT_FIELDS

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
        if not self.errors:
            self.check_credential(construct_instance(self, self.instance, ACCOUNT_FIELDS))
        if self.candidate is not None:
            # The check may learn the OKX sub-account name from the master's list; ModelForm
            # builds the instance again from cleaned_data, so it goes there too.
            cleaned["sub_acct_name"] = self.candidate.account.sub_acct_name
        return cleaned

    @transaction.atomic
    def save_with_credential(self) -> Account:
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


class RotateForm(CredentialFields):
    """A key admin re-enters their password and pastes the new credential set."""

    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(render_value=False)
    )
    field_order = ["password", *SECRET_FIELDS, "label", "expires_on", "allow_withdraw", "confirm_uid"]

    def __init__(self, account: Account, user: AbstractBaseUser, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.user = user

    def clean_password(self) -> str:
        if not self.user.check_password(self.cleaned_data["password"]):
            AuditEvent.record(AuditAction.REAUTH_FAILED, request=self.request, obj=self.account)
            raise forms.ValidationError("That is not your password.", code="reauth")
        return ""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not self.errors:
            self.check_credential(self.account)
        return cleaned

    def rotate(self) -> Credential | None:
        """Activate the checked candidate; returns the retired credential (or None)."""
        candidate = self.checked_candidate()
        if self.account.sub_acct_name:  # learned from the master's list by the check, if it had none
            Account.objects.filter(pk=self.account.pk, sub_acct_name="").update(
                sub_acct_name=self.account.sub_acct_name
            )
        return self.account.install_credential(candidate, request=self.request)
