"""Typed readers for environment variables.

Each helper raises ImproperlyConfigured naming the variable when its value is malformed, so a
typo in production stops start-up with a clear message instead of running with a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@overload
def env_str(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str: ...
@overload
def env_str(name: str, default: None = None, *, environ: Mapping[str, str] | None = None) -> str | None: ...
def env_str(name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value without surrounding spaces; `default` when it is unset."""
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value is None:
        return default
    return value.strip()


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, environ=environ)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    raw = env_str(name, environ=environ)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {value}")
    return value


def env_list(
    name: str, default: list[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A comma-separated list; empty items are dropped."""
    raw = env_str(name, environ=environ)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def require(name: str, value: object, why: str) -> None:
    """Stop start-up when a production setting has no value."""
    if not value:
        raise ImproperlyConfigured(f"{name} is required {why}. See .env.example.")
