"""Scenarios: the simulated exchange's starting state, from JSON or built in code.

The format is documented in docs/simulator.md. Times may be epoch milliseconds, ISO-8601 strings
or offsets relative to the simulator's start ("-10d", "-3h", "-90m", "-30s").
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).parent / "scenarios"
_UNITS_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}

TimeSpec = int | str | None


@dataclass
class Position:
    instId: str
    pos: str
    avgPx: str
    lever: str = "3"
    mgnMode: str = "cross"
    posSide: str = "net"
    posId: str = ""
    created: TimeSpec = "-2d"
    # MARGIN positions (instId a spot pair such as "BTC-USDT"): instType "MARGIN", posCcy the
    # base currency for a long or the quote currency for a short (OKX "Get positions": "For
    # MARGIN, pos is always positive, posCcy being base currency means long position, posCcy
    # being quote currency means short position"), ccy the margin currency (default: quote).
    instType: str = ""
    posCcy: str = ""
    ccy: str = ""


@dataclass
class PastClose:
    """A position closed before the simulator's start, for the positions history only (GET
    /api/v5/account/positions-history): the balances already hold its outcome, so it books no
    bill. `type` is OKX's close type ("1" partial close, "2" close, "3" liquidation, "4" partial
    liquidation, "5"/"6" ADL); `pos` the contracts (or MARGIN amount) closed, signed as in
    Position (net mode: negative = short); `closeAvgPx` the close price (a liquidation's liqPx
    when absent); `triggerPx` the mark that triggered a forced close (default closeAvgPx)."""

    instId: str
    type: str
    pos: str
    avgPx: str
    closeAvgPx: str = ""
    triggerPx: str = ""
    lever: str = "3"
    mgnMode: str = "cross"
    posSide: str = "net"
    posId: str = ""
    opened: TimeSpec = "-10d"
    closed: TimeSpec = "-3d"
    fundingFee: str = "0"


@dataclass
class PriceMove:
    """A scenario's price move: from `at` (seconds after the start, or a duration such as
    "90s", "15m", "2h") the USD price of `ccy` is `usd`, and its walk goes on from there."""

    ccy: str
    usd: str
    at: float | str = 0

    def at_ms(self) -> int:
        return int(float(self.at) * 1000) if isinstance(self.at, int | float) else duration_ms(self.at)


@dataclass
class Account:
    uid: str
    name: str
    role: str = "sub"  # "master" or "sub"
    label: str = ""
    enable: bool = True
    created: TimeSpec = "-365d"
    acct_lv: str = "2"
    pos_mode: str = "net_mode"
    trading: dict[str, str] = field(default_factory=dict)  # ccy -> cash balance
    frozen: dict[str, str] = field(default_factory=dict)  # ccy -> frozen part of the cash balance
    funding: dict[str, str] = field(default_factory=dict)
    # Earn (simple earn / savings) holdings: ccy -> amount. OKX's asset valuation reports their
    # value as `details.earn` ("Earn account"); no balance endpoint the product reads lists them.
    earn: dict[str, str] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    closed_positions: list[PastClose] = field(default_factory=list)  # positions history

    @property
    def is_master(self) -> bool:
        return self.role == "master"


@dataclass
class Key:
    api_key: str
    secret_key: str
    passphrase: str
    uid: str
    perm: str = "read_only"  # comma-separated: read_only, trade, withdraw
    ip: str = ""  # comma-separated whitelist; "" = not bound
    label: str = ""
    created: TimeSpec = "-30d"
    env: str = "live"  # "live" or "demo"
    last_used: TimeSpec = None
    frozen: bool = False

    def __repr__(self) -> str:  # never show the secret or passphrase
        return f"Key(api_key={self.api_key!r}, uid={self.uid!r}, perm={self.perm!r}, env={self.env!r})"


@dataclass
class Fault:
    path: str  # an endpoint path, or "*" for every path
    code: str | None = None
    http_status: int | None = None
    body: str | None = None
    delay: float | None = None
    drop: bool = False
    times: int | None = 1
    probability: float | None = None
    msg: str | None = None
    # Malformed answers (docs/simulator.md "Faults"): served after routing, authentication and
    # the rate limit, in place of the real answer. `envelope`: the whole JSON answer as given
    # (e.g. {"code": "0", "msg": ""} without data, or "data": [null]). `fields`: the real answer
    # with these fields set in every data row; a dotted path reaches inside ("details.0.eq").
    envelope: Any = None
    fields: dict[str, Any] | None = None


@dataclass
class Flow:
    """A money movement the exchange books on its own, every `every` (a duration: "1h", "30m")
    at `at` past each period counted from the simulator's start. `since` (a time: "-1d") books
    the occurrences before the start too, as history: today's balances are the scenario's, the
    history's rows lead up to them. kind "transfer" moves `amount` of `ccy` between funding
    accounts (`source` -> `target`, names or uids); kind "deposit" credits `account`."""

    kind: str
    ccy: str
    amount: str
    every: str = "1h"
    at: str = "0m"
    since: TimeSpec = None
    source: str = ""
    target: str = ""
    account: str = ""


@dataclass
class Scenario:
    name: str = "custom"
    seed: int = 1
    clock_offset_ms: int = 0
    timestamp_window_s: float = 30.0
    latency_ms: tuple[float, float] = (0.0, 0.0)  # fixed, jitter
    price_step_s: float = 60.0
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)  # ccy -> {"usd": "1", "vol": 0.0}
    accounts: list[Account] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    price_path: list[PriceMove] = field(default_factory=list)

    # -- lookups for tests and the demo seeding ------------------------------------------
    @property
    def master(self) -> Account:
        return next(a for a in self.accounts if a.is_master)

    @property
    def subaccounts(self) -> list[Account]:
        return [a for a in self.accounts if not a.is_master]

    def account(self, name_or_uid: str) -> Account:
        return next(a for a in self.accounts if name_or_uid in (a.name, a.uid))

    def keys_of(self, name_or_uid: str) -> list[Key]:
        uid = self.account(name_or_uid).uid
        return [k for k in self.keys if k.uid == uid]

    def key(self, label_or_api_key: str) -> Key:
        return next(k for k in self.keys if label_or_api_key in (k.label, k.api_key))

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def load(cls, name_or_file: str | Path) -> Scenario:
        """A shipped scenario by name ("demo") or a JSON file by path."""
        path = Path(name_or_file)
        if not path.suffix and not path.exists():
            path = SCENARIO_DIR / f"{name_or_file}.json"
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Scenario:
        accounts = [_account_from_dict(a) for a in raw.get("accounts", [])]
        by_name = {a.name: a.uid for a in accounts}
        keys = [_key_from_dict(k, by_name) for k in raw.get("keys", [])]
        latency = raw.get("latency", {})
        return cls(
            name=raw.get("name", "custom"),
            seed=int(raw.get("seed", 1)),
            clock_offset_ms=int(raw.get("clock_offset_ms", 0)),
            timestamp_window_s=float(raw.get("timestamp_window_s", 30)),
            latency_ms=(float(latency.get("fixed_ms", 0)), float(latency.get("jitter_ms", 0))),
            price_step_s=float(raw.get("price_step_s", 60)),
            prices={ccy: _price_spec(spec) for ccy, spec in raw.get("prices", {}).items()},
            accounts=accounts,
            keys=keys,
            faults=[Fault(**f) for f in raw.get("faults", [])],
            flows=[Flow(**f) for f in raw.get("flows", [])],
            price_path=[PriceMove(**m) for m in raw.get("price_path", [])],
        )

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        fixed, jitter = raw.pop("latency_ms")
        raw["latency"] = {"fixed_ms": fixed, "jitter_ms": jitter}
        return raw

    @classmethod
    def generate(
        cls, n_subaccounts: int = 10, *, own_keys: bool = True, seed: int = 7, positions: bool = True
    ) -> Scenario:
        """A large synthetic exchange for benchmarks and scale tests: one master key
        (read_only) plus, with own_keys, one read-only key per sub-account."""
        rng = random.Random(seed)
        master = Account(uid="900000000000000001", name="master", role="master", label="generated master")
        master.trading = {"USDT": "250000", "BTC": "3.5"}
        master.funding = {"USDT": "10000"}
        accounts = [master]
        keys = [_generated_key("master", master.uid)]
        for i in range(1, n_subaccounts + 1):
            sub = _generated_sub(i, rng, positions)
            accounts.append(sub)
            if own_keys:
                keys.append(_generated_key(sub.name, sub.uid))
        return cls(name="generated", seed=seed, prices=dict(DEFAULT_PRICES), accounts=accounts, keys=keys)


DEFAULT_PRICES: dict[str, dict[str, Any]] = {
    "USDT": {"usd": "1", "vol": 0.0},
    "USDC": {"usd": "1", "vol": 0.0},
    "BTC": {"usd": "65000", "vol": 0.0015},
    "ETH": {"usd": "3200", "vol": 0.002},
    "SOL": {"usd": "150", "vol": 0.003},
}


def _price_spec(spec: Any) -> dict[str, Any]:
    if isinstance(spec, dict):
        return {"usd": str(spec["usd"]), "vol": float(spec.get("vol", 0.0))}
    return {"usd": str(spec), "vol": 0.0}


def _account_from_dict(raw: dict[str, Any]) -> Account:
    raw = dict(raw)
    raw["positions"] = [Position(**p) for p in raw.get("positions", [])]
    raw["closed_positions"] = [PastClose(**c) for c in raw.get("closed_positions", [])]
    for wallet in ("trading", "frozen", "funding", "earn"):
        raw[wallet] = {ccy: str(v) for ccy, v in raw.get(wallet, {}).items()}
    return Account(**raw)


def _key_from_dict(raw: dict[str, Any], uid_by_name: dict[str, str]) -> Key:
    raw = dict(raw)
    account = raw.pop("account", None)
    if account is not None:
        raw["uid"] = uid_by_name[account]
    return Key(**raw)


def _generated_sub(i: int, rng: random.Random, positions: bool) -> Account:
    sub = Account(uid=f"{900000000000100000 + i}", name=f"sub{i:04d}", label=f"generated {i}")
    sub.created = f"-{rng.randint(10, 700)}d"
    sub.trading = {"USDT": f"{rng.uniform(100, 50000):.2f}", "BTC": f"{rng.uniform(0, 0.5):.6f}"}
    sub.funding = {"USDT": f"{rng.uniform(0, 2000):.2f}"}
    if positions and i % 3 == 0:
        sub.positions = [Position(instId="BTC-USDT-SWAP", pos=str(rng.randint(1, 20)), avgPx="64000")]
    return sub


def _generated_key(name: str, uid: str) -> Key:
    return Key(
        api_key=f"gen-key-{name}",
        secret_key=f"demo-secret-{name}",
        passphrase=f"demo-pass-{name}",
        uid=uid,
        label=f"{name} read",
        last_used="-1d",
    )


def resolve_time(spec: TimeSpec, start_ms: int) -> int | None:
    """Epoch ms of a scenario time: int ms, ISO-8601, or an offset like "-10d" from start_ms."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, int):
        return spec
    text = spec.strip()
    if text[0] in "+-" and text[-1] in _UNITS_MS:
        return start_ms + duration_ms(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def duration_ms(spec: str) -> int:
    """Milliseconds of a duration: "1h", "30m", "-2d", "+90s"."""
    text = spec.strip()
    if not text or text[-1] not in _UNITS_MS:
        raise ValueError(f"not a duration: {spec!r} (use e.g. 30s, 15m, 1h, 2d)")
    return int(float(text[:-1]) * _UNITS_MS[text[-1]])
