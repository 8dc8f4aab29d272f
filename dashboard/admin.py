"""API tokens in the admin: key admins see whose token exists since when, and delete one to revoke
it at once. Tokens are made only by `manage.py api_token`, which shows a token once; the database
keeps its digest, so nothing here could show it again. The digest is the row's primary key, so it
is the id in these pages' URLs: SHA-512 of 256 random bits, one-way, and refused as a token."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from knox.models import AuthToken

from accounts.roles import KeyAdminsOnly
from dashboard.models import ApiToken

# knox registers its own admin, which lists each token's digest; this one replaces it.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(ApiToken)
class ApiTokenAdmin(KeyAdminsOnly, admin.ModelAdmin):
    list_display = ("user", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("user", "created", "expiry")
    readonly_fields = fields
    ordering = ("-created",)

    def has_add_permission(self, request: Any, *args: Any) -> bool:
        return False  # made by `manage.py api_token`, the one place that can show a token once

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
