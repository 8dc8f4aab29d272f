"""Add an OKX account with its first credential set, read from the environment.

    OKX_API_KEY=... OKX_SECRET_KEY=... OKX_PASSPHRASE=... \\
        python manage.py add_account NAME --kind master|sub [--master NAME] [--sub-acct NAME]
        [--demo] [--base-url URL | --region global|eea|us] [--label TEXT] [--expires YYYY-MM-DD]
        [--allow-withdraw] [--confirm-uid UID]

Secrets are never taken from the command line (shell history, `ps`). The set is checked exactly
as in the admin: shapes, then one live account/config call and the identity check (a sub-account's
key against its master's sub-account list; without a master key, --confirm-uid with the UID the
refusal shows); nothing is stored on a refusal.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.forms import AccountAddForm
from accounts.models import Account, AccountKind, Environment, Region

ENV_VARS = {"api_key": "OKX_API_KEY", "secret_key": "OKX_SECRET_KEY", "passphrase": "OKX_PASSPHRASE"}


class Command(BaseCommand):
    help = "Add an OKX account; the secrets come from OKX_API_KEY, OKX_SECRET_KEY and OKX_PASSPHRASE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--kind", choices=AccountKind.values, required=True)
        parser.add_argument("--master", help="name of the master account (for --kind sub)")
        parser.add_argument("--sub-acct", default="", help="the OKX sub-account name")
        parser.add_argument("--demo", action="store_true", help="a demo-trading key")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--region", choices=Region.values, default=Region.GLOBAL)
        where.add_argument("--base-url", default="", help="a custom host, e.g. the simulator")
        parser.add_argument("--label", default="")
        parser.add_argument("--expires", default="", help="YYYY-MM-DD, optional")
        parser.add_argument(
            "--allow-withdraw", action="store_true", help="store a key with withdraw permission"
        )
        parser.add_argument(
            "--confirm-uid",
            default="",
            help="a sub-account key's UID, checked on OKX (asked when no master key can vouch for it)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        form = AccountAddForm(data=self._form_data(options))
        form.actor_name = f"manage.py add_account ({getpass.getuser()})"
        if not form.is_valid():
            raise CommandError("nothing stored:\n" + self._errors(form))
        account = form.save_with_credential()
        for text in [*form.notes, *form.warnings]:
            self.stderr.write(self.style.WARNING(f"warning: {text}"))
        fingerprint = form.checked_candidate().display_fingerprint
        self.stdout.write(self.style.SUCCESS(f"Added {account} (UID {account.uid}) with key {fingerprint}."))

    def _form_data(self, options: dict[str, Any]) -> dict[str, Any]:
        missing = [var for var in ENV_VARS.values() if not os.environ.get(var)]
        if missing:
            raise CommandError(f"set {', '.join(missing)} in the environment (never on the command line)")
        master = None
        if options["master"]:
            master = Account.objects.filter(name=options["master"]).first()
            if master is None:
                raise CommandError(f"no account named {options['master']!r}")
        return {
            **{field: os.environ[var] for field, var in ENV_VARS.items()},
            "name": options["name"],
            "kind": options["kind"],
            "master": master.pk if master else "",
            "sub_acct_name": options["sub_acct"],
            "environment": Environment.DEMO if options["demo"] else Environment.LIVE,
            "region": options["region"],
            "base_url": options["base_url"],
            "label": options["label"],
            "expires_on": options["expires"],
            "allow_withdraw": options["allow_withdraw"],
            "confirm_uid": options["confirm_uid"],
        }

    @staticmethod
    def _errors(form: AccountAddForm) -> str:
        lines = []
        for field, errors in form.errors.items():
            prefix = "" if field == "__all__" else f"{field}: "
            lines += [f"  {prefix}{error}" for error in errors]
        return "\n".join(lines)
