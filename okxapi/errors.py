"""The OkxError family and the diagnosis catalog: every failure gets a category, a one-line
meaning and the steps a person can follow.

Meanings follow the official OKX error table (okx-reference.md 3.1-3.3). Popular blog tables are
wrong about several auth codes: 50111 is "Invalid OK-ACCESS-KEY." (not "key doesn't exist", that
is 50119), 50112 is "Invalid OK-ACCESS-TIMESTAMP." (not "key expired"), 50114 is "Invalid
authorization." (not "passphrase incorrect", that is 50105), and 50115 is "Invalid request
method." (not "IP not whitelisted", that is 50110). We follow the docs.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from okxapi.catalog import CATALOG, CATEGORIES, IDLE_DELETION_DAYS, Entry

__all__ = [
    "CATEGORIES",
    "IDLE_DELETION_DAYS",
    "RETRIED_CATEGORIES",
    "TRANSIENT_CATEGORIES",
    "Diagnosis",
    "LimiterUnavailable",
    "MalformedResponse",
    "OkxAccountRestricted",
    "OkxAuthError",
    "OkxBadRequest",
    "OkxError",
    "OkxRateLimited",
    "OkxUnavailable",
    "RateLimitTimeout",
    "ResponseNotJson",
    "ResponseTooLarge",
    "diagnose",
    "error_for",
]

# Categories whose errors go away by themselves: the key's health moves to grace (not failing)
# and a job that met one is retried with backoff.
TRANSIENT_CATEGORIES = frozenset({"rate_limit", "exchange_busy", "timeout", "network", "malformed"})
# The ones the client also retries inside one call (reads only): what failed on the wire. A
# malformed answer is OKX's answer of that moment; asking again within the second spends the
# endpoint's budget (asset valuation: 1 per second) for the same answer, so the job's retry and
# the next cycle read it again instead.
RETRIED_CATEGORIES = TRANSIENT_CATEGORIES - {"malformed"}

_IP_PATTERN = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})\b")


@dataclass(frozen=True)
class Diagnosis:
    category: str
    meaning: str
    steps: tuple[str, ...]
    permanent: bool


class ResponseNotJson(ValueError):
    """OKX (or something in front of it) answered with a body that is not a JSON envelope."""

    def __init__(self, kind: str) -> None:
        # kind: "empty", "html", "truncated" or "other"; never the body itself (it may be large).
        super().__init__(f"response body is not JSON ({kind})")
        self.kind = kind


class ResponseTooLarge(ValueError):
    """The answer's body is larger than the client reads (transport.MAX_RESPONSE_BYTES); reading
    stopped at the cap, so a runaway or hostile host costs at most that much memory."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        # limit: bytes read at most; declared: the Content-Length the host announced, if any.
        said = f"; the host announced {declared:,} bytes" if declared is not None else ""
        super().__init__(f"response body is larger than {limit:,} bytes{said}; reading stopped there")
        self.limit = limit
        self.declared = declared


# Kept beside the exception it diagnoses. "malformed": transient, and not asked again within the
# call (reading the same oversized answer twice only doubles the cost); the next cycle reads again.
_TOO_LARGE = Entry(
    "malformed",
    "The answer was far larger than any OKX API answer (OKX's largest are well under 1 MB); the "
    "client stopped reading it and stored nothing from it.",
    (
        "Check that the base URL is an OKX host (www.okx.com, eea.okx.com, app.okx.com) or the "
        "simulator: another server (or a proxy or captive portal in between) answered instead.",
        "If the base URL is right and it repeats, report it with the endpoint and the time.",
    ),
    permanent=False,
)


