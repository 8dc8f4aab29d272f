"""Helpers for the accounts tests: role users, simulator-backed accounts, obvious fake keys, and
the second factor (a key admin has an authenticator app, and the code it shows)."""

from __future__ import annotations

import itertools

from django.apps import apps
from django.contrib.auth.models import Group, User
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account, AccountKind, Credential, Environment
from accounts.roles import KEY_ADMIN, OPERATOR, ROLE_PERMISSIONS, VIEWER, create_roles

PASSWORD = "correct-horse-battery-staple-9"
ROLES = ("viewer", "operator", "key_admin", "stranger")
GROUP_OF = {"viewer": VIEWER, "operator": OPERATOR, "key_admin": KEY_ADMIN, "stranger": None}

ROLE_NAMES = tuple(ROLE_PERMISSIONS)
_serial = itertools.count(1)


def make_user(role: str, *, staff: bool = True, second_factor: bool | None = None) -> User:
    """A user of `role`. A key admin has a confirmed authenticator app (second_factor=False: none,
    for the tests of enrolment), as TWO_FACTOR_REQUIRED's default asks before any key action."""
    user = User.objects.create_user(f"{role}-{next(_serial)}", password=PASSWORD, is_staff=staff)
    if GROUP_OF[role]:
        ensure_roles()
        user.groups.add(Group.objects.get(name=GROUP_OF[role]))
    if (role == "key_admin") if second_factor is None else second_factor:
        give_second_factor(user)
    return user


# -- Two-factor authentication (accounts/mfa) ---------------------------------------------------
def give_second_factor(user: User, name: str = "test phone") -> TOTPDevice:
    """A confirmed authenticator app for `user` (a random key, as enrolment makes)."""
    return TOTPDevice.objects.create(user=user, name=name, confirmed=True)


def authenticator_of(username: str) -> TOTPDevice:
    return TOTPDevice.objects.filter(user__username=username, confirmed=True).order_by("pk").first()


def totp_code(device: TOTPDevice) -> str:
    """The code `device`'s app shows now (django_otp.oath.totp from its key, at the device's drift),
    or, when this 30 s step's code signed in already (a code is accepted once), the next step's,
    which the device accepts too (one step of drift); it then moves its drift along."""
    device.refresh_from_db()
    now = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).t()
    ahead = max(0, device.last_t + 1 - now)
    assert ahead <= device.tolerance, f"{device} signed in {ahead} steps ahead already"
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + ahead)
    return f"{code:0{device.digits}d}"


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
