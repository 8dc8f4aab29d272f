"""The key admins' margin and liquidation rules (RiskRule, issue 20), judged from stored rows,
never the exchange: each account's latest snapshot through snapshots.risk.account_risk, and the
positions history the refresh stores (snapshots.models.ClosedPosition).

- margin_ratio: the account's margin ratio (OKX's `mgnRatio` from GET /api/v5/account/balance,
  or for a keyless sub-account GET /api/v5/account/subaccount/balances; a ratio, shown in
  percent) below the threshold.
- liq_distance: its open position nearest to liquidation (snapshots.risk.liq_distance_pct: how
  far the mark price `markPx` may move against it before the estimated liquidation price
  `liqPx`, GET /api/v5/account/positions, in percent of the mark) below the threshold.
- forced_close: a liquidation or auto-deleveraging (positions-history `type` 3, 4, 5 or 6, GET
  /api/v5/account/positions-history) the dashboard learned of (ClosedPosition.forced_at) within
  the last FORCED_WINDOW, however late after OKX closed it, but never one OKX closed before the
  rule was created or the account was added (a first read of three months of history is no
  news): one condition per position, so each fires once and ends quietly.

An account whose figure is unknown (never read, stale, positions not readable through the
master key, a position's mark or liquidation price missing, OKX sent no ratio) is held: its
alert neither opens nor recovers. One that uses no cross margin is clear for margin_ratio
(AccountRisk.cross_margin_unused: OKX reports mmr 0, or in Futures mode no currency's cross ratio,
and so no ratio; an isolated position left open is the liq_distance rule's to watch); so is one
with nothing that can be liquidated (the level "none", AccountRisk.nothing_at_risk), which the
preview calls "nothing at risk". Figures are written as on the pages (snapshots.risk.
margin_ratio_text, distance_text: rounded down, so a figure below its threshold never reads equal
to it; thresholds as stored by threshold_pct_text; prices by snapshots.numbers.format_price in the
instrument's quote currency). A near-liquidation alert ends quietly, not "recovered", when its own
position (instrument and side) was force-closed after it opened. A rule whose stored threshold
does not suit its kind (RiskRule.threshold_problem) is judged for no account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from django.db.models import QuerySet

from accounts.models import Account, Environment
from alerts.models import RiskKind, RiskRule
from alerts.rules import Condition, Findings, _local
from snapshots.models import ClosedPosition, PositionLine
from snapshots.numbers import format_amount, format_money, format_price, price_ccy
from snapshots.pacing import read_intervals
from snapshots.queries import is_stale
from snapshots.risk import (
    NEVER_READ,
    NO_CROSS_MARGIN_IN_USE,
    NO_POSITIONS,
    OKX_SENT_NONE,
    AccountRisk,
    account_risk,
    distance_text,
    margin_ratio_text,
    threshold_pct_text,
)

FORCED_WINDOW = timedelta(hours=24)
FORCE_CLOSED = "its position was force-closed"  # a liq_distance alert's quiet end
# Why no cross margin is in use (AccountRisk.cross_margin_unused), after NO_CROSS_MARGIN_IN_USE.
MMR_ZERO = "OKX reports a maintenance margin requirement of 0"
NO_CROSS_RATIO = "Futures mode: OKX reports no currency's cross margin ratio"
# A position whose latest close type is the trader's own after OKX forced part of it.
FORCED_IN_PART = "liquidated or auto-deleveraged in part, then closed"

Verdict = Literal["fires", "clear", "unknown"]


@dataclass(frozen=True)
class Judgement:
    """One account (forced_close: one closed position) under one rule: `figure` says what was
    read ("margin ratio 118.43 %") or, when the verdict is "unknown", why not."""

    account: Account
    subject: str
    verdict: Verdict
    figure: str
    condition: Condition | None = None
    nothing_at_risk: bool = False  # clear because nothing can be liquidated (the level "none")


def watched(rule: RiskRule, chosen: Iterable[Account] | None = None) -> list[Account]:
    """The accounts a rule watches: every active live (not demo-trading) account when
    `rule.all_accounts`, those excluded from team totals included (their risk is real: the flag
    only keeps them out of the team's sums), else the chosen ones (`chosen`, an unsaved form's, or
    the saved rule's) that are active; none when none is left."""
    if rule.all_accounts:
        return list(Account.objects.filter(active=True).exclude(environment=Environment.DEMO))
    picked = list(rule.accounts.all()) if chosen is None else list(chosen)
    return [account for account in picked if account.active]


def judge(rule: RiskRule, accounts: list[Account], now: datetime) -> list[Judgement]:
    """Every watched account's (or forced close's) judgement at `now`, by account name; none for
    a rule whose threshold does not suit its kind (RiskRule.threshold_problem() says why)."""
    if rule.threshold_problem():
        return []
    if rule.kind == RiskKind.FORCED_CLOSE:
        return _forced_closes(rule, accounts, now)
    risks = account_risk([account.pk for account in accounts])
    read = read_intervals()
    return [_judge_figure(rule, a, risks[a.pk], now, read.get(a.pk, 0)) for a in accounts]


def find_risk(now: datetime, findings: Findings) -> None:
    """Add every enabled RiskRule's conditions to `findings`, with the subjects it holds, those
    judged clear and, near liquidation, the positions force-closed in each watched account. A
    rule whose stored threshold does not suit its kind is skipped with the reason, its alerts
    held; one whose chosen accounts or channels are all gone says so (Findings.skipped), as it
    watches or tells nobody."""
    rules = RiskRule.objects.filter(enabled=True).prefetch_related("accounts", "channels")
    for rule in rules:
        findings.risk_rules.add(rule.pk)
        problem = rule.threshold_problem()
        if problem:
            _skip(findings, rule, f"is skipped: {problem.rstrip('.')}; fix it under Admin")
            findings.held_prefixes.add(f"risk:{rule.pk}:")
            continue
        for empty in rule.left_empty():
            _skip(findings, rule, f"has {empty} under Admin")
        accounts = watched(rule)
        for judgement in judge(rule, accounts, now):
            key = (rule.kind, judgement.subject)
            if judgement.condition is not None:
                findings.add(judgement.condition)
            elif judgement.verdict == "unknown":
                findings.held.add(key)
            elif rule.kind != RiskKind.FORCED_CLOSE:
                findings.clear[key] = judgement.figure
        if rule.kind == RiskKind.LIQ_DISTANCE:
            for account_id, closes in _force_closed_positions(accounts, now).items():
                findings.force_closed[(rule.kind, _subject(rule, account_id))] = closes


def _skip(findings: Findings, rule: RiskRule, why: str) -> None:
    reason = f'the risk rule "{rule.name}" {why}'
    findings.skipped[rule.kind] = "; ".join(filter(None, [findings.skipped.get(rule.kind), reason]))


def _subject(rule: RiskRule, account_id: int) -> str:
    return f"risk:{rule.pk}:account:{account_id}"


def threshold_text(rule: RiskRule) -> str:
    """A rule's threshold in percent as stored (snapshots.risk.threshold_pct_text): "150%",
    "150.05%"; "" for a kind without one (forced_close) or none set."""
    if rule.threshold is None or rule.kind == RiskKind.FORCED_CLOSE:
        return ""
    return threshold_pct_text(rule.threshold)


def _price(value: Decimal | None, inst_id: str) -> str:
    """A price in the instrument's currency as the pages write it (BTC-USDT-SWAP: "70,588.24 USDT")."""
    return "unknown" if value is None else format_price(value, price_ccy(inst_id))


def _amount(value: Decimal | None, ccy: str) -> str:
    return "unknown" if value is None else f"{format_amount(value, ccy or None)} {ccy}".rstrip()


def _position(inst_id: str, side: str) -> str:
    """A position as near-liquidation alerts name it: "BTC-USDT-SWAP long" (PositionLine's side,
    ClosedPosition's direction: OKX's long or short, also in net mode)."""
    return f"{inst_id} {side}".strip()


def _condition(
    rule: RiskRule, account: Account, subject: str, title: str, text: str, position: str = ""
) -> Condition:
    stage = "forced" if rule.kind == RiskKind.FORCED_CLOSE else "below"
    return Condition(
        rule.kind,
        subject,
        stage,
        title,
        f"{text}\nRule: {rule.name} ({rule.get_severity_display()}).",
        account.pk,
        risk_rule_id=rule.pk,
        severity=rule.severity,
        remind_every=rule.remind_every,
        position=position,
    )


def _judge_figure(
    rule: RiskRule, account: Account, risk: AccountRisk, now: datetime, read_s: float
) -> Judgement:
    subject = _subject(rule, account.pk)
    if risk.taken_at is None:
        return Judgement(account, subject, "unknown", NEVER_READ)
    if is_stale(risk.taken_at, now, read_s):
        return Judgement(account, subject, "unknown", f"stale: last read at {_local(risk.taken_at)}")
    assert rule.threshold is not None  # judge() judges no rule with a threshold_problem()
    if rule.kind == RiskKind.MARGIN_RATIO:
        return _judge_margin(rule, account, risk, subject)
    return _judge_distance(rule, account, risk, subject)


def _judge_margin(rule: RiskRule, account: Account, risk: AccountRisk, subject: str) -> Judgement:
    pct, threshold, nothing = risk.margin_ratio_pct, rule.threshold, risk.nothing_at_risk
    if pct is None and risk.cross_margin_unused:  # also when nothing is at risk (it implies this)
        why = MMR_ZERO if risk.margin_unused else NO_CROSS_RATIO
        return Judgement(
            account, subject, "clear", f"{NO_CROSS_MARGIN_IN_USE} ({why})", nothing_at_risk=nothing
        )
    if pct is None:
        return Judgement(account, subject, "unknown", f"no margin ratio ({risk.note or OKX_SENT_NONE})")
    figure = f"margin ratio {margin_ratio_text(pct)}"
    if threshold is None or pct >= threshold:
        return Judgement(account, subject, "clear", figure)
    assert risk.taken_at is not None
    text = (
        f"{account.name}'s margin ratio is {margin_ratio_text(pct)} (OKX's mgnRatio, read at "
        f"{_local(risk.taken_at)}), below the threshold of {threshold_pct_text(threshold)}.\n"
        f"Adjusted equity {format_money(risk.adj_equity_usd)}, initial margin "
        f"{format_money(risk.imr_usd)}, maintenance margin {format_money(risk.mmr_usd)}.\n"
        "OKX liquidates as the margin ratio nears 100 %. What to do: add margin or reduce positions."
    )
    title = f"Margin ratio {margin_ratio_text(pct)} below {threshold_pct_text(threshold)}: {account.name}"
    return Judgement(account, subject, "fires", figure, _condition(rule, account, subject, title, text))


def _judge_distance(rule: RiskRule, account: Account, risk: AccountRisk, subject: str) -> Judgement:
    pct, threshold, inst = risk.nearest_distance_pct, rule.threshold, risk.nearest_inst_id
    if pct is None:
        # Known: no position, or none that can be liquidated by itself (snapshots.risk).
        known = risk.nearest_note == NO_POSITIONS or risk.liquidation_not_applicable
        verdict: Verdict = "clear" if known else "unknown"
        return Judgement(account, subject, verdict, risk.nearest_note, nothing_at_risk=risk.nothing_at_risk)
    figure = f"{inst} {distance_text(pct)} from liquidation"
    if threshold is None or pct >= threshold:
        return Judgement(account, subject, "clear", figure)
    assert risk.taken_at is not None  # _judge_figure holds the never read
    line = _nearest_line(account, risk.taken_at, inst)
    mark = _price(line.mark_price if line else None, inst)
    liq = _price(line.liq_price if line else None, inst)
    side = line.side if line else ""
    held = f"{side} {inst}".strip()  # "long BTC-USDT-SWAP"
    text = (
        f"{account.name}'s {held} position is {distance_text(pct)} from its estimated liquidation price "
        f"(read at {_local(risk.taken_at)}), below the threshold of {threshold_pct_text(threshold)}.\n"
        f"Mark price {mark}; liquidation price {liq}.\n"
        "What to do: add margin, reduce the position or lower its leverage."
    )
    title = f"Near liquidation: {account.name} {inst} {distance_text(pct)} from its liquidation price"
    return Judgement(
        account,
        subject,
        "fires",
        f"{figure} (mark {mark}, liquidation {liq})",
        _condition(rule, account, subject, title, text, _position(inst, side)),
    )


def _nearest_line(account: Account, taken_at: datetime, inst_id: str) -> PositionLine | None:
    """The position account_risk found nearest, in the snapshot taken at `taken_at` (the closest
    of that instrument's lines: a hedge-mode account may hold it both long and short)."""
    lines = PositionLine.objects.filter(
        snapshot__account=account, snapshot__taken_at=taken_at, inst_id=inst_id
    )
    known = [line for line in lines if line.liq_distance_pct is not None]
    return min(known, key=lambda line: line.liq_distance_pct or 0, default=None)


def _recent_forced(accounts: list[Account], now: datetime) -> QuerySet[ClosedPosition]:
    """The accounts' positions the dashboard first stored as force-closed (`forced_at`, kept when
    a later close changes OKX's type) within FORCED_WINDOW before `now`."""
    return ClosedPosition.objects.filter(account__in=accounts, forced_at__gte=now - FORCED_WINDOW)


def _force_closed_positions(accounts: list[Account], now: datetime) -> dict[int, dict[str, datetime]]:
    """account id -> {position "BTC-USDT-SWAP long": when OKX last closed it (uTime)}."""
    closes: dict[int, dict[str, datetime]] = {}
    rows = _recent_forced(accounts, now).order_by("closed_at")
    for account_id, inst_id, direction, closed_at in rows.values_list(
        "account_id", "inst_id", "direction", "closed_at"
    ):
        closes.setdefault(account_id, {})[_position(inst_id, direction)] = closed_at
    return closes


def _forced_closes(rule: RiskRule, accounts: list[Account], now: datetime) -> list[Judgement]:
    rows = _recent_forced(accounts, now).select_related("account").order_by("closed_at", "pk")
    return [_judge_forced(rule, row) for row in rows]


def _judge_forced(rule: RiskRule, row: ClosedPosition) -> Judgement:
    """Fires for a position OKX closed (uTime) once both the rule and the account existed: a
    first read of an account's history, or a rule made today, brings no old liquidation."""
    account, subject = row.account, f"risk:{rule.pk}:closed:{row.pk}"
    what = row.get_close_type_display() if row.forced else FORCED_IN_PART
    figure = f"{row.inst_id} {what} at {_local(row.closed_at)}"
    created: datetime | None = rule.created_at  # None: an unsaved rule (a preview) fires for none
    if created is None or row.closed_at < created:
        return Judgement(account, subject, "clear", f"{figure}, before the rule existed: not alerted")
    if row.closed_at < account.created_at:
        return Judgement(account, subject, "clear", f"{figure}, before the account was added: not alerted")
    direction = f"{row.direction} " if row.direction else ""
    text = (
        f"{account.name}'s {direction}{row.inst_id} position was {what} at {_local(row.closed_at)} "
        f"(OKX positions history, close type {row.close_type}).\n"
        f"Closed size {_amount(row.closed_size, 'contracts' if row.inst_type != 'MARGIN' else '')}; "
        "close average price "
        f"{_price(row.close_avg_price, row.inst_id)}; triggered at mark price "
        f"{_price(row.trigger_price, row.inst_id)}.\n"
        f"Realised PnL {_amount(row.realized_pnl, row.ccy)} (fees {_amount(row.fee, row.ccy)}, funding "
        f"{_amount(row.funding_fee, row.ccy)}, liquidation penalty {_amount(row.liq_penalty, row.ccy)})."
    )
    title = f"{what.capitalize()}: {account.name} {row.inst_id}"
    return Judgement(account, subject, "fires", figure, _condition(rule, account, subject, title, text))
