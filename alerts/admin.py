"""Admin for alert channels and rules: key admins only (manage_keys), also for viewing.

A risk rule (RiskRule) shows which watched accounts would fire now, with their figures: on its
change page, for the form's unsaved values ("Preview" beside Save: nothing is stored), and as an
action on the list. A rule stored with a threshold that does not suit its kind (none, or out of
range) still opens: its preview says it is incomplete and why, and judges no account. It watches
every active live account or the chosen ones, and tells every enabled channel or the chosen
ones: choosing turns "every" off, and a rule whose choices were all deleted says so in the list
and the preview.

A channel's webhook URL and bot token are write-only: the form never renders them back (the
page shows "set, ends …x4f"), a blank field keeps the stored value, and the POST fields are kept
out of Django's error reports. "Send a test alert" (an action, and a button on the change page)
reports the HTTP status or the error as an admin message.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator, validate_email
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.models import Account
from accounts.roles import KeyAdminsOnly
from alerts.models import (
    NO_ACCOUNTS_LEFT,
    NO_CHANNELS_LEFT,
    AlertChannel,
    AlertSettings,
    AlertState,
    ChannelKind,
    RiskRule,
)
from alerts.risk import Judgement, judge, threshold_text, watched

SECRET_FIELDS = ("url", "token")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_url(value: str, what: str) -> None:
    """https only, except to this machine (a local relay, or a test receiver); no user name or
    password in it. Errors never quote the value."""
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError(f"Enter a valid http(s) URL for the {what}.") from None
    parts = urlsplit(value)
    if "@" in parts.netloc:
        # The client would send them as Basic credentials, which receivers echo in their replies.
        raise ValidationError(
            f"Remove the user name and password (user:password@) from the {what}: use the URL "
            "with the token the service gave you in its path or query."
        )
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValidationError(f"The {what} must use https (http only to this machine).")


class AlertChannelForm(forms.ModelForm):
    url = forms.CharField(
        label="Webhook URL",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Webhook and Slack channels. Write-only: leave blank to keep the stored URL.",
    )
    token = forms.CharField(
        label="Bot token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Telegram channels. Write-only: leave blank to keep the stored token.",
    )

    class Meta:
        model = AlertChannel
        fields = ("name", "kind", "enabled", "recipients", "url", "token", "chat_id", "api_base_url")
        widgets = {"api_base_url": forms.URLInput()}
        field_classes = {"api_base_url": forms.CharField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["url"].help_text += f" Now: {self.instance.url_display}."
        self.fields["token"].help_text += f" Now: {self.instance.token_display}."

    def clean_recipients(self) -> str:
        recipients = self.cleaned_data["recipients"]
        for address in AlertChannel(recipients=recipients).recipient_list():
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"Not an e-mail address: {address}") from None
        return recipients

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if url:
            _check_url(url, "webhook URL")
        return url

    def clean_api_base_url(self) -> str:
        base = self.cleaned_data["api_base_url"]
        if base:
            if "@" in urlsplit(base).netloc:
                # This field is not write-only: keep the refused password off the re-rendered form.
                data = cast(QueryDict, self.data).copy()
                data[self.add_prefix("api_base_url")] = ""
                self.data = data
            _check_url(base, "Telegram API base URL")
        return base

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind, instance = data.get("kind"), self.instance
        if (
            kind == ChannelKind.EMAIL
            and not AlertChannel(recipients=data.get("recipients", "")).recipient_list()
        ):
            self.add_error("recipients", "An e-mail channel needs at least one address.")
        needs_url = kind in (ChannelKind.WEBHOOK, ChannelKind.SLACK) and "url" not in self.errors
        if needs_url and not (data.get("url") or instance.url_enc):
            self.add_error("url", "This channel needs a webhook URL.")
        if kind == ChannelKind.TELEGRAM:
            if not (data.get("token") or instance.token_enc):
                self.add_error("token", "A Telegram channel needs the bot token.")
            # Back to Telegram's own API (blank) is no risk; any other new server is.
            base = data.get("api_base_url") or ""
            moved = bool(base) and base != (instance.api_base_url or "")
            if instance.pk and instance.token_enc and moved and not data.get("token"):
                # Whoever moves the token to another server must know it: a stored secret is never
                # sent to a host chosen by someone who could not read it (issue 17, finding 1).
                self.add_error(
                    "token",
                    "Type the bot token again to send it to another Telegram API server; "
                    "the stored token is never sent to a new host.",
                )
            if not data.get("chat_id"):
                self.add_error("chat_id", "A Telegram channel needs the chat id.")
        return data

    def save(self, commit: bool = True) -> AlertChannel:
        channel = super().save(commit=False)
        if self.cleaned_data.get("url"):
            channel.set_url(self.cleaned_data["url"])
        if self.cleaned_data.get("token"):
            channel.set_token(self.cleaned_data["token"])
        if commit:
            channel.save()
        return channel


@admin.register(AlertChannel)
class AlertChannelAdmin(KeyAdminsOnly, admin.ModelAdmin):
    form = AlertChannelForm
    list_display = ("name", "kind", "enabled", "secret_status", "last_sent_at", "last_error")
    list_filter = ("kind", "enabled")
    readonly_fields = ("last_sent_at", "last_error")
    actions = ["send_test"]
    change_form_template = "alerts/admin/channel_change_form.html"

    @admin.display(description="secret")
    def secret_status(self, channel: AlertChannel) -> str:
        if channel.kind == ChannelKind.TELEGRAM:
            return f"token {channel.token_display}"
        return "—" if channel.kind == ChannelKind.EMAIL else f"URL {channel.url_display}"

    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS))
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(request, *args, **kwargs)

    def get_urls(self) -> list:
        test = self.admin_site.admin_view(require_POST(self.test_view))
        return [path("<path:object_id>/test/", test, name="alerts_alertchannel_test"), *super().get_urls()]

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        channel = self.get_object(request, unquote(object_id))
        if channel is None:
            raise Http404("No such channel.")
        self._report_test(request, channel)
        return HttpResponseRedirect(reverse("admin:alerts_alertchannel_change", args=[channel.pk]))

    @admin.action(description="Send a test alert", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[AlertChannel]) -> None:
        for channel in queryset:
            self._report_test(request, channel)

    def _report_test(self, request: HttpRequest, channel: AlertChannel) -> None:
        # The senders live with the alert logic in the dashboard app (a call upward, at use only).
        from alerts.channels import send_test_alert

        result = send_test_alert(channel)
        if result.ok:
            self.message_user(
                request, f"Test alert to {channel.name}: sent ({result.describe()}).", messages.SUCCESS
            )
        else:
            self.message_user(
                request, f"Test alert to {channel.name}: failed, {result.describe()}.", messages.ERROR
            )


@admin.register(AlertSettings)
class AlertSettingsAdmin(KeyAdminsOnly, admin.ModelAdmin):
    """One row of switches and thresholds; the list page goes straight to it."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        row = AlertSettings.load()
        return HttpResponseRedirect(reverse("admin:alerts_alertsettings_change", args=[row.pk]))


