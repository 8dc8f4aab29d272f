"""The simulator's signature check (okxsim.signature) is written apart from the client's
(okxapi.signing). Here the two, python-okx and ccxt sign the same requests and must agree,
byte for byte, on signatures and timestamps: a mistake in one is caught by the others."""

from __future__ import annotations

import ccxt
import okx.utils
import pytest

from okxapi import signing as client_signing
from okxsim.signature import signature, signature_matches, timestamp_ms, timestamp_text

# The docs' own example values: secret, timestamp and POST body
# (https://www.okx.com/docs-v5/en/#overview-rest-authentication-signature).
DOC_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
DOC_TIME = "2020-12-08T09:08:57.715Z"
DOC_BODY = '{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}'

# Computed once with OpenSSL, outside any of this code (the same vectors as test_okxapi_signing):
#   printf '%s' "$PREHASH" | openssl dgst -sha256 -hmac "$DOC_SECRET" -binary | base64
OPENSSL = [
    ("GET", "/api/v5/account/balance?ccy=BTC", "", "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="),
    ("GET", "/api/v5/account/config", "", "Kr/8IrbDYujS4cg2KkmB+tO2HMUXxyayG6ZwNb4H/yA="),
    ("POST", "/api/v5/account/set-leverage", DOC_BODY, "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8="),
]

REQUESTS = [
    ("GET", "/api/v5/account/balance?ccy=BTC,USDT", ""),
    ("GET", "/api/v5/account/subaccount/balances?subAcct=desk%20one%2C2", ""),
    ("get", "/api/v5/public/time", ""),
    ("POST", "/api/v5/account/set-leverage", DOC_BODY),
    ("POST", "/api/v5/asset/transfer", '{"ccy":"USDT","amt":"1.5","note":"paiement reçu"}'),
]


def python_okx_signature(secret: str, stamp: str, method: str, path: str, body: str) -> str:
    return okx.utils.sign(okx.utils.pre_hash(stamp, method, path, body, debug=False), secret).decode()


def ccxt_signature(secret: str, stamp: str, method: str, path: str, body: str) -> str:
    exchange = ccxt.okx()
    return exchange.hmac(
        exchange.encode(stamp + method.upper() + path + body), exchange.encode(secret), "sha256", "base64"
    )


@pytest.mark.parametrize(("method", "path", "body", "expected"), OPENSSL, ids=["get-query", "get", "post"])
def test_the_simulator_signs_the_docs_examples_as_openssl_does(method, path, body, expected):
    assert signature(DOC_SECRET, DOC_TIME, method, path, body) == expected
    assert signature_matches(expected, DOC_SECRET, DOC_TIME, method, path, body)


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_client_simulator_python_okx_and_ccxt_sign_alike(method, path, body):
    produced = {
        "simulator": signature(DOC_SECRET, DOC_TIME, method, path, body),
        "client": client_signing.sign(DOC_SECRET, DOC_TIME, method, path, body),
        "python-okx": python_okx_signature(DOC_SECRET, DOC_TIME, method, path, body),
        "ccxt": ccxt_signature(DOC_SECRET, DOC_TIME, method, path, body),
    }
    assert len(set(produced.values())) == 1, produced


@pytest.mark.parametrize(
    ("params", "target"),
    [({"ccy": "BTC,USDT"}, "/api/v5/account/balance?ccy=BTC%2CUSDT"), ({}, "/api/v5/account/balance")],
)
def test_the_simulator_accepts_what_ccxt_signs_and_sends(monkeypatch, params, target):
    exchange = ccxt.okx({"apiKey": "k", "secret": DOC_SECRET, "password": "p"})
    monkeypatch.setattr(exchange, "milliseconds", lambda: timestamp_ms(DOC_TIME))
    request = exchange.sign("account/balance", ["private"], "GET", params)
    headers = request["headers"]
    assert request["url"].endswith(target)
    assert headers["OK-ACCESS-TIMESTAMP"] == DOC_TIME
    assert signature_matches(headers["OK-ACCESS-SIGN"], DOC_SECRET, DOC_TIME, "GET", target, "")


def test_a_signature_over_other_bytes_does_not_match():
    good = signature(DOC_SECRET, DOC_TIME, "GET", "/api/v5/account/balance?ccy=BTC,USDT")
    encoded = "/api/v5/account/balance?ccy=BTC%2CUSDT"  # same meaning, other bytes: OKX refuses it
    assert not signature_matches(good, DOC_SECRET, DOC_TIME, "GET", encoded, "")
    assert not signature_matches(good, "another-secret", DOC_TIME, "GET", encoded, "")


@pytest.mark.parametrize(
    "epoch_ms", [0, 1_607_418_537_715, 1_607_418_537_000, 1_798_761_599_999, 951_782_400_001]
)
def test_timestamps_are_written_and_read_alike(epoch_ms):
    text = timestamp_text(epoch_ms)
    assert text == client_signing.format_timestamp(epoch_ms) == ccxt.okx().iso8601(epoch_ms)
    assert timestamp_ms(text) == client_signing.parse_timestamp(text) == epoch_ms


def test_the_docs_example_timestamp_reads_as_its_moment():
    assert timestamp_ms(DOC_TIME) == 1_607_418_537_715
    assert timestamp_text(1_607_418_537_715) == DOC_TIME


def test_python_okx_timestamps_have_the_form_the_simulator_reads():
    timestamp_ms(okx.utils.get_timestamp())


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21 10:00:00.000Z",
        "1700000000000",
        "2026-11-21T10:00:00Z",
        "2026-11-21T10:00:00.000+00:00",
        "2026-11-21T10:00:00.00Z",
        "2026-11-21T10:00:00.0000Z",
        "2026-13-21T10:00:00.000Z",
        "",
    ],
)
def test_the_simulator_and_the_client_refuse_the_same_malformed_timestamps(text):
    with pytest.raises(ValueError):
        timestamp_ms(text)
    with pytest.raises(ValueError):
        client_signing.parse_timestamp(text)


@pytest.mark.parametrize(
    "text", ["2026-11-21T10:00:00.\uff11\uff12\uff13Z", "\uff12\uff10\uff12\uff16-11-21T10:00:00.123Z"]
)
def test_the_simulator_reads_only_ascii_digits(text):
    # Fullwidth digits: Python's int() and strptime() read them, OKX's form has ASCII digits only.
    with pytest.raises(ValueError):
        timestamp_ms(text)
