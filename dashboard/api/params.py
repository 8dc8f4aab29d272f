"""Validation of path and query parameters: a bad value is a 400 that names it, never a 500.

Ids are checked here rather than by a URL converter, so `accounts/abc/balances` answers 400
"A valid integer is required." instead of an HTML 404, and an id too large for the database's
bigint is refused before it reaches a query.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from accounts import desks
from accounts.models import Account
from dashboard.pages.common import NOT_VISIBLE
from ledger import pnl
from ledger.models import FlowKind
from ledger.pnl import PERIODS, period
from okxapi import CATEGORIES
from snapshots.queries import DEFAULT_RANGE, RANGES

MAX_ID = 2**63 - 1  # PostgreSQL bigint; larger ids would overflow inside the database driver


def id_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID)


def account_from_path(value: str, user: Any) -> Account:
    """The account named by a path id: 400 for a malformed id, 404 for an unknown one and for one
    of a desk `user` does not see (accounts.desks: the same answer, so it does not learn that the
    account exists)."""
    try:
        pk = id_field().run_validation(value)
    except ValidationError as exc:
        raise ValidationError({"id": exc.detail}) from None
    if not desks.can_see(user, pk):
        raise NotFound(NOT_VISIBLE)
    return get_object_or_404(Account.objects.select_related("master"), pk=pk)


def validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """The query string through a serializer; unknown parameters are ignored, as usual. A known
    parameter given empty (`?range=`) is refused: DRF would quietly read it as absent."""
    serializer = serializer_class(data=request.query_params)
    # .items(): djangorestframework-stubs types iterating a BindingDict as yielding fields, not names.
    blank = [name for name, _ in serializer.fields.items() if request.query_params.get(name, None) == ""]
    if blank:
        raise ValidationError({name: ["This parameter may not be empty."] for name in blank})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class EquityParams(serializers.Serializer):
    range = serializers.ChoiceField(choices=list(RANGES), default=DEFAULT_RANGE)


class ErrorParams(serializers.Serializer):
    """Filters of the error history, as on the errors page: a row matches a day range when it was
    seen during it (last seen on or after `since`, first seen on or before `until`); the API's
    days are UTC days."""

    account = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    category = serializers.ChoiceField(choices=list(CATEGORIES), required=False)
    code = serializers.RegexField(
        r"^[0-9A-Za-z_]{1,16}$",
        required=False,
        help_text="OKX error code, e.g. 50113",
        error_messages={"invalid": "An OKX code is up to 16 letters or digits (e.g. 50113)."},
    )
    since = serializers.DateField(required=False, help_text="YYYY-MM-DD (UTC): seen on or after this day")
    until = serializers.DateField(
        required=False,
        help_text="YYYY-MM-DD (UTC): seen on or before this day; not before `since` (else 400)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise ValidationError({"until": ["until must be on or after since."]})
        return attrs

    @staticmethod
    def apply(queryset: QuerySet, params: dict[str, Any]) -> QuerySet:
        if "account" in params:
            queryset = queryset.filter(account_id=params["account"])
        if "category" in params:
            queryset = queryset.filter(category=params["category"])
        if "code" in params:
            queryset = queryset.filter(code=params["code"])
        if "since" in params:
            queryset = queryset.filter(last_seen__gte=day_start(params["since"]))
        if "until" in params:
            # End of day rather than next midnight: 9999-12-31 has no next day.
            queryset = queryset.filter(first_seen__lte=datetime.combine(params["until"], time.max, UTC))
        return queryset


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


DEFAULT_PERIOD = "24h"
LOCAL_DAY = "YYYY-MM-DD, a day in the dashboard's display time zone (DISPLAY_TIME_ZONE)"


class PnlParams(serializers.Serializer):
    """The period of /api/v1/pnl (ledger.pnl.period): a named one ending now, or `custom` from
    the start of `start` to the end of `end`, days in the display time zone, both included. The
    validated data carries the Period as `window`."""

    period = serializers.ChoiceField(
        choices=list(PERIODS),
        default=DEFAULT_PERIOD,
        help_text="today: since midnight (display time zone); 24h, 7d, 30d: the last 24 hours, 7 or 30 "
        "days; mtd, ytd: since the month's or the year's first day; custom: start to end (both needed).",
    )
    start = serializers.DateField(
        required=False, help_text=f"period=custom only: the first day ({LOCAL_DAY})"
    )
    end = serializers.DateField(
        required=False,
        help_text=f"period=custom only: the last day, included ({LOCAL_DAY}); not before start (else 400)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        dates = {"start": attrs.get("start"), "end": attrs.get("end")}
        try:
            attrs["window"] = period(attrs["period"], timezone.now(), **dates)
        except ValueError as exc:  # the reason in words: dates without custom, start after end, ...
            reason = str(exc)
            raise ValidationError({"period": [f"{reason[:1].upper()}{reason[1:]}."]}) from None
        except OverflowError:  # a day so near year 1 or 9999 that UTC cannot hold it
            raise ValidationError({"period": ["The dates are out of range."]}) from None
        return attrs


class FlowParams(serializers.Serializer):
    """Filters of the cash-flow ledger (/api/v1/flows and flows.csv): an account, a kind, and
    days in the display time zone (the Transfers page's days): a flow matches when it occurred
    on or after the start of `start` and before the end of `end`."""

    account = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    kind = serializers.ChoiceField(choices=FlowKind.choices, required=False)
    start = serializers.DateField(required=False, help_text=f"{LOCAL_DAY}: flows on or after this day")
    end = serializers.DateField(
        required=False, help_text=f"{LOCAL_DAY}: flows on or before this day; not before `start` (else 400)"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and start > end:
            raise ValidationError({"end": ["end must be on or after start."]})
        return attrs

    @staticmethod
    def apply(queryset: QuerySet, params: dict[str, Any]) -> QuerySet:
        if "account" in params:
            queryset = queryset.filter(account_id=params["account"])
        if "kind" in params:
            queryset = queryset.filter(kind=params["kind"])
        if "start" in params and (since := local_midnight(params["start"])) is not None:
            queryset = queryset.filter(occurred_at__gte=since)
        # The end of `end` is the next day's midnight; 9999-12-31 has none: no bound.
        following = params["end"] + timedelta(days=1) if params.get("end", date.max) < date.max else None
        if following is not None and (until := local_midnight(following)) is not None:
            queryset = queryset.filter(occurred_at__lt=until)
        return queryset


def local_midnight(day: date) -> datetime | None:
    """The start of `day` in the display time zone, in UTC; None for a day so near year 1 or
    9999 that UTC cannot hold it (nothing is recorded that early or late, so no bound is needed)."""
    try:
        return pnl.local_midnight(day, pnl.display_zone()).astimezone(UTC)
    except OverflowError:
        return None


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset paging, except that a malformed limit or offset is refused (400) rather
    than silently replaced by the default: a script with a typo should hear about it."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request: Request) -> int | None:
        self._check(request, self.limit_query_param, 1, self.max_limit)
        return super().get_limit(request)

    def get_offset(self, request: Request) -> int:
        self._check(request, self.offset_query_param, 0, MAX_ID)
        return super().get_offset(request)

    @staticmethod
    def _check(request: Request, name: str, lowest: int, highest: int) -> None:
        if name not in request.query_params:
            return
        field = serializers.IntegerField(min_value=lowest, max_value=highest)
        try:
            field.run_validation(request.query_params[name])
        except ValidationError as exc:
            raise ValidationError({name: exc.detail}) from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_ID)}
        for parameter in parameters:
            lowest, highest = bounds[parameter["name"]]
            parameter["schema"] = {**parameter["schema"], "minimum": lowest, "maximum": highest}
        return parameters
