"""Helpers for the accounts tests: role users, simulator-backed accounts, obvious fake keys."""

from __future__ import annotations

import itertools

from django.apps import apps
from django.contrib.auth.models import Group, User

from accounts.models import Account, AccountKind, Credential, Environment
from accounts.roles import KEY_ADMIN, OPERATOR, ROLE_PERMISSIONS, VIEWER, create_roles

PASSWORD = "correct-horse-battery-staple-9"
ROLES = ("viewer", "operator", "key_admin", "stranger")
GROUP_OF = {"viewer": VIEWER, "operator": OPERATOR, "key_admin": KEY_ADMIN, "stranger": None}

ROLE_NAMES = tuple(ROLE_PERMISSIONS)
_serial = itertools.count(1)


def make_user(role: str, *, staff: bool = True) -> User:
    user = User.objects.create_user(f"{role}-{next(_serial)}", password=PASSWORD, is_staff=staff)
    if GROUP_OF[role]:
        ensure_roles()
        user.groups.add(Group.objects.get(name=GROUP_OF[role]))
    return user


def ensure_roles() -> None:
    """The role groups with their permissions, made again by the roles migration's own helper
    when a transactional test's flush took that data migration's rows."""
    if Group.objects.filter(name__in=ROLE_NAMES).count() < len(ROLE_NAMES):
        create_roles(apps)


def fake_key_set(n: int) -> dict[str, str]:
    """An obviously fake credential set that still has OKX's shapes (36-char key, 32-char secret)."""
    return {
        "api_key": f"FAKE0000-TEST-KEY0-SET0-{n:012d}",
        "secret_key": f"FAKE{n:028d}",
        "passphrase": f"Fake-Pass-{n:04d}",
    }


def register_key(sim, uid: str, keys: dict[str, str], **fields) -> None:
    """A key the simulator knows; created yesterday, so OKX's 14-day idle rule has not hit it."""
    fields.setdefault("label", "test key")
    fields.setdefault("created", "-1d")
    sim.add_key(uid=uid, **keys, **fields)


def sim_account(sim, name: str = "main", *, kind: str = AccountKind.MASTER, master=None, **fields) -> Account:
    return Account.objects.create(
        name=name, kind=kind, master=master, base_url=sim.url, environment=Environment.LIVE, **fields
    )


def install(account: Account, keys: dict[str, str], **fields) -> Credential:
    """Store a credential directly (no live check): for tests about what happens afterwards."""
    credential = Credential.from_plaintext(account, **keys, **fields)
    account.install_credential(credential, actor_name="test")
    return credential


def calls_to(sim, path: str) -> int:
    return sum(row["calls"] for (p, _), row in sim.stats().items() if p == path)
