"""OKX error codes the simulator returns: official messages and HTTP statuses.

Texts and statuses follow the official error table (okx-reference.md 3.1), not the blog tables.
Two deliberate deviations, both following observed behaviour rather than the table:
50119 is sent with HTTP 401 (freqtrade #9422, ccxt #23779), and 50011 uses the HTTP 429 variant.
"""

from __future__ import annotations

import json

# code -> (HTTP status, official message). "{0}"/"{1}" stand for the docs' {param0}/{param1}.
OFFICIAL: dict[str, tuple[int, str]] = {
    "50000": (400, "Body for POST request cannot be empty."),
    "50001": (503, "Service temporarily unavailable. Please try again later."),
    "50002": (400, "JSON syntax error"),
    "50004": (
        400,
        "API endpoint request timeout. (does not mean that the request was successful or failed, "
        "please check the request result).",
    ),
    "50005": (410, "API endpoint is inactive or unavailable."),
    "50011": (429, "Too Many Requests"),
    "50013": (429, "Systems are busy. Please try again later."),
    "50014": (400, "Parameter {0} can not be empty."),
    "50026": (500, "System error. Try again later"),
    "50100": (400, "API frozen, please contact customer service."),
    "50101": (401, "APIKey does not match current environment."),
    "50102": (401, "Timestamp request expired."),
    "50103": (401, 'Request header "OK-ACCESS-KEY" cannot be empty.'),
    "50104": (401, 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
    "50105": (401, 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'),
    "50106": (401, 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
    "50107": (401, 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
    "50110": (401, "Your IP {0} is not included in your API key's IP whitelist."),
    "50111": (401, "Invalid OK-ACCESS-KEY."),
    "50112": (401, "Invalid OK-ACCESS-TIMESTAMP."),
    "50113": (401, "Invalid signature."),
    "50114": (401, "Invalid authorization."),
    "50115": (405, "Invalid request method."),
    "50119": (401, "API key doesn't exist"),
    "50120": (200, "This API key doesn't have permission to use this function"),
    "51000": (400, "Parameter {0} error"),
    "51001": (200, "Instrument ID, Instrument ID code or Spread ID doesn't exist."),
    "58115": (200, "Sub-account does not exist."),
    "59500": (200, "Only the API key of the main account has permission."),
    "59510": (200, "Sub-account does not exist"),
}


class ApiError(Exception):
    """An OKX error response: raised anywhere in request handling, rendered by the server."""

    def __init__(self, code: str, *params: str, msg: str | None = None, http_status: int | None = None):
        status, template = OFFICIAL.get(code, (200, ""))
        self.code = code
        self.msg = msg if msg is not None else template.format(*params)
        self.http_status = http_status if http_status is not None else status
        super().__init__(f"{code} {self.msg}")

    def body(self) -> bytes:
        return envelope([], code=self.code, msg=self.msg)


def envelope(data: list, *, code: str = "0", msg: str = "") -> bytes:
    """OKX's envelope: code as a string, msg, data always a list."""
    return json.dumps({"code": code, "msg": msg, "data": data}, separators=(",", ":")).encode()
