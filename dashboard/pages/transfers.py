"""The Transfers page: every cash flow of the ledger (ledger.models.CashFlow: transfers between
the master and its sub-accounts, deposits, withdrawals), newest first, filtered by account, kind
and period, paginated, and the same rows as a CSV through the one CSV writer (reports.csvfile).

A period keeps the flows of (start, end], the interval whose counted flows a PnL subtracts
(ledger.performance); an account's PnL starts at its first reading, so the flows before that
reading are listed but not subtracted, and the period's note says so. Bad
filter input is answered with 400 and the reason, on the page (or as the 400 page for the CSV).
A desk-limited user (accounts.desks) sees the flows of their desks' accounts only, and the other
side of a transfer that is not one of them is "another account", never its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_GET

from accounts import desks
from accounts.models import Account
from accounts.roles import viewer_required
from dashboard.pages.common import (
    ANOTHER_ACCOUNT,
    BadQuery,
    bad_request,
    render_page,
    sees,
    shown_name,
    visible,
)
from dashboard.pages.errors import EARLIEST_DAY, LATEST_DAY, OUT_OF_RANGE, QuickSelect
from ledger.models import EXTERNAL_KINDS, CashFlow, FlowKind
from ledger.pnl import PERIODS, Period, period
from reports import csvfile

FLOWS_PER_PAGE = 50
# OKX's states in words (okx-reference 8.7.4: deposit-history, withdrawal-history); transfers
# from the master's sub-account transfer history have no state: they are done when listed.
DEPOSIT_STATES = {
    "0": "waiting for confirmation",
    "1": "credited",
    "2": "successful",
    "8": "pending (deposits suspended)",
    "11": "blocked (blacklisted address)",
    "12": "frozen",
    "13": "intercepted",
    "14": "KYC limit",
    "17": "waiting (Travel Rule)",
}
WITHDRAWAL_STATES = {"2": "successful", "-1": "failed", "-2": "cancelled", "-3": "cancelling"}
WITHDRAWAL_IN_PROGRESS = frozenset({"1", "15", "16"})
CSV_COLUMNS = (
    "time_utc",
    "account",
    "kind",
    "amount",
    "ccy",
    "fee",
    "usd_value",
    "usd_basis",
    "counterparty",
    "state",
    "counted",
    "source",
    "okx_id",
)


class FlowFilter(forms.Form):
    """?account=<id>&kind=<kind>&period=<key>&start=YYYY-MM-DD&end=YYYY-MM-DD; dates imply
    period=custom and are whole days in the display zone (ledger.pnl.period)."""

    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name"), required=False, empty_label="all", widget=QuickSelect
    )
    kind = forms.ChoiceField(choices=[("", "all"), *FlowKind.choices], required=False, widget=QuickSelect)
    period = forms.ChoiceField(
        choices=[("", "All time"), *PERIODS.items()], required=False, widget=QuickSelect
    )
    start = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        """`user`: the account choices are the accounts this user sees (accounts.desks); another
        account's id is refused as an unknown one."""
        super().__init__(*args, **kwargs)
        if user is not None:
            field = self.fields["account"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = desks.visible_accounts(user).order_by("name")

    def clean_start(self) -> date | None:
        return _in_range(self.cleaned_data.get("start"))

    def clean_end(self) -> date | None:
        return _in_range(self.cleaned_data.get("end"))

    def clean(self) -> dict[str, Any]:
        """The period as a ledger.pnl.Period in cleaned_data["span"] (None: all time)."""
        super().clean()
        data = self.cleaned_data
        key, start, end = data.get("period"), data.get("start"), data.get("end")
        if self.errors:
            return data
        if (start or end) and not key:
            key = data["period"] = "custom"
        data["span"] = None
        if key:
            try:
                data["span"] = period(key, timezone.now(), start=start, end=end)
            except ValueError as error:  # ledger.pnl.period names the problem in lower case
                raise forms.ValidationError(f"{capfirst(str(error))}.") from error
        return data

    def apply(self, rows: QuerySet[CashFlow]) -> QuerySet[CashFlow]:
        data = self.cleaned_data
        if data.get("account"):
            rows = rows.filter(account=data["account"])
        if data.get("kind"):
            rows = rows.filter(kind=data["kind"])
        span: Period | None = data.get("span")
        if span is not None:
            rows = rows.filter(occurred_at__gt=span.start, occurred_at__lte=span.end)
        return rows


def _in_range(day: date | None) -> date | None:
    if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
        raise forms.ValidationError(OUT_OF_RANGE)
    return day


@dataclass(frozen=True)
class FlowLine:
    """One flow as the tables show it: the row, OKX's state in words, whether it counts in PnL."""

    flow: CashFlow
    state: str
    state_class: str  # badge class: ok (counted), grace (pending), none (not counted, final)
    # The other side's name when it is not linked: not one of ours (an OKX sub-account name), or
    # one the user does not see ("another account").
    counterparty: str
    linked: bool = False  # the other side is an account the user sees: the tables link to it

    @classmethod
    def of(cls, flow: CashFlow, ids: frozenset[int] | None = None) -> FlowLine:
        """`ids`: the accounts the user sees (common.visible; None: every account)."""
        state, css = state_words(flow)
        linked = sees(ids, flow.counterparty_id)
        return cls(flow, state, css, _counterparty(flow, linked), linked)


def state_words(flow: CashFlow) -> tuple[str, str]:
    """(words, badge class) of a flow's OKX state: "successful" (counted), "waiting for
    confirmation" (not counted yet), "failed" (never counted)."""
    if flow.kind not in EXTERNAL_KINDS:
        return "done", "ok"
    code = flow.state
    if flow.kind == FlowKind.DEPOSIT:
        words = DEPOSIT_STATES.get(code, f"state {code or '—'}")
    elif code in WITHDRAWAL_STATES:
        words = WITHDRAWAL_STATES[code]
    else:
        words = "in progress" if code in WITHDRAWAL_IN_PROGRESS else "pending"
    if flow.counts:
        return words, "ok"
    final = flow.kind == FlowKind.WITHDRAWAL and code in ("-1", "-2")
    return words, "none" if final else "grace"


def _counterparty(flow: CashFlow, linked: bool) -> str:
    if flow.counterparty_id is not None:
        return "" if linked else ANOTHER_ACCOUNT  # linked: the template links to the account
    if flow.counterparty_name:
        suffix = "" if flow.kind in EXTERNAL_KINDS else " (not in the dashboard)"
        return flow.counterparty_name + suffix
    return "outside OKX" if flow.kind in EXTERNAL_KINDS else "—"


def flow_lines(flows: Any, ids: frozenset[int] | None = None) -> list[FlowLine]:
    return [FlowLine.of(flow, ids) for flow in flows]


def _rows(form: FlowFilter, user: Any) -> QuerySet[CashFlow]:
    rows = CashFlow.objects.select_related("account", "counterparty").order_by("-occurred_at", "-pk")
    return form.apply(desks.limit_to_visible(rows, user))


@require_GET
@viewer_required
def transfers(request: HttpRequest) -> HttpResponse:
    form = FlowFilter(request.GET or None, user=request.user)
    status = 200
    if form.is_bound and not form.is_valid():
        rows, status = CashFlow.objects.none(), 400
    else:
        rows = _rows(form if form.is_bound else _unbound(), request.user)
    page = Paginator(rows, FLOWS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "lines": flow_lines(page.object_list, visible(request)),
        "filters": query.urlencode(),
        "span": form.cleaned_data.get("span") if status == 200 and form.is_bound else None,
    }
    return render_page(request, "dashboard/transfers.html", context, status=status)


def _unbound() -> FlowFilter:
    """The filter of no filters (all flows), validated."""
    form = FlowFilter({})
    form.is_valid()
    return form


@require_GET
@viewer_required
def transfers_csv(request: HttpRequest) -> HttpResponse:
    """The page's flows (same filters, every page) as CSV; amounts as plain signed numbers, times in
    UTC, an unknown USD value as an empty cell with its reason in usd_basis."""
    form = FlowFilter(request.GET, user=request.user)
    if not form.is_valid():
        problems = " ".join(str(p) for problems in form.errors.values() for p in problems)
        return bad_request(BadQuery(f"These filters cannot be used: {problems}"), request)
    ids = visible(request)
    rows = (_csv_row(line, ids) for line in flow_lines(_rows(form, request.user).iterator(), ids))
    response = HttpResponse(csvfile.write(CSV_COLUMNS, rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="transfers-{stamp}.csv"'
    return response


def _csv_row(line: FlowLine, ids: frozenset[int] | None) -> tuple[Any, ...]:
    flow = line.flow
    return (
        flow.occurred_at,
        flow.account.name,
        flow.kind,
        flow.amount,
        flow.ccy,
        flow.fee,
        flow.usd_value,
        flow.usd_basis,
        shown_name(flow.counterparty, ids) if flow.counterparty else flow.counterparty_name,
        line.state,
        flow.counts,
        flow.source,
        flow.okx_id,
    )
