"""What is wrong right now: each rule reads rows (never the exchange) and yields the Conditions
that hold at `now`. alerts/engine.py compares them with the open alerts.

A rule can also "hold" a subject: a state it cannot judge this round (an account whose key is
failing is stale for that reason, and the key alert already says so), so its alert is neither
opened nor resolved. The key admins' risk rules (alerts/risk.py) also say which subjects they
judged clear (their alerts recover) and which ended without recovering.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Max

from accounts.health import HealthStatus, idle_since
from accounts.history import ApiError
from accounts.models import Account, Credential, CredentialStatus, Environment
from alerts.models import AlertRule, AlertSettings
from ledger.performance import account_pnl
from ledger.pnl import PnL, period
from snapshots.models import Snapshot
from snapshots.pacing import read_intervals
from snapshots.queries import is_stale, stale_after

IDLE_STAGES = ((1, "1d"), (3, "3d"))  # days before OKX's deletion date: remind at 3, again at 1
EXPIRY_STAGES = ((1, "1d"), (7, "7d"))
LOSS_PERIOD = "24h"  # ledger.pnl.period key: the 24 hours before now


@dataclass(frozen=True)
class Condition:
    rule: str
    subject: str
    stage: str
    title: str
    text: str
    account_id: int | None = None
    credential_id: int | None = None
    # A RiskRule's condition: its rule, severity, reminder period (None: no reminders) and, near
    # liquidation, the position it is about ("BTC-USDT-SWAP long").
    risk_rule_id: int | None = None
    severity: str = ""
    remind_every: timedelta | None = None
    position: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.subject


@dataclass
class Findings:
    conditions: dict[tuple[str, str], Condition] = field(default_factory=dict)
    held: set[tuple[str, str]] = field(default_factory=set)
    held_rules: set[str] = field(default_factory=set)
    held_prefixes: set[str] = field(default_factory=set)  # subjects "risk:<rule id>:" of a skipped rule
    skipped: dict[str, str] = field(default_factory=dict)  # rule -> why (a threshold out of range)
    # Risk rules only: the subjects judged clear with what was read (a firing alert recovers and
    # says so), the rules that were judged, and the positions force-closed in a near-liquidation
    # subject's account: key -> {position "BTC-USDT-SWAP long": when OKX closed it}.
    clear: dict[tuple[str, str], str] = field(default_factory=dict)
    risk_rules: set[int] = field(default_factory=set)
    force_closed: dict[tuple[str, str], dict[str, datetime]] = field(default_factory=dict)

    def add(self, condition: Condition) -> None:
        self.conditions[condition.key] = condition

    def is_held(self, key: tuple[str, str]) -> bool:
        held_subject = bool(self.held_prefixes) and key[1].startswith(tuple(self.held_prefixes))
        return key in self.held or key[0] in self.held_rules or held_subject


def find(now: datetime, rules: AlertSettings) -> Findings:
    """Every condition of the enabled rules at `now`. A rule whose threshold is out of range is
    skipped with its reason (Findings.skipped) and its open alerts held, so one bad value stops
    one rule, not the run."""
    findings = Findings(skipped=rules.out_of_range())
    findings.held_rules.update(findings.skipped)
    credentials = list(_watched_credentials())
    if rules.key_failing:
        for credential in credentials:
            if credential.health_status == HealthStatus.FAILING:
                findings.add(key_failing(credential))
    if rules.idle_deletion:
        findings.conditions.update((c.key, c) for c in idle_deletion(credentials, now))
    if rules.expires_soon:
        findings.conditions.update((c.key, c) for c in expires_soon(credentials, now))
    usable = rules.refresh_stopped and AlertRule.REFRESH_STOPPED not in findings.skipped
    stopped = refresh_stopped(now, rules.refresh_stopped_minutes) if usable else None
    if stopped is not None:
        findings.add(stopped)
        findings.held_rules.add(AlertRule.ACCOUNT_STALE)  # one alert for everything, not one per account
    elif rules.account_stale:
        account_stale(now, credentials, findings)
    if rules.equity_drop and AlertRule.EQUITY_DROP not in findings.skipped:
        loss(now, rules.equity_drop_percent, findings)
    return findings


def _watched_credentials() -> Iterable[Credential]:
    return Credential.objects.filter(status=CredentialStatus.ACTIVE, account__active=True).select_related(
        "account"
    )


def _local(moment: datetime) -> str:
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _short(credential: Credential) -> str:
    return f"{credential.account.name} {credential.display_fingerprint}"


def _key_name(credential: Credential) -> str:
    return f"the API key {credential.display_fingerprint} of {credential.account.name}"


def key_failing(credential: Credential) -> Condition:
    """The message carries the diagnosis of the latest failure (category, meaning, steps), or
    the key check's own finding when no call failed (e.g. a key of another account)."""
    error = ApiError.objects.filter(credential=credential).order_by("-last_seen").first()
    since = f" since {_local(credential.failing_since)}" if credential.failing_since else ""
    lines = [f"{_key_name(credential).capitalize()} is failing{since}."]
    if error is not None:
        code = f" (OKX code {error.code})" if error.code else ""
        lines.append(f"Diagnosis: {error.category}{code}: {error.meaning}")
        lines.append(f"Last failure: {_local(error.last_seen)} (the calls are on the Errors page).")
        steps = error.steps
    else:
        lines.append(f"Diagnosis: {credential.health_reason or 'the key check failed'}")
        steps = ["Open the Keys page and test the key; rotate it if it stays failing."]
    lines.append("What to do:")
    lines += [f"{n}. {step}" for n, step in enumerate(steps, start=1)]
    return Condition(
        AlertRule.KEY_FAILING,
        f"credential:{credential.pk}",
        "failing",  # not the category: a failing key whose errors vary is still one state
        f"Key failing: {_short(credential)}",
        "\n".join(lines),
        credential.account_id,
        credential.pk,
    )


