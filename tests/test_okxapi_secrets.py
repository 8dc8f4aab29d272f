"""No secret or passphrase in any log record, exception (message, str, repr, args, attributes,
cause/context chain), observer record or client repr produced by the okxapi scenarios."""

from __future__ import annotations

import logging
import socket
import types
import uuid

import pytest

from okxapi import (
    ENDPOINT_LIMITS,
    CallRecord,
    Client,
    Connection,
    InvalidCredential,
    Limit,
    LocalLimiter,
    OkxError,
    RedisLimiter,
    Rule,
)
from tests.okxapi_server import FakeOkx, ok, okx_error, raw
from tests.test_okxapi_errors import SEAM_CASES

SECRET = "FAKE-SECRET-SENTINEL-9d2f41"
PASSPHRASE = "FAKE-PASSPHRASE-SENTINEL-6b7e03"
SENTINELS = (SECRET, PASSPHRASE)
BALANCE = "/api/v5/account/balance"

_OPAQUE = (type, types.ModuleType, types.FunctionType, types.MethodType, types.FrameType, types.TracebackType)


def _texts(obj: object, seen: set[int] | None = None, depth: int = 0):
    """Every string reachable from obj through args, attributes, slots and containers."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 10 or isinstance(obj, _OPAQUE):
        return
    seen.add(id(obj))
    if isinstance(obj, str | bytes):
        yield obj if isinstance(obj, str) else obj.decode("latin-1")
        return
    if obj is None or isinstance(obj, int | float):
        return
    yield repr(obj)
    yield str(obj)
    children: list[object] = []
    if isinstance(obj, dict):
        children += [*obj.keys(), *obj.values()]
    elif isinstance(obj, list | tuple | set | frozenset):
        children += list(obj)
    if isinstance(obj, BaseException):
        children += [obj.args, obj.__cause__, obj.__context__]
    children += list(getattr(obj, "__dict__", {}).values())
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            private = slot.startswith("__") and not slot.endswith("__")
            children.append(getattr(obj, f"_{klass.__name__.lstrip('_')}{slot}" if private else slot, None))
    for child in children:
        yield from _texts(child, seen, depth + 1)


def _assert_clean(*objects: object) -> None:
    for obj in objects:
        for text in _texts(obj):
            for sentinel in SENTINELS:
                assert sentinel not in text, f"a secret leaked through {type(obj).__name__}"


def _scenarios(fake: FakeOkx, redis_client, records: list[CallRecord]) -> list[BaseException]:
    """Run every success and failure path once; return the exceptions they raised."""
    errors: list[BaseException] = []

    def client(*, demo=False, base_url=fake.url, uid=None, limiter=None, **options) -> Client:
        options.setdefault("timeout", (1.0, 0.3))
        connection = Connection(limiter or LocalLimiter(), sleep=lambda s: None, **options)
        return Client(
            "fake-api-key-secrets-0001",
            SECRET,
            PASSPHRASE,
            demo=demo,
            base_url=base_url,
            connection=connection,
            uid=uid,
            on_call=records.append,
        )

    def attempt(call) -> None:
        try:
            call()
        except (OkxError, InvalidCredential) as error:
            errors.append(error)

    happy = client(demo=True)
    reads = ("get_server_time", "get_account_config", "get_balance", "get_positions", "get_funding_balances",
             "get_asset_valuation", "get_subaccounts")  # fmt: skip
    for method in reads:
        attempt(getattr(happy, method))
    for method in ("get_subaccount_balance", "get_subaccount_funding_balances", "get_subaccount_api_keys"):
        attempt(lambda m=method: getattr(happy, m)("desk one,2"))
    for case in SEAM_CASES:
        fake.script(BALANCE, case[1], case[1], case[1])
        attempt(client().get_balance)
    fake.max_skew_ms, fake.clock_offset_ms = 1000, 0
    resyncing = client()
    attempt(resyncing.get_balance)
    fake.clock_offset_ms = 60_000
    attempt(resyncing.get_balance)
    fake.script(BALANCE, ok([{"totalEq": "x", "uTime": "y", "details": [{"eq": "NaN"}]}]))
    attempt(client().get_balance)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        attempt(client(base_url=f"http://127.0.0.1:{probe.getsockname()[1]}").get_balance)
    attempt(client(base_url=f"https://127.0.0.1:{fake.port}").get_balance)
    limiter = RedisLimiter(redis_client, prefix=f"test:okxapi:secrets:{uuid.uuid4().hex}")
    tight = {**ENDPOINT_LIMITS, BALANCE: Limit(1, 30, Rule.UID)}
    limited = client(limiter=limiter, limits=tight, uid="5", rate_limit_timeout=0.1)
    attempt(limited.get_balance)
    attempt(limited.get_balance)
    attempt(
        lambda: Client("key-with-ok-shape", f"{SECRET} x", PASSPHRASE, connection=Connection(LocalLimiter()))
    )
    attempt(
        lambda: Client(
            "key-with-ok-shape", SECRET, f"{PASSPHRASE}\x07", connection=Connection(LocalLimiter())
        )
    )
    _assert_clean(
        *(repr(c) for c in (happy, resyncing, limited)), *(str(c) for c in (happy, resyncing, limited))
    )
    return errors


def test_no_secret_reaches_logs_exceptions_records_or_reprs(caplog, redis_client):
    caplog.set_level(logging.DEBUG)
    records: list[CallRecord] = []
    with FakeOkx() as fake:
        fake.script(
            "/api/v5/users/subaccount/apikey",
            ok([{"apiKey": "pub", "perm": "read_only", "ip": "", "ts": ""}]),
        )
        fake.script("/api/v5/asset/balances", raw(200, b"<html>odd</html>"))
        fake.script("/api/v5/account/config", okx_error("50110", "Your IP 203.0.113.9 is not included"))
        errors = _scenarios(fake, redis_client, records)
    assert len(errors) >= len(SEAM_CASES) + 5, "the scenarios must actually fail in many ways"
    assert {type(e).__name__ for e in errors} >= {
        "OkxAuthError",
        "OkxUnavailable",
        "RateLimitTimeout",
        "InvalidCredential",
    }
    assert len(records) > 40
    _assert_clean(errors, records)
    formatter = logging.Formatter()
    assert caplog.records, "DEBUG logging was captured"
    for record in caplog.records:
        text = record.getMessage() + (formatter.formatException(record.exc_info) if record.exc_info else "")
        assert all(sentinel not in text for sentinel in SENTINELS), record.name
        _assert_clean(record.args, record.exc_info[1] if record.exc_info else None)


def test_the_leak_detector_finds_a_passphrase_inside_a_prepared_request():
    import requests

    prepared = requests.Request(
        "GET", "http://127.0.0.1/", headers={"OK-ACCESS-PASSPHRASE": PASSPHRASE}
    ).prepare()
    with pytest.raises(AssertionError):
        _assert_clean(ValueError("wrapped", prepared))


def test_the_leak_detector_reaches_private_slots():
    client = Client("fake-api-key-secrets-0003", SECRET, PASSPHRASE, connection=Connection(LocalLimiter()))
    with pytest.raises(AssertionError):
        _assert_clean(ValueError("holds a client", client))


def test_a_network_error_chain_holds_no_request_with_signed_headers():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        client = Client(
            "fake-api-key-secrets-0002",
            SECRET,
            PASSPHRASE,
            base_url=url,
            connection=Connection(LocalLimiter(), max_attempts=1),
        )
        with pytest.raises(OkxError) as caught:
            client.get_balance()
    assert caught.value.diagnosis.category == "network"
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    _assert_clean(caught.value)