class RiskRuleForm(forms.ModelForm):
    """Choosing accounts (channels) turns "every active live account" ("every enabled channel")
    off; neither chosen nor every one is refused."""

    class Meta:
        model = RiskRule
        fields = (
            "name",
            "kind",
            "threshold",
            "all_accounts",
            "accounts",
            "severity",
            "all_channels",
            "channels",
            "remind_every_hours",
            "enabled",
        )
        labels = {"remind_every_hours": "Remind every (hours)"}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for every, chosen, what in (
            ("all_accounts", "accounts", "the accounts to watch, or tick “every active live account”"),
            ("all_channels", "channels", "the channels to tell, or tick “every enabled channel”"),
        ):
            if data.get(chosen):
                data[every] = False
            elif every in data and not data[every]:
                self.add_error(chosen, f"Choose {what}.")
        return data


@dataclass(frozen=True)
class Preview:
    """One rule's judgements now, for the preview table (templates/alerts/admin/)."""

    rule: RiskRule
    rows: list[Judgement]
    saved: bool = True

    @property
    def firing(self) -> int:
        return sum(1 for row in self.rows if row.verdict == "fires")

    @property
    def threshold(self) -> str:
        """The rule's threshold as its alerts write it ("150%"), "" without one."""
        return threshold_text(self.rule)

    @property
    def incomplete(self) -> str:
        """Why the rule is judged for no account ("set a threshold: ..."), "" when it is complete
        (RiskRule.threshold_problem(): the alert run skips it for the same reason)."""
        problem = self.rule.threshold_problem()
        if problem and self.rule.threshold is None:
            return f"set a threshold. {problem}"
        return problem

    @property
    def left_empty(self) -> list[str]:
        """RiskRule.left_empty() of a saved rule (the form refuses an unsaved one's)."""
        return self.rule.left_empty() if self.saved else []

    @property
    def no_accounts_left(self) -> bool:
        return NO_ACCOUNTS_LEFT in self.left_empty


