"""The team roles (design.md): each is a Django group holding these permissions.

viewer reads; operator also refreshes and acknowledges errors; key admin also adds accounts,
rotates credentials and encryption keys (and, from the dashboard app, edits report schedules).
"""

from __future__ import annotations

from typing import Any

VIEWER = "viewer"
OPERATOR = "operator"
KEY_ADMIN = "key admin"

_READ = ("view_dashboard", "view_account", "view_credential")
_OPERATE = (*_READ, "operate")
_MANAGE = (
    *_OPERATE,
    "manage_keys",
    "add_account",
    "change_account",
    "delete_account",
    "change_credential",
    "delete_credential",
    "view_auditevent",
)

# group name -> codenames of accounts permissions
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {VIEWER: _READ, OPERATOR: _OPERATE, KEY_ADMIN: _MANAGE}

# The permissions the pages, API and admin check (user.has_perm names).
VIEW_DASHBOARD = "accounts.view_dashboard"
OPERATE = "accounts.operate"
MANAGE_KEYS = "accounts.manage_keys"


class KeyAdminsOnly:
    """Admin mixin: every permission, viewing included, is manage_keys. For models key admins
    own that are not theirs by per-model permissions (alert channels hold secrets; report
    schedules belong to the dashboard app)."""

    def has_module_permission(self, request: Any) -> bool:
        return request.user.has_perm(MANAGE_KEYS)

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE_KEYS)

    def has_add_permission(self, request: Any, *args: Any) -> bool:
        return request.user.has_perm(MANAGE_KEYS)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE_KEYS)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE_KEYS)


def create_roles(apps, schema_editor=None) -> None:
    """Create (or complete) the groups; used by a data migration, so it takes historical apps."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; a fresh database needs them now. A
    # migration's app config has no models module, so lend it one for the call and give back what
    # was there (the global registry's config keeps its real module).
    app_config = apps.get_app_config("accounts")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True
    try:
        create_permissions(app_config, apps=apps, verbosity=0)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)
        )
