"""The admin: accounts (add with a checked key; the key actions rotate and change host, each with
the password under the login's lockout, a live check and an audit event; discover sub-accounts),
credentials (metadata only, never a stored value; the encryption keys' table) and the read-only
audit trail.

Every admin view goes through AdminSite.admin_view, which sends Cache-Control: no-store; the
rotate view is wrapped the same way.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from accounts import (
    crypto,
    desk_admin,  # noqa: F401  (registers the desk admin)
)
from accounts.audit import AuditAction, AuditEvent
from accounts.desks import limit_to_visible, visible_account_ids
from accounts.forms import AccountAddForm, HostChangeForm, RotateForm
from accounts.models import Account, AccountKind, Credential, CredentialStatus, NoCredential
from accounts.roles import KeyAdminsOnly
from okxapi import OkxError

# Kept out of Django's error reports (500 e-mails) for the views that receive them.
SECRET_POST_FIELDS = ("password", "api_key", "secret_key", "passphrase")


def key_counts_context() -> list[dict[str, Any]]:
    """Per encryption key id: how many secret values it protects, and whether it is configured."""
    ring = crypto.keyring()
    counts = Credential.objects.encryption_key_counts()
    rows = [
        {
            "key_id": key_id,
            "count": counts.get(key_id, 0),
            "newest": key_id == ring.newest_id,
            "configured": True,
        }
        for key_id in ring.ids
    ]
    rows += [
        {"key_id": key_id, "count": count, "newest": False, "configured": False}
        for key_id, count in sorted(counts.items())
        if key_id not in ring.fernets
    ]
    return rows


class CredentialInline(admin.TabularInline):
    model = Credential
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "fingerprint",
        "label",
        "status",
        "permissions",
        "ip_binding",
        "expires_on",
        "activated_at",
        "retired_at",
        "last_success_at",
        "health_status",
    )
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(KeyAdminsOnly, admin.ModelAdmin):
    model_permissions = True  # viewers read accounts and credentials (metadata only)
    list_display = (
        "name",
        "kind",
        "master",
        "uid",
        "environment",
        "host",
        "active",
        "excluded_from_totals",
        "active_key",
    )
    list_filter = ("kind", "environment", "region", "active", "excluded_from_totals")
    search_fields = ("name", "uid", "sub_acct_name")
    actions = ["discover_subaccounts"]
    inlines = [CredentialInline]
    change_form_template = "accounts/admin/account_change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "name",
                    "kind",
                    "master",
                    "sub_acct_name",
                    "uid",
                    "okx_label",
                    "active",
                    "excluded_from_totals",
                )
            },
        ),
        ("Where", {"fields": ("environment", "region", "base_url")}),
    ]
    add_fieldsets = [
        (None, {"fields": ("name", "kind", "master", "sub_acct_name")}),
        ("Where", {"fields": ("environment", "region", "base_url")}),
        (
            "Credential set (checked with OKX before anything is stored)",
            {
                "fields": (
                    "api_key",
                    "secret_key",
                    "passphrase",
                    "label",
                    "expires_on",
                    "allow_withdraw",
                    "confirm_uid",
                ),
            },
        ),
    ]
    # The host is where the key is sent: changed only through "Change host" (a key action).
    readonly_fields = ("kind", "uid", "okx_label", "region", "base_url")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="host")
    def host(self, account: Account) -> str:
        return account.base_url or account.region

    @admin.display(description="active key")
    def active_key(self, account: Account) -> str:
        credential = account.active_credential()
        return credential.display_fingerprint if credential else "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        """A desk-limited viewer lists and opens only the accounts of their desks (another one's
        change page answers as for an account that does not exist)."""
        return limit_to_visible(super().get_queryset(request), request.user, "pk")

    def get_fieldsets(self, request: HttpRequest, obj: Account | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        master = self._master_as_text(request)
        fieldsets = super().get_fieldsets(request, obj)
        if master is None:
            return fieldsets
        return [
            (title, {**options, "fields": tuple(master if f == "master" else f for f in options["fields"])})
            for title, options in fieldsets
        ]

    def get_list_display(self, request: HttpRequest) -> Any:
        master = self._master_as_text(request)
        return (
            self.list_display
            if master is None
            else [master if f == "master" else f for f in self.list_display]
        )

    def _master_as_text(self, request: HttpRequest) -> Any:
        """For a desk-limited user, the master column and field as plain text: its name when on
        one of their desks, else "another account" (never a name or a link to its page). None for
        users who see every account (Django's own editable field and link). One per request."""
        ids = visible_account_ids(request.user)
        if ids is None:
            return None
        if not hasattr(request, "_master_as_text"):

            @admin.display(description="master")
            def master(account: Account) -> str:
                if account.master is None:
                    return "—"
                return account.master.name if account.master.pk in ids else "another account"

            request._master_as_text = master  # type: ignore[attr-defined]
        return request._master_as_text  # type: ignore[attr-defined]

    def get_inlines(self, request: HttpRequest, obj: Account | None) -> list:
        return [] if obj is None else self.inlines

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> Any:
        if obj is None:
            return ()
        master = self._master_as_text(request)
        return self.readonly_fields if master is None else (*self.readonly_fields, master)

    def get_form(
        self, request: HttpRequest, obj: Account | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = AccountAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            if "excluded_from_totals" in form.changed_data:
                detail = "excluded from team totals" if obj.excluded_from_totals else "counted in team totals"
                AuditEvent.record(AuditAction.TOTALS_EXCLUSION, request=request, obj=obj, detail=detail)
        else:
            form.save_with_credential()
            for text in [*form.notes, *form.warnings]:
                self.message_user(request, text, messages.WARNING)

    @method_decorator(sensitive_post_parameters(*SECRET_POST_FIELDS))
    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        return super().add_view(request, form_url, extra_context)

    def get_urls(self) -> list:
        def key_action(view: Any) -> Any:
            return self.admin_site.admin_view(sensitive_post_parameters(*SECRET_POST_FIELDS)(view))

        return [
            path("<path:object_id>/rotate/", key_action(self.rotate_view), name="accounts_account_rotate"),
            path("<path:object_id>/host/", key_action(self.host_view), name="accounts_account_host"),
            path(
                "<path:object_id>/discover/",
                self.admin_site.admin_view(self.discover_view),
                name="accounts_account_discover",
            ),
            *super().get_urls(),
        ]

    def _key_action_account(self, request: HttpRequest, object_id: str) -> tuple[Account, AbstractBaseUser]:
        """(account, the key admin acting on it); 404 for no account, 403 for anyone else."""
        account = self.get_object(request, unquote(object_id))
        if account is None:
            raise Http404("No such account.")
        user = request.user
        if not self.has_manage_keys_permission(request) or not isinstance(user, AbstractBaseUser):
            raise PermissionDenied
        return account, user

    def _context(self, request: HttpRequest, account: Account, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "account": account,
            "title": f"{title}: {account}",
            **extra,
        }

    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        account, user = self._key_action_account(request, object_id)
        form = RotateForm(account, user, request.POST or None, request=request)
        current = account.active_credential()
        # An account without a key (a sub-account read through its master) gets its first one here.
        title = "Rotate key" if current else "Add a key"
        context = self._context(request, account, title, form=form)
        if request.method == "POST" and form.is_valid():
            retired = form.rotate()
            context.update(retired=retired, new=form.candidate, warnings=form.warnings, notes=form.notes)
            return TemplateResponse(request, "accounts/admin/rotate_done.html", context)
        context.update(current=current)
        return TemplateResponse(request, "accounts/admin/rotate.html", context)

    def host_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        account, user = self._key_action_account(request, object_id)
        form = HostChangeForm(account, user, request.POST or None, request=request)
        if request.method == "POST" and form.is_valid():
            form.save()
            checked = f"checked with its key {form.checked_key}" if form.checked_key else "no key yet"
            self.message_user(request, f"{account} now uses {form.new_url} ({checked}).", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))
        current = account.active_credential()
        context = self._context(request, account, "Change host", form=form, current=current)
        return TemplateResponse(request, "accounts/admin/host.html", context)

    def discover_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The master page's "Discover sub-accounts" button (POST): the admin action for one master."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        account, _ = self._key_action_account(request, object_id)
        if account.kind != AccountKind.MASTER:
            text = f"{account} is a sub-account: discover from its master."
            self.message_user(request, text, messages.ERROR)
        else:
            self.discover_subaccounts(request, Account.objects.filter(pk=account.pk))
        return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))

    @admin.action(description="Discover sub-accounts (with the master's key)", permissions=["manage_keys"])
    def discover_subaccounts(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        for master in queryset.filter(kind=AccountKind.MASTER):
            try:
                created, updated = master.discover_subaccounts()
            except (OkxError, NoCredential, crypto.DecryptionError) as error:
                self.message_user(request, f"{master}: {error}", messages.ERROR)
                continue
            detail = f"{created} created, {updated} updated"
            AuditEvent.record(AuditAction.SUBACCOUNTS_DISCOVER, request=request, obj=master, detail=detail)
            self.message_user(request, f"{master}: sub-accounts {detail}.", messages.SUCCESS)


@admin.register(Credential)
class CredentialAdmin(KeyAdminsOnly, admin.ModelAdmin):
    model_permissions = True  # viewers read accounts and credentials (metadata only)
    list_display = (
        "account",
        "fingerprint",
        "label",
        "status",
        "permissions",
        "ip_binding",
        "expires_on",
        "last_success_at",
        "health_status",
    )
    list_filter = ("status", "health_status")
    search_fields = ("account__name", "label", "fingerprint")
    actions = ["retire_selected"]
    change_list_template = "accounts/admin/credential_change_list.html"
    # The encrypted fields are not editable and never listed here: the page shows metadata only.
    fields = (
        "account",
        "fingerprint",
        "label",
        "expires_on",
        "status",
        "permissions",
        "ip_binding",
        "okx_created_at",
        "created_at",
        "created_by",
        "activated_at",
        "retired_at",
        "last_success_at",
        "health_status",
        "health_message",
        "health_checked_at",
        "warnings",
        "clock_offset_ms",
        "failing_since",
    )
    readonly_fields = tuple(name for name in fields if name not in ("label", "expires_on"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # credentials arrive through "Add account" or "Rotate key", both checked

    def get_queryset(self, request: HttpRequest) -> QuerySet[Credential]:
        """A desk-limited viewer sees the credentials of their desks' accounts only."""
        return limit_to_visible(super().get_queryset(request), request.user)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "key_counts": key_counts_context()}
        return super().changelist_view(request, extra_context)

    @admin.action(
        description="Retire selected credentials (destroys their secrets)", permissions=["manage_keys"]
    )
    def retire_selected(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset.exclude(status=CredentialStatus.RETIRED):
            credential.retire()
            AuditEvent.record(
                AuditAction.CREDENTIAL_RETIRE,
                request=request,
                obj=credential,
                detail=credential.display_fingerprint,
            )
        self.message_user(request, "Retired. Delete the keys on OKX as well.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Credential) -> None:
        AuditEvent.record(
            AuditAction.CREDENTIAL_DELETE, request=request, obj=obj, detail=obj.display_fingerprint
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset:
            self.delete_model(request, credential)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "ip", "action", "object_repr", "detail")
    list_filter = ("action",)
    search_fields = ("actor_name", "object_repr", "detail")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
