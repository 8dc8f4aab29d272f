"""The team roles (design.md): each is a Django group holding these permissions; and the view
decorators every page checks them with.

viewer reads; operator also refreshes and acknowledges errors; key admin also adds accounts,
rotates credentials and encryption keys (and, from the dashboard app, edits report schedules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required

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
    """Admin mixin: adding, changing and deleting need manage_keys (the key admin role).

    model_permissions says who may look:
    - False (the default: models of other apps, on which the roles grant nothing; alert channels
      hold secrets, report schedules): manage_keys is every permission, viewing included.
    - True (accounts and credentials, whose view permission the roles grant): Django's per-model
      permissions apply as well, so viewers read the metadata, and writes need both."""

    model_permissions = False

    def has_manage_keys_permission(self, request: Any) -> bool:
        """Also what admin actions declared with permissions=["manage_keys"] check."""
        return request.user.has_perm(MANAGE_KEYS)

    def has_module_permission(self, request: Any) -> bool:
        if self.model_permissions:
            return self._model_allows("has_module_permission", request)
        return self.has_manage_keys_permission(request)

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        if self.model_permissions:
            return self._model_allows("has_view_permission", request, obj)
        return self.has_manage_keys_permission(request)

    def has_add_permission(self, request: Any, *args: Any) -> bool:
        return self.has_manage_keys_permission(request) and self._model_allows(
            "has_add_permission", request, *args
        )

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return self.has_manage_keys_permission(request) and self._model_allows(
            "has_change_permission", request, obj
        )

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return self.has_manage_keys_permission(request) and self._model_allows(
            "has_delete_permission", request, obj
        )

    def _model_allows(self, check: str, request: Any, *args: Any) -> bool:
        """ModelAdmin's own `check` (Django's per-model permissions), when model_permissions."""
        return not self.model_permissions or bool(getattr(super(), check)(request, *args))


def create_roles(apps: Any, schema_editor: Any = None) -> None:
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


def viewer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """For the pages that read: anonymous visitors go to the login page; a signed-in user without
    view_dashboard gets 403."""
    return login_required(permission_required(VIEW_DASHBOARD, raise_exception=True)(view))


def operator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """For the operator's POSTs (acknowledge an error, test a key): as viewer_required, with operate."""
    return login_required(permission_required(OPERATE, raise_exception=True)(view))
