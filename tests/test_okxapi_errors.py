"""Every category of the diagnosis catalog, produced at one seam: a real local HTTP server."""

from __future__ import annotations

import socket

import pytest

from okxapi import (
    CATEGORIES,
    Client,
    Connection,
    LocalLimiter,
    OkxAccountRestricted,
    OkxAuthError,
    OkxBadRequest,
    OkxError,
    OkxRateLimited,
    OkxUnavailable,
    diagnose,
)
from okxapi.catalog import CATALOG
from tests.okxapi_server import FakeOkx, okx_error, raw, reply, reset, stall

BALANCE = "/api/v5/account/balance"
SECRET = "FAKE-SECRET-SENTINEL-e4b9"
PASSPHRASE = "FAKE-PASSPHRASE-SENTINEL-03aa"


def _client(base_url: str, **options) -> Client:
    """A client of a connection of its own; `options` are the Connection's."""
    options.setdefault("max_attempts", 1)
    options.setdefault("timeout", (1.0, 0.3))
    connection = Connection(LocalLimiter(), **options)
    return Client("fake-api-key-errors-0001", SECRET, PASSPHRASE, base_url=base_url, connection=connection)


def _failure(fake: FakeOkx, *actions, **kwargs) -> OkxError:
    fake.script(BALANCE, *actions)
    with pytest.raises(OkxError) as caught:
        _client(fake.url, **kwargs).get_balance()
    return caught.value


