"""Desks: who sees which accounts.

A desk groups accounts (a strategy, a trader, a client) and names the users who may see them.
Key admins (manage_keys), superusers and users whose DeskAccess says "all desks" see every
account; everyone else sees the accounts of their desks, and nothing else, on every surface:
pages, totals, charts, the API, CSVs, reports, alerts and errors.

While the installation has no desk at all, desks are not in use and every user with the viewer
role sees every account (a team that never creates a desk keeps the product as it was). Creating
the first desk turns the limits on; the desk admin names the users who then see no account.

Every surface asks one of these, never the tables directly:
- `visible_account_ids(user)`: frozenset of Account ids, or None for "every account" (no filter).
- `visible_accounts(user)`: a QuerySet of Account.
- `limit_to_visible(queryset, user, field)`: a queryset of any model with an account foreign key.
- `can_see(user, account_id)`: one account; pages answer 404 when it is False (never 403: a
  desk-limited user does not learn that the account exists).
The answer is computed once per request user object (cached on it).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.db import models

from accounts.roles import MANAGE_KEYS

_CACHE_ATTR = "_visible_account_ids"
_NAMES_ATTR = "_visible_desk_names"
M = TypeVar("M", bound=models.Model)


class Desk(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True, help_text="A strategy, a trader, a client.")
    accounts = models.ManyToManyField("accounts.Account", related_name="desks", blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="desks",
        blank=True,
        help_text="Who sees this desk's accounts (key admins see every account).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeskAccess(models.Model):
    """One row per user who has been given a desk setting; no row means all_desks=False."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desk_access"
    )
    all_desks = models.BooleanField(
        "all desks",
        default=False,
        help_text="Sees every account, as key admins do, whatever desks exist.",
    )

    class Meta:
        verbose_name = "desk access"
        verbose_name_plural = "desk access"

    def __str__(self) -> str:
        return f"{self.user}: {'all desks' if self.all_desks else 'own desks'}"


def desks_in_use() -> bool:
    """True once any desk exists (one query)."""
    return Desk.objects.exists()


def sees_all(user: Any) -> bool:
    """Whether `user` sees every account: key admins, superusers, the all-desks flag, or no desk
    exists. Anonymous users see nothing (False)."""
    return visible_account_ids(user) is None and bool(getattr(user, "is_authenticated", False))


def visible_account_ids(user: Any) -> frozenset[int] | None:
    """The ids of the accounts `user` may see, or None for all of them. Anonymous: empty.
    The first time per user object: no query for a key admin or a superuser (their permissions
    are loaded by the role check), one for anyone else while no desk exists or with the all-desks
    flag, two for a desk-limited user; cached on it after."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    if hasattr(user, _CACHE_ATTR):
        cached: frozenset[int] | None = getattr(user, _CACHE_ATTR)
        return cached
    ids: frozenset[int] | None = None
    names: tuple[str, ...] = ()
    if not (user.is_superuser or user.has_perm(MANAGE_KEYS)) and _desk_limited(user):
        # One query for both: each desk of the user with each of its accounts (None: no account).
        # (The stubs cannot know the join is outer: a desk without accounts gives None.)
        found: list[tuple[str, int | None]] = list(
            Desk.objects.filter(members=user).values_list("name", "accounts")
        )
        ids = frozenset(account for _, account in found if account is not None)
        names = tuple(dict.fromkeys(name for name, _ in found))
    setattr(user, _CACHE_ATTR, ids)
    setattr(user, _NAMES_ATTR, names)
    return ids


def _desk_limited(user: Any) -> bool:
    """Desks are in use and the user has no all-desks flag (one query for both)."""
    from django.contrib.auth import get_user_model

    flags = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            in_use=models.Exists(Desk.objects.all()),
            all_desks=models.Exists(DeskAccess.objects.filter(user=models.OuterRef("pk"), all_desks=True)),
        )
        .values_list("in_use", "all_desks")
        .first()
    )
    return flags is not None and flags[0] and not flags[1]


def visible_desk_names(user: Any) -> tuple[str, ...]:
    """The names of the desks whose accounts a desk-limited `user` sees, by name; () for a user
    who sees every account (or none: anonymous). No query after visible_account_ids."""
    visible_account_ids(user)
    return tuple(getattr(user, _NAMES_ATTR, ()))


def forget(user: Any) -> None:
    """Drop the cached answer (after a desk change in the same request)."""
    for name in (_CACHE_ATTR, _NAMES_ATTR):
        if hasattr(user, name):
            delattr(user, name)


def visible_accounts(user: Any) -> models.QuerySet[Any]:
    """Account.objects limited to what `user` sees (all of them for key admins)."""
    # The Account model through the relation, not an import: accounts.models imports this module.
    account_model = Desk._meta.get_field("accounts").related_model
    return limit_to_visible(account_model._default_manager.all(), user, "pk")


def limit_to_visible(queryset: models.QuerySet[M], user: Any, field: str = "account") -> models.QuerySet[M]:
    """`queryset` filtered to rows whose `field` (an Account foreign key, or "pk" for Account
    itself, or a path such as "snapshot__account") is an account `user` sees."""
    ids = visible_account_ids(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{field}__in": ids})


def can_see(user: Any, account_id: int | None) -> bool:
    """Whether `user` may see account `account_id` (None: False)."""
    if account_id is None:
        return False
    ids = visible_account_ids(user)
    return ids is None or account_id in ids


def users_seeing_nothing() -> list[Any]:
    """Active users who would see no account while desks are in use: not key admins, not
    superusers, no all-desks flag and no desk with an account. For the desk admin's warning."""
    from django.contrib.auth import get_user_model

    if not desks_in_use():
        return []
    found = []
    for user in get_user_model().objects.filter(is_active=True).order_by("username"):
        if visible_account_ids(user) == frozenset():
            found.append(user)
    return found
