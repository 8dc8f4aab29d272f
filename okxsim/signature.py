"""OKX's REST request signature and timestamp, written from OKX's documentation alone.

The simulator does not borrow the client's signing (okxapi.signing): a mistake shared by both
would be mirrored here and no test could see it. Where the two disagree, the tests comparing them
with each other and with ccxt and python-okx (tests/test_simulator_signature.py) fail.

Source: OKX API v5, "REST Authentication" (stored copy: rosssaunders/coincise
docs/okx/authentication.md and docs/okx/overview.md, a00ae58b, 2025-11-30):
- https://www.okx.com/docs-v5/en/#overview-rest-authentication-making-requests
  "All private REST requests must contain the following headers: OK-ACCESS-KEY ...,
  OK-ACCESS-SIGN ..., OK-ACCESS-TIMESTAMP The UTC timestamp of your request .e.g :
  2020-12-08T09:08:57.715Z, OK-ACCESS-PASSPHRASE ..."
- https://www.okx.com/docs-v5/en/#overview-rest-authentication-signature
  "Create a pre-hash string of timestamp + method + requestPath + body ... Sign the pre-hash
  string with the SecretKey using the HMAC SHA256. Encode the signature in the Base64 format."
  "The request method should be in UPPERCASE." "GET request parameters are counted as
  requestpath, not body." "The timestamp value is the same as the OK-ACCESS-TIMESTAMP header
  with millisecond ISO format, e.g. 2020-12-08T09:08:57.715Z."
- https://www.okx.com/docs-v5/en/#overview-demo-trading-services
  "x-simulated-trading: 1 needs to be added to the header of the Demo Trading request."
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

ACCESS_KEY = "OK-ACCESS-KEY"
ACCESS_SIGN = "OK-ACCESS-SIGN"
ACCESS_TIMESTAMP = "OK-ACCESS-TIMESTAMP"
ACCESS_PASSPHRASE = "OK-ACCESS-PASSPHRASE"  # noqa: S105 (a header name, not a secret)
DEMO_TRADING = "x-simulated-trading"  # value "1" on every demo-trading request

# "millisecond ISO format, e.g. 2020-12-08T09:08:57.715Z": exactly three fractional digits,
# UTC as a literal Z. Anything looser (no millis, an offset, a space) is 50112.
_TIMESTAMP_FORM = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def signature(secret_key: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """Base64 of HMAC-SHA256(secret_key, timestamp + METHOD + request_path + body), as text.

    request_path is the path with its query string (leading "?") exactly as sent; body is the
    request body, "" for a GET. Both are signed as UTF-8.
    """
    message = timestamp + method.upper() + request_path + body
    mac = hmac.new(secret_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def signature_matches(
    sent: str, secret_key: str, timestamp: str, method: str, request_path: str, body: str
) -> bool:
    """True if `sent` (the OK-ACCESS-SIGN header) signs this request; compared in constant time."""
    expected = signature(secret_key, timestamp, method, request_path, body)
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("ascii"))


def timestamp_text(epoch_ms: int) -> str:
    """OK-ACCESS-TIMESTAMP for a moment in epoch milliseconds: "2020-12-08T09:08:57.715Z"."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def timestamp_ms(text: str) -> int:
    """Epoch milliseconds of an OK-ACCESS-TIMESTAMP; ValueError unless it has OKX's exact form
    (or names no real date, such as month 13)."""
    match = _TIMESTAMP_FORM.fullmatch(text)
    if match is None:
        raise ValueError(f"not OKX's timestamp form YYYY-MM-DDTHH:MM:SS.mmmZ: {text!r}")
    year, month, day, hour, minute, second, millis = (int(part) for part in match.groups())
    moment = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