def preview(rule: RiskRule, accounts: list[Account] | None = None, *, saved: bool = True) -> Preview:
    """`accounts`: the chosen ones of an unsaved form (None: the saved rule's)."""
    return Preview(rule, judge(rule, watched(rule, accounts), timezone.now()), saved)


PREVIEW_DATA = "risk_preview_data"  # set on a copy of the request: the form to preview


@admin.register(RiskRule)
class RiskRuleAdmin(KeyAdminsOnly, admin.ModelAdmin):
    form = RiskRuleForm
    list_display = (
        "name",
        "kind",
        "threshold_display",
        "scope",
        "severity",
        "channel_list",
        "reminders",
        "enabled",
        "firing",
    )
    list_filter = ("kind", "severity", "enabled")
    filter_horizontal = ("accounts", "channels")
    readonly_fields = ("created_at", "updated_at")
    actions = ["preview_action"]
    change_form_template = "alerts/admin/riskrule_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RiskRule]:
        firing = Count("alerts", filter=Q(alerts__state=AlertState.FIRING), distinct=True)
        rows = super().get_queryset(request).annotate(firing_alerts=firing)
        return rows.prefetch_related("accounts", "channels")

    @admin.display(description="threshold")
    def threshold_display(self, rule: RiskRule) -> str:
        return threshold_text(rule) or "—"

    @admin.display(description="accounts")
    def scope(self, rule: RiskRule) -> str:
        if rule.all_accounts:
            return "every active live account"
        return ", ".join(a.name for a in rule.accounts.all()) or NO_ACCOUNTS_LEFT

    @admin.display(description="channels")
    def channel_list(self, rule: RiskRule) -> str:
        if rule.all_channels:
            return "every enabled channel"
        return ", ".join(c.name for c in rule.channels.all()) or NO_CHANNELS_LEFT

    @admin.display(description="reminders")
    def reminders(self, rule: RiskRule) -> str:
        return f"every {rule.remind_every_hours} h" if rule.remind_every_hours else "none"

    @admin.display(description="firing now")
    def firing(self, rule: RiskRule) -> int:
        return getattr(rule, "firing_alerts", 0)

    @admin.action(description="Preview: which accounts would fire now", permissions=["view"])
    def preview_action(self, request: HttpRequest, queryset: QuerySet[RiskRule]) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Risk rules: which accounts would fire now",
            "previews": [preview(rule) for rule in queryset],
        }
        return TemplateResponse(request, "alerts/admin/riskrule_preview.html", context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """While previewing, the form is bound to the posted values (see _preview_form)."""
        form = super().get_form(request, obj, change, **kwargs)
        data = getattr(request, PREVIEW_DATA, None)
        if data is None:
            return form

        class PostedForm(form):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, instance: Any = None, **ignored: Any) -> None:
                super().__init__(data, instance=instance)

        return PostedForm

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and "_preview" in request.POST:
            return self._preview_form(request, object_id, form_url, extra_context)
        if object_id is not None and request.method == "GET":
            rule = self.get_object(request, unquote(object_id))
            if rule is not None and self.has_view_permission(request, rule):
                extra_context = {**(extra_context or {}), "preview": preview(rule)}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _preview_form(
        self, request: HttpRequest, object_id: str | None, form_url: str, extra_context: dict | None
    ) -> HttpResponse:
        """The change form again with the posted values and, when they are valid, what they
        would fire now; nothing is saved (the page is rendered as for a GET, its form bound)."""
        obj = self.get_object(request, unquote(object_id)) if object_id is not None else None
        if object_id is not None and obj is None:
            raise Http404("No such risk rule.")
        allowed = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if not allowed:
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        context = dict(extra_context or {})
        if form.is_valid():
            rule = form.save(commit=False)  # in memory only
            context["preview"] = preview(rule, list(form.cleaned_data["accounts"]), saved=False)
        as_get = copy(request)
        as_get.method = "GET"
        setattr(as_get, PREVIEW_DATA, request.POST)
        return super().changeform_view(as_get, object_id, form_url, context)
