"""A signed, rate-limited OKX v5 REST client for reading accounts. Imports nothing from Django."""

from okxapi.catalog import CATEGORIES, IDLE_DELETION_DAYS
from okxapi.client import HOSTS, CallRecord, Client
from okxapi.errors import (
    TRANSIENT_CATEGORIES,
    Diagnosis,
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
from okxapi.models import (
    AccountConfig,
    AssetValuation,
    Balance,
    CurrencyBalance,
    FundingBalance,
    Position,
    SubAccount,
    SubAccountApiKey,
)
from okxapi.ratelimit import Limiter, LocalLimiter, RedisLimiter
from okxapi.transport import InvalidCredential

__all__ = [
    "CATEGORIES",
    "HOSTS",
    "IDLE_DELETION_DAYS",
    "TRANSIENT_CATEGORIES",
    "AccountConfig",
    "AssetValuation",
    "Balance",
    "CallRecord",
    "Client",
    "CurrencyBalance",
    "Diagnosis",
    "FundingBalance",
    "InvalidCredential",
    "Limiter",
    "LocalLimiter",
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
    "SubAccount",
    "SubAccountApiKey",
    "diagnose",
]