class OkxError(Exception):
    """A failed call: HTTP status, OKX code and message unchanged, plus the diagnosis."""

    def __init__(
        self,
        endpoint: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        message: str = "",
        diagnosis: Diagnosis | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.http_status = http_status
        self.code = code
        self.message = message
        self.diagnosis = diagnosis or diagnose(code, http_status=http_status, message=message)
        self.retry_after = retry_after
        super().__init__(self._render())

    @property
    def category(self) -> str:
        return self.diagnosis.category

    @property
    def permanent(self) -> bool:
        return self.diagnosis.permanent

    def _render(self) -> str:
        status = self.http_status if self.http_status is not None else "-"
        code = self.code if self.code is not None else "-"
        return (
            f"{self.endpoint}: HTTP {status}, code {code}: {self.message} "
            f"[{self.diagnosis.category}] {self.diagnosis.meaning}"
        )

    def __reduce__(self) -> tuple[Callable[..., OkxError], tuple[Any, ...]]:
        # Exceptions cross process boundaries (Celery results, multiprocessing); rebuild by kwargs.
        return _rebuild, (type(self), self.endpoint, self.http_status, self.code, self.message,
                          self.diagnosis, self.retry_after)  # fmt: skip


def _rebuild(
    cls: type[OkxError],
    endpoint: str,
    http_status: int | None,
    code: str | None,
    message: str,
    diagnosis: Diagnosis,
    retry_after: float | None,
) -> OkxError:
    return cls(
        endpoint,
        http_status=http_status,
        code=code,
        message=message,
        diagnosis=diagnosis,
        retry_after=retry_after,
    )


class OkxAuthError(OkxError):
    """The credential set, its binding (IP, environment, region) or the signature was refused."""


class OkxAccountRestricted(OkxError):
    """The account itself is blocked, frozen or suspended."""


class OkxRateLimited(OkxError):
    """OKX refused for rate, or our own limiter found no budget in time."""


class RateLimitTimeout(OkxRateLimited):
    """Our limiter found no budget before the caller's deadline; nothing was sent to OKX."""

    @classmethod
    def after(cls, endpoint: str, waited: float) -> RateLimitTimeout:
        return cls(
            endpoint,
            message=f"no rate-limit budget after waiting {waited:.2f}s",
            diagnosis=_from_entry(CATALOG["limiter:timeout"], ""),
        )


class OkxUnavailable(OkxError):
    """OKX is busy or down, the call timed out, or the network failed."""


class LimiterUnavailable(OkxUnavailable):
    """The shared limiter's store (Redis) failed; nothing was sent to OKX."""

    @classmethod
    def after(cls, endpoint: str, exception: BaseException) -> LimiterUnavailable:
        return cls(
            endpoint,
            message=f"rate limiter unavailable: {type(exception).__name__}",
            diagnosis=_from_entry(CATALOG["limiter:unavailable"], ""),
        )


class OkxBadRequest(OkxError):
    """OKX refused the request itself (parameters, method, a sub-account that does not exist)."""


class MalformedResponse(OkxError):
    """A 2xx answer with code "0" whose data is not what OKX documents (okxapi/validation.py).
    `field` is the path in the answer ("data[0].totalEq"), `value` the offending value (repr'd,
    escaped, at most 80 characters); the message carries both, so the error history shows them."""

    field: str = ""
    value: str = ""

    @classmethod
    def of(
        cls, endpoint: str, http_status: int | None, field: str, value: str, problem: str
    ) -> MalformedResponse:
        error = cls(
            endpoint,
            http_status=http_status,
            message=f"{field} = {value}: {problem}",
            diagnosis=_from_entry(CATALOG["malformed"], ""),
        )
        error.field, error.value = field, value
        return error


_CLASS_BY_CATEGORY: dict[str, type[OkxError]] = {
    **dict.fromkeys(
        ("key", "signature", "passphrase", "clock", "ip_whitelist", "environment", "permission"),
        OkxAuthError,
    ),
    "account_restricted": OkxAccountRestricted,
    "rate_limit": OkxRateLimited,
    **dict.fromkeys(("exchange_busy", "timeout", "network"), OkxUnavailable),
    "bad_request": OkxBadRequest,
    "malformed": MalformedResponse,
    "unknown": OkxError,
}


def error_for(diagnosis: Diagnosis) -> type[OkxError]:
    """The exception class that carries a diagnosis of this category."""
    return _CLASS_BY_CATEGORY[diagnosis.category]


def diagnose(
    code: str | int | None = None,
    *,
    http_status: int | None = None,
    message: str = "",
    exception: BaseException | None = None,
) -> Diagnosis:
    """The catalog entry for an OKX code, else for the exception, else for the HTTP status."""
    code = None if code is None or str(code) in ("", "0") else str(code)
    if code is not None and code in CATALOG:
        return _from_entry(CATALOG[code], message)
    if exception is not None:
        return _for_exception(exception, http_status)
    if code is not None:
        return _unknown_code(code, http_status, message)
    return _for_status(http_status)


def _from_entry(entry: Entry, message: str) -> Diagnosis:
    if "{ip}" not in entry.meaning and not any("{ip}" in step for step in entry.steps):
        return Diagnosis(entry.category, entry.meaning, entry.steps, entry.permanent)
    found = _IP_PATTERN.search(message)
    ip = found.group(0) if found else "(the address in OKX's message)"
    return Diagnosis(
        entry.category,
        entry.meaning.replace("{ip}", ip),
        tuple(step.replace("{ip}", ip) for step in entry.steps),
        entry.permanent,
    )


def _unknown_code(code: str, http_status: int | None, message: str) -> Diagnosis:
    if http_status is not None and (http_status == 429 or http_status >= 500):
        return _for_status(http_status)
    return Diagnosis(
        "unknown",
        f"OKX returned code {code}, which this catalog does not know.",
        (
            f"Look up code {code} in OKX's official error table (docs-v5, 'Error Code').",
            "If it names a parameter or account state, fix that and retry; otherwise report it "
            "with the endpoint and OKX's message.",
        ),
        permanent=False,
    )


def _for_status(http_status: int | None) -> Diagnosis:
    if http_status == 429:
        return _from_entry(CATALOG["http:429"], "")
    if http_status is not None and http_status >= 500:
        return _from_entry(CATALOG["http:5xx"], "")
    if http_status in (404, 405) or (http_status is not None and 300 <= http_status < 400):
        return _from_entry(CATALOG["http:404"], "")
    if http_status is not None and 400 <= http_status < 500:
        return _from_entry(CATALOG["http:4xx"], "")
    return _from_entry(CATALOG["unknown"], "")


def _for_exception(exception: BaseException, http_status: int | None) -> Diagnosis:
    if isinstance(exception, ResponseNotJson):
        return _for_body(exception.kind, http_status)
    if isinstance(exception, ResponseTooLarge):
        return _from_entry(_TOO_LARGE, "")
    if isinstance(exception, requests.exceptions.SSLError):
        verify = _caused_by(exception, ssl.SSLCertVerificationError)
        return _from_entry(CATALOG["tls:verify" if verify else "tls"], "")
    if isinstance(exception, requests.exceptions.Timeout):
        connect = isinstance(exception, requests.exceptions.ConnectTimeout)
        return _from_entry(CATALOG["timeout:connect" if connect else "timeout:read"], "")
    if isinstance(exception, requests.exceptions.RequestException):
        return _from_entry(CATALOG["network"], "")
    return _from_entry(CATALOG["unknown"], "")


def _for_body(kind: str, http_status: int | None) -> Diagnosis:
    if http_status == 429 or (http_status is not None and http_status >= 500):
        return _for_status(http_status)
    if kind == "truncated":
        return _from_entry(CATALOG["body:truncated"], "")
    if http_status is not None and 400 <= http_status < 500:
        return _from_entry(CATALOG["body:html4xx"], "")
    return _from_entry(CATALOG["body:other"], "")


def _caused_by(exception: BaseException, kind: type[BaseException]) -> bool:
    """Whether kind appears in the exception's arguments or its cause chain (urllib3 nests)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exception]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return False
