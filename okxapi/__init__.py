"""A signed, rate-limited OKX v5 REST client for reading accounts. Imports nothing from Django.

One Connection per process (limiter, HTTP sessions, server clocks, timeouts), shared by every
Client; a Client adds the credentials, the environment and the base URL. Results are typed
(okxapi.results), failures are diagnosed OkxErrors (okxapi.errors), and ENDPOINT_LIMITS is OKX's
published rate-limit table (okxapi.ratelimit).
"""

from okxapi.catalog import CATEGORIES, IDLE_DELETION_DAYS
from okxapi.client import HOSTS, CallRecord, Client
from okxapi.connection import Connection
from okxapi.errors import (
    TRANSIENT_CATEGORIES,
    Diagnosis,
    MalformedResponse,
    OkxAccountRestricted,
    OkxAuthError,
    OkxBadRequest,
    OkxError,
    OkxRateLimited,
    OkxUnavailable,
    RateLimitTimeout,
    ResponseNotJson,
    diagnose,
)
from okxapi.ratelimit import ENDPOINT_LIMITS, Limit, Limiter, LocalLimiter, RedisLimiter, Rule, limit_for
from okxapi.results import (
    AccountBill,
    AccountConfig,
    AssetValuation,
    Balance,
    ClosedPositionRecord,
    CurrencyBalance,
    Deposit,
    FundingBalance,
    IndexCandle,
    IndexTicker,
    Position,
    SubAccount,
    SubAccountApiKey,
    SubAccountTransfer,
    Ticker,
    Withdrawal,
)
from okxapi.transport import InvalidCredential

__all__ = [
    "CATEGORIES",
    "ENDPOINT_LIMITS",
    "HOSTS",
    "IDLE_DELETION_DAYS",
    "TRANSIENT_CATEGORIES",
    "AccountBill",
    "AccountConfig",
    "AssetValuation",
    "Balance",
    "CallRecord",
    "Client",
    "ClosedPositionRecord",
    "Connection",
    "CurrencyBalance",
    "Deposit",
    "Diagnosis",
    "FundingBalance",
    "IndexCandle",
    "IndexTicker",
    "InvalidCredential",
    "Limit",
    "Limiter",
    "LocalLimiter",
    "MalformedResponse",
    "OkxAccountRestricted",
    "OkxAuthError",
    "OkxBadRequest",
    "OkxError",
    "OkxRateLimited",
    "OkxUnavailable",
    "Position",
    "RateLimitTimeout",
    "RedisLimiter",
    "ResponseNotJson",
    "Rule",
    "SubAccount",
    "SubAccountApiKey",
    "SubAccountTransfer",
    "Ticker",
    "Withdrawal",
    "diagnose",
    "limit_for",
]
