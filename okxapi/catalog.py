# ruff: noqa: E501  (a table: one entry per line reads better than wrapped strings)
"""The diagnosis catalog: OKX codes (official table, okx-reference.md 3.1-3.3) and our own
transport situations, each with a category, a one-line meaning, ordered steps and permanence.

`permanent` means the key will not work until a person acts; such errors are never retried.
Blog tables get 50111/50112/50114/50115 wrong (see errors.py); these meanings are the docs'.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = (
    "key",
    "signature",
    "passphrase",
    "clock",
    "ip_whitelist",
    "environment",
    "permission",
    "rate_limit",
    "exchange_busy",
    "timeout",
    "network",
    "account_restricted",
    "bad_request",
    "malformed",
    "unknown",
)

IDLE_DELETION_DAYS = 14


@dataclass(frozen=True)
class Entry:
    category: str
    meaning: str
    steps: tuple[str, ...]
    permanent: bool


def _e(category: str, meaning: str, *steps: str, permanent: bool = True) -> Entry:
    return Entry(category, meaning, steps, permanent)


_REGION = (
    "Check the region of the account: EEA users must call eea.okx.com (web: my.okx.com) and US "
    "users app.okx.com; a key of one region does not exist on another region's host."
)
_IDLE = (
    f"Check whether the key was deleted: OKX deletes a key with trade or withdraw permission and "
    f"no bound IP after {IDLE_DELETION_DAYS} days without a signed call; create a new key (bind "
    "an IP, or make it read-only) and rotate it in."
)
_SUPPORT = "If the account is fine in the OKX app, contact OKX customer support with the code."
_CHECK_KEY = "Open OKX > API management and check the key still exists and matches the one stored."
_WAIT_RETRY = "Nothing to do for a single occurrence: the client retries reads with backoff."

# fmt: off
_KEY = {
    "50100": _e("key", "The API key is frozen by OKX.", _CHECK_KEY, "Contact OKX customer support to unfreeze it, or create a new key and rotate it in."),
    "50103": _e("key", "The request carried no OK-ACCESS-KEY header.", "Enter the API key for this account (it is empty).", "If it is set, report a client bug: the header was not sent."),
    "50108": _e("environment", "OKX does not know the exchange (broker) ID of this request.", "Check the base URL: use www.okx.com, eea.okx.com or app.okx.com, not a broker's host.", _SUPPORT),
    "50109": _e("environment", "OKX does not know the exchange domain of this request.", "Check the base URL: use www.okx.com, eea.okx.com or app.okx.com for the account's region.", _REGION),
    "50111": _e("key", "Invalid OK-ACCESS-KEY: the key string is malformed or not an OKX API key.", "Copy the API key again from OKX > API management (the public key, not the secret or a UID).", "Check for truncation or stray characters, then store it again."),
    "50114": _e("key", "Invalid authorization: OKX refused the credentials of this request.", "Check that API key, secret key and passphrase belong to the same key (re-enter all three).", _CHECK_KEY, _SUPPORT),
    "50119": _e("key", "API key doesn't exist on this host.", _REGION, _IDLE, "Check that the key was not deleted or replaced in OKX > API management, then re-enter it."),
    "50008": _e("key", "The user of this key doesn't exist.", _CHECK_KEY, "Check that the account was not closed; create a key on the live account.", _SUPPORT),
    "59506": _e("key", "The queried sub-account API key doesn't exist.", "Check the sub-account's keys in OKX > Sub-accounts > API; the key may have been deleted.", _IDLE),
}

_SIGNATURE = {
    "50106": _e("signature", "The request carried no OK-ACCESS-SIGN header.", "Report a client bug: the signature header was not sent."),
    "50113": _e("signature", "Invalid signature: the HMAC did not match what OKX computed.", "Re-enter the secret key exactly as shown when the key was created (it cannot be shown again; if lost, create a new key).", "Check that the secret belongs to this API key, not another one.", "If the secret is right, report a client bug: the signed path or body differs from what was sent."),
}

_PASSPHRASE = {
    "50104": _e("passphrase", "The request carried no OK-ACCESS-PASSPHRASE header.", "Enter the API key's passphrase (it is empty)."),
    "50105": _e("passphrase", "The passphrase is incorrect for this API key.", "Enter the passphrase that was set when this API key was created; it is not the OKX login password.", "If nobody knows it, create a new key (new passphrase) and rotate it in."),
}

_CLOCK = {
    "50102": _e("clock", "Timestamp request expired: the signed time was too far from OKX's clock.", "Nothing to do once: the client re-synchronises its offset to OKX's server time and retries automatically.", "If it repeats, the machine's clock drifts or jumps: enable NTP (chrony/systemd-timesyncd) and check the offset shown on the keys page.", permanent=False),
    "50107": _e("clock", "The request carried no OK-ACCESS-TIMESTAMP header.", "Report a client bug: the timestamp header was not sent.", permanent=False),
    "50112": _e("clock", "Invalid OK-ACCESS-TIMESTAMP: the timestamp is malformed.", "Nothing to do once: the client re-synchronises with OKX's server time and retries.", "If it repeats, report a client bug: the timestamp must look like 2020-12-08T09:08:57.715Z.", permanent=False),
}

_IP = {
    "50110": _e("ip_whitelist", "Your IP {ip} is not in this API key's IP whitelist.", "Add {ip} to the key's IP whitelist in OKX > API management > Edit.", "Or run the dashboard's workers from an address already on the whitelist (check NAT/egress IP).", "Changing the whitelist needs the key's owner to confirm in the OKX app."),
    "50035": _e("ip_whitelist", "This endpoint requires an API key bound to an IP address.", "Bind the key to the dashboard's egress IP in OKX > API management > Edit.", "Or use a key that is already IP-bound."),
    "50121": _e("ip_whitelist", "OKX refuses service to the calling IP address ({ip}).", "Call from a server in a region OKX serves for this account.", _REGION, _SUPPORT),
}

_ENVIRONMENT = {
    "50101": _e("environment", "APIKey does not match current environment: demo key on live, or live key on demo.", "Demo-trading keys are created separately (Trade > Demo Trading > Personal Center > Demo Trading API) and need the x-simulated-trading: 1 header: tick 'demo' for them.", "Live keys must be used without that header: untick 'demo' for a live key.", "Check the base URL region too: " + _REGION),
    "50038": _e("environment", "This feature is unavailable in demo trading.", "Use a live key for this account, or skip this call in demo mode."),
}

_PERMISSION = {
    "50120": _e("permission", "This API key doesn't have permission to use this function.", "Edit the key in OKX > API management and grant the permission this call needs (Read is enough for the dashboard).", "Or create a key with Read permission and rotate it in."),
    "50030": _e("permission", "You don't have permission to use this API endpoint.", "Check that the account type may use this endpoint (some are master-only or need a VIP/broker level).", "Grant Read permission to the key in OKX > API management."),
    "59500": _e("permission", "Only the API key of the main (master) account has permission.", "Use the master account's key for sub-account endpoints, not a sub-account's key.", "Check the account is marked as master in the dashboard and its key has uid == mainUid."),
    "59604": _e("permission", "Only the API key of the main account can access this API.", "Use the master account's key for this call, not a sub-account's key.", "Check the account is marked as master in the dashboard."),
    "50118": _e("ip_whitelist", "The broker app linked to this key must have its IP whitelisted.", "Ask the broker for its IP addresses and add them to the key's whitelist.", _SUPPORT),
    "50041": _e("permission", "Your user ID hasn't been allowlisted for this function.", _SUPPORT),
}

_RATE = {
    "50011": _e("rate_limit", "Rate limit reached for this endpoint and user ID.", _WAIT_RETRY, "If it repeats, something else uses the same UID (another tool or key of this account): lower its rate or poll less often.", permanent=False),
    "50061": _e("rate_limit", "The account's order rate limit is reached.", _WAIT_RETRY, "Another tool is placing orders at a high rate on this account.", permanent=False),
    "50040": _e("rate_limit", "Too frequent operations.", _WAIT_RETRY, "Poll less often if it repeats.", permanent=False),
    "http:429": _e("rate_limit", "HTTP 429 Too Many Requests without an OKX code.", _WAIT_RETRY, "If it repeats, OKX may be overloaded or this IP is throttled: poll less often.", permanent=False),
    "limiter:unavailable": _e("network", "The shared rate limiter (Redis) could not be reached; nothing was sent to OKX.", "Nothing to do for a short outage: the next refresh tries again.", "If it lasts, check that the Redis server in REDIS_URL runs and this machine reaches it.", permanent=False),
    "limiter:timeout": _e("rate_limit", "Our shared limiter had no budget for this endpoint before the deadline; nothing was sent.", "Nothing to do for a single occurrence: the next refresh tries again.", "If it repeats, the team polls this endpoint faster than OKX allows: poll fewer accounts per cycle or less often.", permanent=False),
}

_BUSY = {
    "50001": _e("exchange_busy", "Service temporarily unavailable (maintenance or overload).", _WAIT_RETRY, "Check OKX's status page and announcements for maintenance.", permanent=False),
    "50013": _e("exchange_busy", "Systems are busy.", _WAIT_RETRY, "Check OKX's status page if it lasts.", permanent=False),
    "50026": _e("exchange_busy", "System error at OKX.", _WAIT_RETRY, "Check OKX's status page if it lasts.", permanent=False),
    "50005": _e("exchange_busy", "API endpoint is inactive or unavailable.", _WAIT_RETRY, "If it lasts beyond an hour, OKX may have retired the endpoint: report it.", permanent=False),
    "50062": _e("exchange_busy", "This feature is currently unavailable.", _WAIT_RETRY, "Check OKX's announcements if it lasts.", permanent=False),
    "58007": _e("exchange_busy", "The assets interface is currently unavailable.", _WAIT_RETRY, "Check OKX's status page if it lasts.", permanent=False),
    "http:5xx": _e("exchange_busy", "OKX answered with an HTTP 5xx error (server-side failure).", _WAIT_RETRY, "Check OKX's status page if it lasts.", permanent=False),
}

_TRANSPORT = {
    "50004": _e("timeout", "API endpoint request timeout at OKX (the outcome is unknown).", _WAIT_RETRY, "Reads are safe to repeat; check OKX's status page if it lasts.", permanent=False),
    "timeout:connect": _e("timeout", "No connection to OKX within the connect timeout.", _WAIT_RETRY, "If it lasts, check this machine's network, DNS and firewall towards the OKX host.", permanent=False),
    "timeout:read": _e("timeout", "OKX did not answer within the read timeout.", _WAIT_RETRY, "If it lasts, OKX is slow or the network drops packets: check OKX's status page.", permanent=False),
    "network": _e("network", "The connection to OKX failed (refused, reset or DNS failure).", _WAIT_RETRY, "If it lasts, check this machine's network, DNS, proxy and firewall, and the base URL.", permanent=False),
    "tls": _e("network", "The TLS handshake with the OKX host failed.", _WAIT_RETRY, "If it lasts, check the base URL scheme and port (https to the OKX host) and any proxy in between.", permanent=False),
    "tls:verify": _e("network", "The OKX host's TLS certificate could not be verified.", "Check the base URL is a real OKX host (www.okx.com, eea.okx.com, app.okx.com).", "Check for a proxy intercepting TLS, and that the system CA certificates (ca-certificates/certifi) are current."),
    "body:truncated": _e("network", "OKX's answer was cut off mid-body (truncated JSON).", _WAIT_RETRY, "If it lasts, a proxy or unstable network is cutting responses.", permanent=False),
    "body:html4xx": _e("environment", "The host answered with a non-JSON error page, not the OKX API.", "Check the base URL: it must be an OKX API host (www.okx.com, eea.okx.com, app.okx.com) or the simulator.", "A CDN/WAF block page means this IP or region is refused: " + _REGION),
    "body:other": _e("unknown", "The answer was not a JSON envelope (empty or HTML page).", _WAIT_RETRY, "If it lasts, check the base URL and any proxy in between.", permanent=False),
    "http:404": _e("environment", "The host does not serve this OKX API route (HTTP 404/405, or a redirect elsewhere).", "Check the base URL: it must be the host only (e.g. https://www.okx.com), without a path.", _REGION),
    "http:4xx": _e("unknown", "OKX refused the request with an HTTP 4xx status and no code.", "Check the base URL and the account's region.", _SUPPORT, permanent=False),
    "unknown": _e("unknown", "An unexpected failure without an OKX code.", "Retry later; if it lasts, report it with the endpoint and time.", permanent=False),
}

# A 2xx answer with code "0" whose data is not what OKX documents (okxapi/validation.py): the
# message names the field and the value. Transient: a glitch clears by the next read; the client
# does not re-ask within the call (see errors.RETRIED_CATEGORIES), the job retries and the next
# cycle reads again.
_MALFORMED = {
    "malformed": _e("malformed", "OKX answered with success, but the data is not what OKX documents for this endpoint (a missing, non-numeric or out-of-range field, or a wrong shape); nothing from this answer was stored.", "Nothing to do for a single occurrence: the next refresh reads the account again, and the account shows as stale until then.", "If it repeats, open the account on OKX's website and compare: the message names the field and the value that was refused.", "Check that the base URL is an OKX host (www.okx.com, eea.okx.com, app.okx.com) or the simulator, with no proxy rewriting answers.", "If OKX's website shows the same value, report it with the endpoint, the field and the value shown here.", permanent=False),
}

_RESTRICTED = {
    "50007": _e("account_restricted", "The user is blocked by OKX.", "Log in to OKX and check for notices on the account.", _SUPPORT),
    "50009": _e("account_restricted", "The account is frozen due to stop-out (liquidation).", "Check the account in the OKX app and restore margin.", _SUPPORT),
    "50012": _e("account_restricted", "Account status invalid.", "Check the account status in the OKX app (verification, restrictions).", _SUPPORT),
    "50027": _e("account_restricted", "This account is restricted from trading.", _SUPPORT),
    "50029": _e("account_restricted", "The account triggered OKX risk control and is temporarily restricted.", _SUPPORT),
    "50051": _e("account_restricted", "Compliance restrictions of the country or region block this feature.", "Check the account's region and use the right host: " + _REGION),
    "58004": _e("account_restricted", "Account blocked (funding).", "Log in to OKX and check for notices on the account.", _SUPPORT),
    "59508": _e("account_restricted", "The sub-account is suspended.", "Unfreeze the sub-account from the master in OKX > Sub-accounts, or mark it inactive in the dashboard.", _SUPPORT),
    "51024": _e("account_restricted", "Trading account is blocked.", _SUPPORT),
    **{str(code): _e("account_restricted", "The account is frozen by an ADL, liquidation or funding-fee process.", "Wait for OKX to finish the process (minutes), then check the account in the OKX app.", _SUPPORT, permanent=False) for code in range(50017, 50024)},
}

_BAD_REQUEST = {
    "1": _e("bad_request", "Operation failed.", "Check the request's parameters against OKX's docs.", permanent=False),
    "50000": _e("bad_request", "Body for POST request cannot be empty.", "Report a client bug: the request body was empty."),
    "50002": _e("bad_request", "JSON syntax error in the request body.", "Report a client bug: the body was not valid JSON."),
    "50006": _e("bad_request", "Invalid Content-Type.", "Report a client bug: use application/json."),
    "50010": _e("bad_request", "User ID cannot be empty.", "Report a client bug: a required user ID was not sent."),
    "50014": _e("bad_request", "A required parameter is empty.", "Check the parameter named in OKX's message (e.g. the sub-account name)."),
    "50015": _e("bad_request", "One of two parameters is required.", "Check the parameters named in OKX's message."),
    "50016": _e("bad_request", "Two parameters do not match.", "Check the parameters named in OKX's message."),
    "50024": _e("bad_request", "Two parameters cannot be sent together.", "Check the parameters named in OKX's message."),
    "50025": _e("bad_request", "A parameter has too many values.", "Send fewer values (e.g. at most 20 currencies)."),
    "50115": _e("bad_request", "Invalid request method.", "Report a client bug: the HTTP method is not allowed for this route."),
    "50116": _e("bad_request", "Fast API is allowed to create only one API key.", "Not expected for reads: report it."),
    "50122": _e("bad_request", "Order amount must exceed the minimum amount.", "Not expected for reads: report it."),
    "51001": _e("bad_request", "The instrument or index does not exist at OKX.", "Check the instrument or index name (e.g. BTC-USD).", "A coin without a USD index at OKX cannot be priced from its index candles: its flows stay unpriced, with this reason."),
    "51000": _e("bad_request", "A parameter is in error.", "Check the parameter named in OKX's message (e.g. a currency or sub-account name)."),
    "58115": _e("bad_request", "Sub-account does not exist.", "Check the sub-account's name in the dashboard against OKX > Sub-accounts; it may have been renamed or deleted."),
    "59510": _e("bad_request", "Sub-account does not exist.", "Check the sub-account's name in the dashboard against OKX > Sub-accounts; it may have been renamed or deleted."),
}
# fmt: on

CATALOG: dict[str, Entry] = {
    **_KEY,
    **_SIGNATURE,
    **_PASSPHRASE,
    **_CLOCK,
    **_IP,
    **_ENVIRONMENT,
    **_PERMISSION,
    **_RATE,
    **_BUSY,
    **_TRANSPORT,
    **_RESTRICTED,
    **_BAD_REQUEST,
    **_MALFORMED,
}