SEAM_CASES = [
    # (case id, scripted reply, category, exception class, code)
    ("key-50119-on-401", okx_error("50119", "API key doesn't exist", 401), "key", OkxAuthError, "50119"),
    ("key-50111", okx_error("50111", "Invalid OK-ACCESS-KEY.", 401), "key", OkxAuthError, "50111"),
    ("signature-50113", okx_error("50113", "Invalid signature.", 401), "signature", OkxAuthError, "50113"),
    (
        "passphrase-50105",
        okx_error("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401),
        "passphrase",
        OkxAuthError,
        "50105",
    ),
    (
        "ip-50110",
        okx_error("50110", "Your IP 203.0.113.7 is not included in your API key's IP whitelist.", 401),
        "ip_whitelist",
        OkxAuthError,
        "50110",
    ),
    (
        "environment-50101",
        okx_error("50101", "APIKey does not match current environment.", 401),
        "environment",
        OkxAuthError,
        "50101",
    ),
    (
        "permission-50120",
        okx_error("50120", "This API key doesn't have permission to use this function"),
        "permission",
        OkxAuthError,
        "50120",
    ),
    (
        "rate-50011-numeric-on-429",
        okx_error(50011, "Requests too frequent.", 429),
        "rate_limit",
        OkxRateLimited,
        "50011",
    ),
    ("rate-429-without-code", raw(429, b"", "text/plain"), "rate_limit", OkxRateLimited, None),
    (
        "busy-50013",
        okx_error("50013", "Systems are busy. Please try again later.", 429),
        "exchange_busy",
        OkxUnavailable,
        "50013",
    ),
    (
        "busy-503-html",
        raw(503, b"<html><body>503 Service Unavailable</body></html>"),
        "exchange_busy",
        OkxUnavailable,
        None,
    ),
    ("busy-500-with-code-0", reply(500), "exchange_busy", OkxUnavailable, "0"),
    (
        "timeout-50004",
        okx_error("50004", "API endpoint request timeout.", 400),
        "timeout",
        OkxUnavailable,
        "50004",
    ),
    ("timeout-read-stall", stall(1.0), "timeout", OkxUnavailable, None),
    ("network-reset", reset(), "network", OkxUnavailable, None),
    (
        "network-truncated-json",
        raw(200, b'{"code":"0","msg":"","data":[{"tot', "application/json"),
        "network",
        OkxUnavailable,
        None,
    ),
    (
        "restricted-58004",
        okx_error("58004", "Account blocked."),
        "account_restricted",
        OkxAccountRestricted,
        "58004",
    ),
    (
        "bad-request-51000",
        okx_error("51000", "Parameter ccy error", 400),
        "bad_request",
        OkxBadRequest,
        "51000",
    ),
    ("unknown-code", okx_error("59999", "Something new"), "unknown", OkxError, "59999"),
    ("unknown-empty-200", raw(200, b"", "application/json"), "unknown", OkxError, None),
    ("environment-html-403", raw(403, b"<html>Access denied</html>"), "environment", OkxAuthError, None),
    ("environment-404", raw(404, b"not found", "text/plain"), "environment", OkxAuthError, None),
    ("success-status-is-not-enough", okx_error("1", "Operation failed."), "bad_request", OkxBadRequest, "1"),
]


@pytest.mark.parametrize(
    ("action", "category", "cls", "code"),
    [case[1:] for case in SEAM_CASES],
    ids=[case[0] for case in SEAM_CASES],
)
def test_each_failure_is_raised_with_its_category(action, category, cls, code):
    with FakeOkx() as fake:
        error = _failure(fake, action)
    assert error.diagnosis.category == category
    assert type(error) is cls
    assert error.code == code
    assert error.endpoint == BALANCE
    assert error.diagnosis.steps


def test_the_okx_message_and_http_status_are_kept_unchanged():
    with FakeOkx() as fake:
        error = _failure(fake, okx_error("50119", "API key doesn't exist", 401))
    assert (error.http_status, error.code, error.message) == (401, "50119", "API key doesn't exist")


def test_a_clock_error_that_persists_after_resync_is_raised_as_clock():
    with FakeOkx() as fake:
        expired = okx_error("50102", "Timestamp request expired.", 401)
        error = _failure(fake, expired, expired)
    assert error.diagnosis.category == "clock"
    assert len(fake.calls(BALANCE)) == 2  # the original and the one retry after re-sync


def test_connection_refused_is_a_network_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: the connection is refused
        with pytest.raises(OkxError) as caught:
            _client(f"http://127.0.0.1:{port}").get_server_time()
    assert caught.value.diagnosis.category == "network"
    assert not caught.value.diagnosis.permanent


def test_a_tls_failure_is_a_network_error_that_names_tls():
    with FakeOkx() as fake, pytest.raises(OkxError) as caught:
        _client(f"https://127.0.0.1:{fake.port}").get_server_time()  # TLS against a plain HTTP server
    assert caught.value.diagnosis.category == "network"
    assert "TLS" in caught.value.diagnosis.meaning


def test_the_ip_from_the_50110_message_is_named_in_the_steps():
    with FakeOkx() as fake:
        error = _failure(
            fake, okx_error("50110", "Your IP 198.51.100.23 is not included in your API key's IP whitelist.")
        )
    assert "198.51.100.23" in error.diagnosis.meaning
    assert any("198.51.100.23" in step for step in error.diagnosis.steps)


def test_every_category_has_catalog_entries_with_steps():
    used = {entry.category for entry in CATALOG.values()}
    assert used == set(CATEGORIES)
    assert len(CATEGORIES) == 15  # 14 + "malformed" (issue 16: validation at the edge)
    for key, entry in CATALOG.items():
        assert entry.meaning and entry.steps, key


REQUIRED_CODES = [
    *[str(c) for c in range(50001, 50014) if c != 50003],
    "50026", "50030", "50035",
    *[str(c) for c in range(50100, 50123) if c != 50117],
    "59500", "59604", "51000", "58004", "58007", "59506", "59508", "59510",
]  # fmt: skip


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_the_catalog_knows_every_code_a_read_only_client_can_meet(code):
    assert diagnose(code).category != "unknown"


def _text(diagnosis) -> str:
    return " ".join((diagnosis.meaning, *diagnosis.steps))


def test_50119_names_the_regional_hosts_and_idle_deletion():
    text = _text(diagnose("50119"))
    assert "eea.okx.com" in text and "my.okx.com" in text and "app.okx.com" in text
    assert "14 days" in text and "IP" in text
    assert diagnose("50119").permanent


def test_50101_names_demo_versus_live():
    text = _text(diagnose("50101"))
    assert "x-simulated-trading" in text and "Demo Trading API" in text


def test_50102_names_clock_drift_and_automatic_resync():
    text = _text(diagnose("50102"))
    assert "re-synchronises" in text and "clock" in text
    assert not diagnose("50102").permanent


def test_50105_says_it_is_the_key_passphrase_not_the_login_password():
    assert "not the OKX login password" in _text(diagnose("50105"))


def test_the_official_meanings_of_codes_blogs_get_wrong():
    assert diagnose("50111").meaning.startswith("Invalid OK-ACCESS-KEY")
    assert "exist" not in diagnose("50111").meaning
    assert "OK-ACCESS-TIMESTAMP" in diagnose("50112").meaning and diagnose("50112").category == "clock"
    assert diagnose("50114").meaning.startswith("Invalid authorization")
    assert diagnose("50115").meaning == "Invalid request method."


def test_a_numeric_code_is_diagnosed_like_its_string():
    assert diagnose(50011) == diagnose("50011")


def test_transient_and_permanent_are_told_apart():
    assert not diagnose(http_status=503).permanent
    assert not diagnose("50011").permanent
    assert diagnose("50105").permanent and diagnose("50110").permanent and diagnose("50120").permanent
