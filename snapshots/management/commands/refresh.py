"""`manage.py refresh [--account NAME]`: refresh now, in this process, even an account whose
snapshot of this cycle is already stored (the new reading replaces it; the cycle's scheduled
refresh, if still to come, then skips it)."""

from __future__ import annotations

from typing import Any

from django import db
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.history import ApiError
from accounts.jobs import JobOutcome, database_failure, print_summary
from accounts.models import Account
from snapshots.refresh import current_cycle, refresh_account


class Command(BaseCommand):
    help = (
        "Refresh balances and positions of every active account (or one) now, even if this "
        "cycle's snapshot is already stored; print a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="only this account (its name)")

    def handle(self, *args: Any, account: str | None = None, **options: Any) -> None:
        accounts = Account.objects.filter(active=True).order_by("name")
        if account:
            accounts = accounts.filter(name=account)
            if not accounts.exists():
                raise CommandError(f"no active account named {account!r}")
        cycle = current_cycle()
        targets = list(accounts.values_list("pk", "name"))
        outcomes = [self._refresh(pk, name, cycle) for pk, name in targets]
        self._record_database_failures(targets, outcomes)
        if print_summary(self.stdout, outcomes, "refresh"):
            raise CommandError("some accounts failed (see above)", returncode=2)

    def _refresh(self, pk: int, name: str, cycle: int) -> JobOutcome:
        """One account; a database error (locked, gone, a refused write) fails this account
        only, with a line on stderr, and the command goes on with the next."""
        try:
            return refresh_account(pk, cycle, on_demand=True)
        except db.Error as error:
            outcome = database_failure(name, error)
            outcome.detail = _first_line(error)
            self.stderr.write(
                f"{name}: the database refused the refresh ({type(error).__name__}: {outcome.detail})"
            )
            return outcome

    def _record_database_failures(self, targets: list[tuple[int, str]], outcomes: list[JobOutcome]) -> None:
        """After the run (a lock may be gone by then), put each database failure in the account's
        error history; if the database still refuses, stderr says so."""
        for (pk, name), outcome in zip(targets, outcomes, strict=True):
            if outcome.category != "database":
                continue
            try:
                ApiError.record_database_failure(pk, outcome.detail)
            except db.Error as error:
                self.stderr.write(
                    f"{name}: not recorded in the error history either ({type(error).__name__})"
                )


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0][:200]
