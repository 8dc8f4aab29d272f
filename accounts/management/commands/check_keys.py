"""`manage.py check_keys [--account NAME]`: the key-health check, run now and in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.jobs import print_summary
from accounts.keycheck import check_key, credentials_to_check


class Command(BaseCommand):
    help = "Check every active key (or one account's) with OKX now; print statuses and warnings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="only this account (its name)")

    def handle(self, *args: Any, account: str | None = None, **options: Any) -> None:
        ids = list(credentials_to_check(account))
        if account and not ids:
            raise CommandError(f"no active key for an active account named {account!r}")
        if print_summary(self.stdout, (check_key(pk) for pk in ids), "check_keys"):
            raise CommandError("some keys failed (see above)", returncode=2)
