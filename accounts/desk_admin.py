"""The desk admin (key admins only): desks with their accounts and members, and who sees every
account. Every change is an audit event naming what was added and removed (names, never ids)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from accounts.audit import AuditAction, AuditEvent
from accounts.desks import Desk, DeskAccess, users_seeing_nothing
from accounts.roles import VIEW_DASHBOARD, KeyAdminsOnly

# How many names the warning lists before "…".
WARN_NAMES = 20


def _names(objects: Any) -> set[str]:
    return {str(o) for o in objects}


def warn_blind_users(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    """After a desk or desk-access change: a warning naming the team members (users with the
    viewer role or more) who now see no account, with what to do."""
    blind = [user for user in users_seeing_nothing() if user.has_perm(VIEW_DASHBOARD)]
    if blind:
        names = ", ".join(u.get_username() for u in blind[:WARN_NAMES])
        more = " …" if len(blind) > WARN_NAMES else ""
        model_admin.message_user(
            request,
            f"{len(blind)} team member(s) now see no account: {names}{more}. Add them to a desk, "
            "or give them 'all desks' under Desk access.",
            messages.WARNING,
        )


def _difference(label: str, before: set[str], after: set[str]) -> list[str]:
    parts = []
    if after - before:
        parts.append(f"{label} added: {', '.join(sorted(after - before))}")
    if before - after:
        parts.append(f"{label} removed: {', '.join(sorted(before - after))}")
    return parts


@admin.register(Desk)
class DeskAdmin(KeyAdminsOnly, admin.ModelAdmin):
    list_display = ("name", "description", "account_count", "member_count")
    search_fields = ("name", "description", "accounts__name", "members__username")
    filter_horizontal = ("accounts", "members")
    fields = ("name", "description", "accounts", "members")

    @admin.display(description="accounts")
    def account_count(self, desk: Desk) -> int:
        return desk.accounts.count()

    @admin.display(description="members")
    def member_count(self, desk: Desk) -> int:
        return desk.members.count()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        desk = form.instance
        before = (_names(desk.accounts.all()), _names(desk.members.all())) if change else (set(), set())
        super().save_related(request, form, formsets, change)
        after = (_names(desk.accounts.all()), _names(desk.members.all()))
        parts = [] if change else ["desk created"]
        parts += _difference("accounts", before[0], after[0]) + _difference("members", before[1], after[1])
        if "description" in form.changed_data and change:
            parts.insert(0, "description changed")
        if "name" in form.changed_data and change:
            parts.insert(0, f"renamed from {form.initial.get('name', '')}")
        if parts:
            AuditEvent.record(AuditAction.DESK_CHANGE, request=request, obj=desk, detail="; ".join(parts))
        warn_blind_users(self, request)

    def delete_model(self, request: HttpRequest, obj: Desk) -> None:
        AuditEvent.record(AuditAction.DESK_CHANGE, request=request, obj=obj, detail="desk deleted")
        super().delete_model(request, obj)
        warn_blind_users(self, request)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for desk in queryset:
            AuditEvent.record(AuditAction.DESK_CHANGE, request=request, obj=desk, detail="desk deleted")
        super().delete_queryset(request, queryset)
        warn_blind_users(self, request)


@admin.register(DeskAccess)
class DeskAccessAdmin(KeyAdminsOnly, admin.ModelAdmin):
    list_display = ("user", "all_desks", "desk_names")
    list_filter = ("all_desks",)
    search_fields = ("user__username",)
    fields = ("user", "all_desks")

    @admin.display(description="desks")
    def desk_names(self, access: DeskAccess) -> str:
        return ", ".join(d.name for d in access.user.desks.all()) or "—"

    def save_model(self, request: HttpRequest, obj: DeskAccess, form: Any, change: bool) -> None:
        previous = form.initial.get("user") if change and "user" in form.changed_data else None
        super().save_model(request, obj, form, change)
        if previous is not None:
            # The row moved to another user: the previous one is back to their own desks.
            old_user = type(obj.user)._default_manager.filter(pk=previous).first()
            if old_user is not None:
                AuditEvent.record(
                    AuditAction.DESK_ACCESS_CHANGE,
                    request=request,
                    obj=obj,
                    detail=f"{old_user}: own desks only",
                )
        if not change or "all_desks" in form.changed_data or "user" in form.changed_data:
            detail = f"{obj.user}: {'all desks' if obj.all_desks else 'own desks only'}"
            AuditEvent.record(AuditAction.DESK_ACCESS_CHANGE, request=request, obj=obj, detail=detail)
        warn_blind_users(self, request)

    def delete_model(self, request: HttpRequest, obj: DeskAccess) -> None:
        self._record_removal(request, obj)
        super().delete_model(request, obj)
        warn_blind_users(self, request)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for access in queryset.select_related("user"):
            self._record_removal(request, access)
        super().delete_queryset(request, queryset)
        warn_blind_users(self, request)

    @staticmethod
    def _record_removal(request: HttpRequest, access: DeskAccess) -> None:
        """No row means own desks only: removing one is that change."""
        AuditEvent.record(
            AuditAction.DESK_ACCESS_CHANGE,
            request=request,
            obj=access,
            detail=f"{access.user}: own desks only",
        )
