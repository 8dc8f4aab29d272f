"""The second factor's forms. A typed code is never written back into a page (CodeInput), and the
posted field is named "code", which settings.AXES_SENSITIVE_PARAMETERS masks in axes' rows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from accounts.forms import PasswordReentry
from accounts.mfa import devices


class CodeInput(forms.TextInput):
    """A text box for a one-time code that renders empty, also after a refusal."""

    def format_value(self, value: Any) -> None:
        return None


def code_field(label: str, help_text: str = "") -> forms.CharField:
    attrs = {
        "autocomplete": "one-time-code",
        "autocapitalize": "off",
        "spellcheck": "false",
        "autofocus": True,
    }
    return forms.CharField(label=label, max_length=32, help_text=help_text, widget=CodeInput(attrs=attrs))


class CodeForm(forms.Form):
    """The sign-in's code step: 6 digits from an authenticator app, or a recovery code."""

    code = code_field("Code")


class ConfirmForm(forms.Form):
    """Confirm the authenticator app being added: its name, and the code it shows now."""

    name = forms.CharField(
        label="Name of this app or phone",
        max_length=64,
        initial=devices.DEFAULT_NAME,
        help_text="To tell your authenticators apart on this page, e.g. “work phone”.",
    )
    code = code_field("The 6-digit code the app shows")

    def clean_code(self) -> str:
        code = devices.normalise(self.cleaned_data["code"])
        if not devices.TOTP_CODE.match(code):
            raise forms.ValidationError("Enter the 6 digits the app shows for this dashboard.", code="shape")
        return code


class RemoveForm(PasswordReentry):
    """Removing an authenticator app is a key action's password re-entry (the login's lockout,
    counted per user name; a wrong password is audited REAUTH_FAILED on the device)."""

    def __init__(
        self, user: AbstractBaseUser, device: Any, *args: Any, request: HttpRequest, **kwargs: Any
    ) -> None:
        # One form per authenticator on the page: ids of their own, the posted name stays
        # "password" (which axes masks in its rows).
        kwargs.setdefault("auto_id", f"id_remove_{device.pk}_%s")
        super().__init__(*args, **kwargs)
        self.fields["password"].widget.attrs.update(
            placeholder="Your password", autocomplete="current-password"
        )
        self.user = user
        self.request = request
        self.audit_object = device
