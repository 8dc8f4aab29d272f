"""The schedule form the admin uses: validates and normalises, refuses with a clear message."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from reports import schedule as timing
from reports.build import USD, usd_rate
from reports.models import Cadence, ReportSchedule, split_addresses
from snapshots.models import BalanceLine

MAX_RECIPIENTS = 50
# "Balance on 31 December" means at the end of that day.
DEFAULT_BALANCE_TIME = time(23, 59, 59)


def priced_currencies() -> list[str]:
    """Currencies the stored balances give a USD price for (valid presentation currencies)."""
    rows = BalanceLine.objects.filter(equity__gt=0, usd_value__gt=0).values_list("ccy", flat=True)
    return sorted(set(rows.distinct()[:200]))


class ReportScheduleForm(forms.ModelForm):
    class Meta:
        model = ReportSchedule
        fields = (
            "name",
            "enabled",
            "cadence",
            "time_of_day",
            "weekday",
            "day_of_month",
            "time_zone",
            "recipients",
            "desk",
            "all_accounts",
            "accounts",
            "currency",
        )
        widgets = {"recipients": forms.Textarea(attrs={"rows": 3})}

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"].strip()
        if not timing.is_valid_zone(name):
            raise ValidationError(
                f"“{name}” is not an IANA time zone; use a name such as Europe/Berlin or UTC."
            )
        return name

    def clean_recipients(self) -> str:
        addresses = split_addresses(self.cleaned_data["recipients"])
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError(f"Not e-mail addresses: {', '.join(bad)}.")
        if not addresses:
            raise ValidationError("Give at least one e-mail address.")
        if len(addresses) > MAX_RECIPIENTS:
            raise ValidationError(f"At most {MAX_RECIPIENTS} recipients; use a mailing list for more.")
        return "\n".join(addresses)

    def clean_currency(self) -> str:
        code = self.cleaned_data["currency"].strip().upper()
        if code != USD and usd_rate(code, timezone.now()) is None:
            known = ", ".join(priced_currencies()) or "none yet"
            raise ValidationError(
                f"No stored balance gives a USD price for {code}. Use USD or a currency the accounts "
                f"hold with a USD value (now: {known})."
            )
        return code

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean returns; typed as a dict, not "dict | None"
        cadence = data.get("cadence")
        if cadence == Cadence.WEEKLY and data.get("weekday") is None:
            self.add_error("weekday", "A weekly report needs a weekday.")
        if cadence == Cadence.MONTHLY and data.get("day_of_month") is None:
            self.add_error("day_of_month", "A monthly report needs a day of the month (1-31).")
        if cadence != Cadence.WEEKLY:
            data["weekday"] = None
        if cadence != Cadence.MONTHLY:
            data["day_of_month"] = None
        if not data.get("all_accounts") and not data.get("accounts"):
            self.add_error("accounts", "Choose accounts, or tick “all accounts”.")
        desk = data.get("desk")
        if desk is not None and not data.get("all_accounts") and data.get("accounts"):
            # A desk's report covers its accounts only: a chosen account outside it would be
            # left out without a word.
            outside = sorted(data["accounts"].exclude(desks=desk).values_list("name", flat=True))
            if outside:
                self.add_error("accounts", f"Not accounts of the desk {desk.name}: {', '.join(outside)}.")
        return data


class BalancesAtForm(forms.Form):
    """A date and time read in a chosen zone (default: the team's display zone)."""

    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(
        initial=DEFAULT_BALANCE_TIME, widget=forms.TimeInput(attrs={"type": "time", "step": 1})
    )
    zone = forms.CharField(max_length=64, help_text="IANA time zone, e.g. Europe/Berlin.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["zone"].initial = settings.DISPLAY_TIME_ZONE
        # Today in the team's zone: one click shows today's balances.
        self.fields["date"].initial = timezone.localdate(timezone=ZoneInfo(settings.DISPLAY_TIME_ZONE))

    def clean_zone(self) -> str:
        name = self.cleaned_data["zone"].strip()
        if not timing.is_valid_zone(name):
            raise ValidationError(
                f"“{name}” is not an IANA time zone; use a name such as Europe/Berlin or UTC."
            )
        return name

    def clean(self) -> dict[str, Any]:
        """Resolve the moment once; a date and time that is no instant the calendar can hold in UTC
        (0001-01-01 00:00 in Tokyo is still year 0 in UTC) is refused, not a server error."""
        data = super().clean() or {}
        if not self.errors and {"date", "time", "zone"} <= data.keys():
            try:
                data["moment"] = timing.local_instant(data["date"], data["time"], ZoneInfo(data["zone"]))
            except (OverflowError, ValueError):
                raise ValidationError(
                    f"{data['date'].isoformat()} {data['time'].isoformat('seconds')} in {data['zone']} is "
                    "outside the dates the dashboard can hold (years 1 to 9999 in UTC); choose a date "
                    "from 0001-01-02 to 9999-12-30."
                ) from None
        return data

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.cleaned_data["zone"])

    def moment(self) -> datetime:
        """Aware UTC; a local time skipped or repeated by a clock change resolves as schedules do."""
        moment: datetime = self.cleaned_data["moment"]
        return moment
