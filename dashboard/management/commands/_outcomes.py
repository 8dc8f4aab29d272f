"""The summary both operator commands print: one line per account, then totals by category."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.core.management.base import OutputWrapper

from dashboard.refresh import Outcome


def print_summary(stdout: OutputWrapper, outcomes: Iterable[Outcome], what: str) -> int:
    """Print the outcomes; return how many failed."""
    outcomes = list(outcomes)
    for outcome in outcomes:
        category = f" [{outcome.category}]" if outcome.category else ""
        detail = f" {outcome.detail}" if outcome.detail else ""
        stdout.write(f"{outcome.account}: {outcome.status}{category}{detail}")
    statuses = Counter(outcome.status for outcome in outcomes)
    categories = Counter(outcome.category for outcome in outcomes if outcome.status == "failed")
    by_category = ", ".join(f"{name} {count}" for name, count in sorted(categories.items()))
    stdout.write(
        f"{what}: {statuses['ok']} ok, {statuses['failed']} failed, {statuses['skipped']} skipped"
        + (f" ({by_category})" if by_category else "")
    )
    return statuses["failed"]
