"""Helpers for the API tests: a small team of accounts with snapshots, keys and errors written
as the workers would write them, users per role, and their tokens."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from knox.models import AuthToken

from accounts.history import ApiError
from accounts.models import Account, AccountKind, Credential, Environment
from snapshots.models import BalanceLine, PositionLine, Snapshot
from tests.accounts_support import fake_key_set, install, make_user

WHO = ("anonymous", "stranger", "viewer", "operator", "key_admin")
_cycle = itertools.count(1)


@dataclass
class World:
    master: Account
    sub: Account
    keyless: Account
    keys: list[dict[str, str]] = field(default_factory=list)
    now: datetime = field(default_factory=timezone.now)


def snapshot(account: Account, taken_at: datetime, equity: str, **fields: object) -> Snapshot:
    return Snapshot.objects.create(
        account=account,
        cycle=next(_cycle),
        taken_at=taken_at,
        total_equity_usd=Decimal(equity),
        trading_equity_usd=Decimal(equity),
        funding_usd=Decimal(0),
        **fields,
    )


def balance(snap: Snapshot, ccy: str, equity: str, usd: str, wallet: str = "trading") -> BalanceLine:
    return BalanceLine.objects.create(
        snapshot=snap,
        wallet=wallet,
        ccy=ccy,
        equity=Decimal(equity),
        usd_value=Decimal(usd),
        available=Decimal(equity),
        frozen=Decimal(0),
    )


def position(snap: Snapshot, inst_id: str, upl: str, size: str = "2") -> PositionLine:
    return PositionLine.objects.create(
        snapshot=snap,
        inst_id=inst_id,
        inst_type="SWAP",
        side="long",
        size=Decimal(size),
        avg_price=Decimal("60000.5"),
        mark_price=Decimal("61000.25"),
        upl=Decimal(upl),
        upl_ccy="USDT",
        upl_usd=Decimal(upl),  # a USDT-margined swap, USDT priced at 1
        size_unit="contracts",
        upl_ratio=Decimal("0.0166"),
        leverage=Decimal(5),
        liq_price=Decimal("48000"),
        margin_mode="cross",
        notional_usd=Decimal("122000.5"),
    )


def api_error(account: Account, last_seen: datetime, category: str, code: str, **fields: object) -> ApiError:
    fields.setdefault("first_seen", last_seen - timedelta(minutes=5))
    return ApiError.objects.create(
        account=account,
        endpoint="/api/v5/account/balance",
        http_status=401,
        code=code,
        message=fields.pop("message", "Invalid Sign"),
        category=category,
        meaning="The signature does not match.",
        steps=["Check the secret key."],
        last_seen=last_seen,
        **fields,
    )


def make_world() -> World:
    """A master (key failing), a sub with its own key, a keyless sub; snapshots now and a day ago."""
    now = timezone.now()
    master = Account.objects.create(name="Fake Master", environment=Environment.LIVE)
    sub = Account.objects.create(name="Fake Sub A", kind=AccountKind.SUB, master=master, sub_acct_name="suba")
    keyless = Account.objects.create(
        name="Fake Sub B", kind=AccountKind.SUB, master=master, sub_acct_name="subb"
    )
    world = World(master, sub, keyless, keys=[fake_key_set(71), fake_key_set(72)], now=now)
    failing = install(master, world.keys[0])
    Credential.objects.filter(pk=failing.pk).update(health_status="failing", permissions=["read_only"])
    ok = install(sub, world.keys[1])
    Credential.objects.filter(pk=ok.pk).update(
        health_status="ok", permissions=["read_only"], ip_binding=["203.0.113.7"]
    )
    snapshot(master, now - timedelta(hours=25), "10000")
    snap = snapshot(master, now - timedelta(seconds=30), "12345.678901")
    balance(snap, "BTC", "0.12345678", "7654.321")
    balance(snap, "USDT", "4691.357901", "4691.357901", wallet="funding")
    position(snap, "BTC-USDT-SWAP", "-12.5")
    position(snap, "ETH-USDT-SWAP", "40.25")
    snapshot(sub, now - timedelta(seconds=30), "2500.5")
    api_error(master, now - timedelta(hours=1), "signature", "50113")
    api_error(sub, now - timedelta(days=3), "rate_limit", "50011", message="Too Many Requests")
    return world


def token_for(user) -> str:
    return AuthToken.objects.create(user=user)[1]


def client_as(client, who: str, *, token: bool = False):
    """The Django test client signed in as a new user of the role (session), or carrying their
    token in the Authorization header."""
    if who == "anonymous":
        return client
    user = make_user(who)
    if token:
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(user)}"
    else:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client
