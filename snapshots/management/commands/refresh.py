"""`manage.py refresh [--account NAME]`: the periodic refresh, run now and in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.jobs import print_summary
from accounts.models import Account
from snapshots.refresh import current_cycle, refresh_account


class Command(BaseCommand):
    help = "Refresh balances and positions of every active account (or one) now; print a summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="only this account (its name)")

    def handle(self, *args: Any, account: str | None = None, **options: Any) -> None:
        accounts = Account.objects.filter(active=True).order_by("name")
        if account:
            accounts = accounts.filter(name=account)
            if not accounts.exists():
                raise CommandError(f"no active account named {account!r}")
        cycle = current_cycle()
        outcomes = (refresh_account(pk, cycle) for pk in accounts.values_list("pk", flat=True))
        if print_summary(self.stdout, outcomes, "refresh"):
            raise CommandError("some accounts failed (see above)", returncode=2)