def _stage(days_left: int, stages: tuple[tuple[int, str], ...]) -> str:
    for limit, name in stages:
        if days_left <= limit:
            return name
    return ""


def _days(when: date, now: datetime) -> str:
    days = (when - now.date()).days
    return "today" if days == 0 else f"in {days} day(s)" if days > 0 else f"{-days} day(s) ago"


def idle_deletion(credentials: list[Credential], now: datetime) -> Iterable[Condition]:
    """OKX deletes a trade/withdraw key without IP binding 14 days after its last signed call
    (Credential.idle_deletion_date: the date of the keys page's idle_deletion warning)."""
    for credential in credentials:
        deletion = credential.idle_deletion_date()
        since = idle_since(credential.key_facts())  # known whenever the deletion date is
        if deletion is None or since is None:
            continue
        stage = _stage((deletion - now.date()).days, IDLE_STAGES)
        if stage:
            yield Condition(
                AlertRule.IDLE_DELETION,
                f"credential:{credential.pk}",
                stage,
                f"Idle deletion on {deletion.isoformat()}: {_short(credential)}",
                f"OKX deletes {_key_name(credential)} on {deletion.isoformat()} ({_days(deletion, now)}): "
                f"it has trade or withdraw permission, no IP binding, and no successful signed call since "
                f"{_local(since)}.\nWhat to do: bind the key to the server's IP address on OKX, or "
                "replace it with a read-only key (Rotate key in the admin).",
                credential.account_id,
                credential.pk,
            )


def expires_soon(credentials: list[Credential], now: datetime) -> Iterable[Condition]:
    for credential in credentials:
        if credential.expires_on is None:
            continue
        stage = _stage((credential.expires_on - now.date()).days, EXPIRY_STAGES)
        if stage:
            expiry = credential.expires_on.isoformat()
            yield Condition(
                AlertRule.EXPIRES_SOON,
                f"credential:{credential.pk}",
                stage,
                f"Key expires {expiry}: {_short(credential)}",
                f"{_key_name(credential).capitalize()} expires on {expiry} "
                f"({_days(credential.expires_on, now)}).\nWhat to do: create a new key on OKX and "
                "rotate it in (Rotate key in the admin).",
                credential.account_id,
                credential.pk,
            )


def refresh_stopped(now: datetime, minutes: int) -> Condition | None:
    """No successful refresh of any active account for `minutes` (counted from the newest
    snapshot, or from the oldest active account when there has never been one)."""
    accounts = Account.objects.filter(active=True)
    if not accounts.exists():
        return None
    latest = Snapshot.objects.aggregate(at=Max("taken_at"))["at"]
    since = latest or accounts.order_by("created_at").values_list("created_at", flat=True).first()
    if since is None or now - since <= timedelta(minutes=minutes):
        return None
    last = f"the last one was at {_local(latest)}" if latest else "there has never been one"
    return Condition(
        AlertRule.REFRESH_STOPPED,
        "all",
        "stopped",
        "Refresh stopped: no account refreshed",
        f"No account has been refreshed successfully for more than {minutes} minutes ({last}).\n"
        "What to do: check that the worker and beat processes run (/readyz) and that Redis is reachable.",
    )


