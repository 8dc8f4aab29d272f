from __future__ import annotations

import pytest

from okxapi import HOSTS, Client, Connection, InvalidCredential, LocalLimiter, signing
from tests.okxapi_server import FakeOkx, expected_signature

KAT_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
KAT_TIME = "2020-12-08T09:08:57.715Z"
KAT_BODY = '{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}'

SECRET = "FAKE-SECRET-SENTINEL-5e1f0a"
PASSPHRASE = "FAKE-PASSPHRASE-SENTINEL-77c2"
API_KEY = "fake-api-key-0000-1111-abcd"


# Expected signatures were computed once, outside this code, with OpenSSL:
#   printf '%s' "$PREHASH" | openssl dgst -sha256 -hmac "$KAT_SECRET" -binary | base64
# where PREHASH = timestamp + METHOD + request path (with query) + body.
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/api/v5/account/balance?ccy=BTC", "", "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="),
        ("GET", "/api/v5/account/config", "", "Kr/8IrbDYujS4cg2KkmB+tO2HMUXxyayG6ZwNb4H/yA="),
        ("POST", "/api/v5/account/set-leverage", KAT_BODY, "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8="),
    ],
    ids=["get-with-query", "get-without-query", "post-with-body"],
)
def test_signature_matches_an_independent_openssl_computation(method, path, body, expected):
    assert signing.sign(KAT_SECRET, KAT_TIME, method, path, body) == expected


def test_method_is_upper_cased_in_the_prehash():
    assert signing.prehash(KAT_TIME, "get", "/p") == f"{KAT_TIME}GET/p"


def _client(fake: FakeOkx, **kwargs) -> Client:
    kwargs.setdefault("connection", Connection(LocalLimiter()))
    return Client(API_KEY, SECRET, PASSPHRASE, base_url=fake.url, **kwargs)


def test_it_signs_exactly_the_path_and_query_the_server_received():
    with FakeOkx() as fake:
        _client(fake).get_subaccount_balance("desk one,2")
    (call,) = fake.calls("/api/v5/account/subaccount/balances")
    assert call.raw_path == "/api/v5/account/subaccount/balances?subAcct=desk%20one%2C2"
    stamp = call.headers["OK-ACCESS-TIMESTAMP"]
    assert call.headers["OK-ACCESS-SIGN"] == expected_signature(SECRET, stamp, "GET", call.raw_path)
    assert call.headers["OK-ACCESS-KEY"] == API_KEY
    assert call.headers["OK-ACCESS-PASSPHRASE"] == PASSPHRASE
    signing.parse_timestamp(stamp)  # ISO-8601 UTC with milliseconds, or ValueError


def test_a_signed_call_without_query_signs_the_bare_path():
    with FakeOkx() as fake:
        _client(fake).get_account_config()
    (call,) = fake.calls("/api/v5/account/config")
    assert call.raw_path == "/api/v5/account/config"
    stamp = call.headers["OK-ACCESS-TIMESTAMP"]
    assert call.headers["OK-ACCESS-SIGN"] == expected_signature(SECRET, stamp, "GET", call.raw_path)


def test_demo_sends_the_simulated_trading_header_and_live_does_not():
    with FakeOkx() as fake:
        _client(fake, demo=True).get_balance()
        _client(fake, demo=False).get_balance()
    demo_call, live_call = fake.calls("/api/v5/account/balance")
    assert demo_call.headers.get("x-simulated-trading") == "1"
    assert "x-simulated-trading" not in {name.lower() for name in live_call.headers}


def test_public_time_is_sent_unsigned():
    with FakeOkx() as fake:
        _client(fake).get_server_time()
    (call,) = fake.calls("/api/v5/public/time")
    assert not {"OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-PASSPHRASE"} & set(call.headers)


def test_credentials_are_stripped_of_surrounding_whitespace():
    with FakeOkx() as fake:
        Client(
            f"  {API_KEY}\n",
            f"\t{SECRET} ",
            f" {PASSPHRASE}\r\n",
            base_url=fake.url,
            connection=Connection(LocalLimiter()),
        ).get_balance()
    (call,) = fake.calls("/api/v5/account/balance")
    assert call.headers["OK-ACCESS-KEY"] == API_KEY
    assert call.headers["OK-ACCESS-PASSPHRASE"] == PASSPHRASE
    stamp = call.headers["OK-ACCESS-TIMESTAMP"]
    assert call.headers["OK-ACCESS-SIGN"] == expected_signature(SECRET, stamp, "GET", call.raw_path)


@pytest.mark.parametrize("field", ["API key", "secret key", "passphrase"])
@pytest.mark.parametrize(
    "bad", ["FAKE SENTINEL inner-space", "FAKE\tSENTINEL", "FAKE\x00SENTINEL", "FAKE\u200bSENTINEL", ""]
)
def test_a_malformed_credential_is_refused_before_any_call_without_echoing_it(field, bad):
    values = {"API key": API_KEY, "secret key": SECRET, "passphrase": PASSPHRASE}
    values[field] = bad
    with FakeOkx() as fake, pytest.raises(InvalidCredential) as caught:
        Client(
            values["API key"],
            values["secret key"],
            values["passphrase"],
            base_url=fake.url,
            connection=Connection(LocalLimiter()),
        )
    assert fake.received == []
    assert field in str(caught.value)
    assert "SENTINEL" not in str(caught.value) and "SENTINEL" not in repr(caught.value.args)


def test_repr_shows_only_the_last_four_characters_of_the_key():
    client = Client(API_KEY, SECRET, PASSPHRASE, connection=Connection(LocalLimiter()))
    text = repr(client)
    assert API_KEY[-4:] in text
    assert API_KEY[:-4] not in text and API_KEY[-5:] not in text
    assert SECRET not in text and PASSPHRASE not in text
    with pytest.raises(TypeError):
        vars(client)


def test_a_client_cannot_be_pickled_into_a_task_argument():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Client(API_KEY, SECRET, PASSPHRASE, connection=Connection(LocalLimiter())))


def test_a_client_needs_an_explicit_connection_and_a_connection_an_explicit_limiter():
    with pytest.raises(TypeError):
        Client(API_KEY, SECRET, PASSPHRASE)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Connection()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Connection(None)  # type: ignore[arg-type]


def test_hosts_cover_global_eea_and_us_and_a_region_name_is_accepted():
    assert HOSTS == {
        "global": "https://www.okx.com",
        "eea": "https://eea.okx.com",
        "us": "https://app.okx.com",
    }
    assert (
        Client(API_KEY, SECRET, PASSPHRASE, base_url="eea", connection=Connection(LocalLimiter())).base_url
        == HOSTS["eea"]
    )
    with pytest.raises(ValueError, match="base_url"):
        Client(API_KEY, SECRET, PASSPHRASE, base_url="www.okx.com", connection=Connection(LocalLimiter()))