def account_stale(now: datetime, credentials: list[Credential], findings: Findings) -> None:
    """An active account without a snapshot within stale_after(). An account whose reading key
    is failing is held: the key alert already explains why it is stale."""
    failing = {c.account_id for c in credentials if c.health_status == HealthStatus.FAILING}
    latest = Snapshot.objects.values("account_id").annotate(at=Max("taken_at"))
    last_at = {row["account_id"]: row["at"] for row in latest}
    read = read_intervals()  # keyless sub-accounts are read round-robin, maybe less often
    for account in Account.objects.filter(active=True).select_related("master"):
        key = (AlertRule.ACCOUNT_STALE, f"account:{account.pk}")
        since = last_at.get(account.pk) or account.created_at
        limit = stale_after(read.get(account.pk, 0))
        if not is_stale(since, now, read.get(account.pk, 0)):
            continue
        if account.pk in failing or (account.master_id in failing and account.pk not in _keyed(credentials)):
            findings.held.add(key)
            continue
        what = f"last refreshed at {_local(since)}" if account.pk in last_at else "never refreshed"
        findings.add(
            Condition(
                *key,
                "stale",
                f"Account stale: {account.name}",
                f"{account.name} has not been refreshed for more than {_minutes(limit)} minutes "
                f"({what}).\nWhat to do: see its latest errors on the Errors page.",
                account.pk,
            )
        )


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def _keyed(credentials: list[Credential]) -> set[int]:
    return {c.account_id for c in credentials}


def loss(now: datetime, percent: Decimal, findings: Findings) -> None:
    """An account whose loss over the last 24 hours is more than `percent` % of its equity at the
    start of that window, the loss being its PnL net of transfers (ledger.performance: the change
    in equity minus the net inflow of deposits, withdrawals and transfers), so a transfer out
    never fires it and a deposit never hides a loss. Like with like: when one end of the window
    lacks Earn, both ends leave it out (the PnL's note says "without Earn"), so an unread Earn
    balance is not a loss. An account whose PnL cannot be judged is held (its alert neither opens
    nor resolves): unknown (an unpriced flow, no reading, a sub-account whose master's transfer
    history is not read), no fresh reading, or counting from a reading more than an hour before the
    window (ledger.pnl.PnL.starts_early: the figure spans more than 24 hours). Demo-trading
    accounts are paper money: their losses never raise an alert. An account excluded from team
    totals (Account.excluded_from_totals) is watched like any other: the rule is per account, its
    money is real, and the flag only keeps it out of the team's sums (no rule sums the team)."""
    window = period(LOSS_PERIOD, now)
    accounts = Account.objects.filter(active=True).exclude(environment=Environment.DEMO)
    names = dict(accounts.values_list("pk", "name"))
    read = read_intervals()  # a round-robin sub-account is fresh within its own read interval
    for account_id, pnl in account_pnl(list(names), window).items():
        key = (AlertRule.EQUITY_DROP, f"account:{account_id}")
        start, loss_usd = pnl.start_equity, None if pnl.pnl is None else -pnl.pnl
        fresh = pnl.ended_at is not None and not is_stale(pnl.ended_at, now, read.get(account_id, 0))
        judged = fresh and not pnl.starts_early
        if loss_usd is None or not start or start <= 0 or not judged:
            findings.held.add(key)
            continue
        lost = loss_usd / start * 100
        if lost > percent:
            findings.add(_loss_condition(account_id, names[account_id], pnl, lost, percent))


def _loss_condition(account_id: int, name: str, pnl: PnL, lost: Decimal, percent: Decimal) -> Condition:
    # loss() calls this only for a known PnL and start equity.
    assert pnl.pnl is not None and pnl.start_equity is not None
    inflow = pnl.net_inflow or Decimal(0)
    notes = "".join(f"\nNote: {note}." for note in pnl.notes)
    since = f" at {_local(pnl.started_at)}" if pnl.started_at else ""
    return Condition(
        AlertRule.EQUITY_DROP,
        f"account:{account_id}",
        "loss",
        f"Loss: {name} lost {lost:.1f} % in 24 h, net of transfers",
        f"{name} lost {-pnl.pnl:,.2f} USD over the last 24 hours, net of transfers: {lost:.1f} % of its "
        f"equity of {pnl.start_equity:,.2f} USD{since} (threshold {percent} %).\n"
        f"Net inflow in the window (deposits, withdrawals and transfers, not counted as loss): "
        f"{inflow:+,.2f} USD.{notes}",
        account_id,
    )
