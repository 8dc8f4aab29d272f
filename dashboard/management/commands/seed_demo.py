"""Add the demo scenario's accounts and a sign-in for the person running `make demo`.

1. Each key of the simulator's demo scenario goes through the same form as the admin's "Add
   account": shape check, one live account/config call, identity check, encryption. A key the
   scenario marks frozen cannot pass that check, so it is stored without it: the demo then shows
   a credential failing the way a key frozen after it was added would.
2. The sub-account with no key of its own is added under the master (read through its key).
   The demo-trading key's account stands alone: a live master cannot hold a demo sub-account.
3. The user `demo` (group "key admin") gets a newly generated password, printed once, and a
   daily demo report schedule is added; the output says where report e-mails go (var/mail/) and
   when the user is asked to set up two-factor authentication (its first key action).
Running it again changes nothing but the base URL (the simulator's port) and the password.
"""

from __future__ import annotations

import secrets
from datetime import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.forms import AccountAddForm
from accounts.mfa import devices as mfa
from accounts.models import Account, AccountKind, Credential, Environment
from accounts.roles import KEY_ADMIN
from okxsim import Scenario
from reports.models import ReportSchedule

DEMO_USER = "demo"
ACTOR = "make demo"


class Command(BaseCommand):
    help = "Seed the demo accounts (pointing at the running simulator) and a demo sign-in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--simulator-url", required=True)
        parser.add_argument("--web-url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, simulator_url: str, web_url: str, **options: Any) -> None:
        scenario = Scenario.load("demo")
        Account.objects.update(base_url=simulator_url)
        master = self._add(scenario, scenario.master, simulator_url, master=None)
        for sub in scenario.subaccounts:
            keys = scenario.keys_of(sub.name)
            if not keys:
                self._add_keyless(sub, master)
            else:
                self._add(scenario, sub, simulator_url, master=None if keys[0].env == "demo" else master)
        password = self._demo_login()
        self._demo_report_schedule()
        self.stdout.write(
            f"\n  Sign in at {web_url}login/\n  user name: {DEMO_USER}\n  password:  {password}\n"
            f"  {self._second_factor_note()}\n"
            f"  ({Account.objects.count()} accounts)\n  {self._where_mail_goes()}\n"
        )

    @staticmethod
    def _second_factor_note() -> str:
        """What the key admin meets at the first key action (two-factor authentication, accounts/mfa)."""
        if mfa.has_second_factor(User.objects.get(username=DEMO_USER)):
            return "Two-factor authentication is on for this user: have its authenticator app at hand."
        if settings.TWO_FACTOR_REQUIRED == mfa.EVERYONE:
            return "After signing in, set up two-factor authentication (any authenticator app) first."
        return (
            "Pages open at once; the first key action (the admin) asks to set up two-factor "
            "authentication (any authenticator app)."
        )

    def _add(self, scenario: Scenario, sim_account: Any, url: str, *, master: Account | None) -> Account:
        existing = Account.objects.filter(name=sim_account.name).first()
        if existing is not None:
            return existing
        key = scenario.keys_of(sim_account.name)[0]
        form = AccountAddForm(data=self._form_data(sim_account, key, url, master))
        form.actor_name = ACTOR
        if form.is_valid():
            return form.save_with_credential()
        if key.frozen:
            return self._add_unchecked(form, sim_account, key, master)
        raise CommandError(f"the demo account {sim_account.name} was refused: {form.errors.as_text()}")

    @staticmethod
    def _add_keyless(sim_account: Any, master: Account) -> None:
        Account.objects.get_or_create(
            name=sim_account.name,
            defaults={
                "kind": AccountKind.SUB,
                "master": master,
                "sub_acct_name": sim_account.name,
                "uid": sim_account.uid,
                "base_url": master.base_url,
            },
        )

    @staticmethod
    def _form_data(sim_account: Any, key: Any, url: str, master: Account | None) -> dict[str, Any]:
        return {
            "name": sim_account.name,
            "kind": AccountKind.MASTER if sim_account.is_master else AccountKind.SUB,
            "master": master.pk if master else "",
            "sub_acct_name": "" if sim_account.is_master else sim_account.name,
            "environment": Environment.DEMO if key.env == "demo" else Environment.LIVE,
            "region": "global",
            "base_url": url,
            "api_key": key.api_key,
            "secret_key": key.secret_key,
            "passphrase": key.passphrase,
            "label": key.label,
            "allow_withdraw": "withdraw" in key.perm,
            # A sub-account with no master here (the demo-trading one) has no list to be checked
            # against: the scenario's UID is the confirmation a person would give in the form.
            "confirm_uid": "" if master or sim_account.is_master else sim_account.uid,
        }

    def _add_unchecked(
        self, form: AccountAddForm, sim_account: Any, key: Any, master: Account | None
    ) -> Account:
        data = form.data
        account = Account.objects.create(
            name=data["name"],
            kind=data["kind"],
            master=master,
            sub_acct_name=data["sub_acct_name"],
            uid=sim_account.uid,
            environment=data["environment"],
            base_url=data["base_url"],
        )
        credential = Credential.from_plaintext(
            account, key.api_key, key.secret_key, key.passphrase, label=key.label
        )
        account.install_credential(credential, actor_name=ACTOR)
        self.stdout.write(f"  {account.name}: stored without the live check (its key is frozen on purpose)")
        return account

    @staticmethod
    def _where_mail_goes() -> str:
        if settings.EMAIL_HOST:
            return f"Report e-mails go through {settings.EMAIL_HOST}."
        return (
            f"Report e-mails are written as files to {settings.EMAIL_FILE_PATH}/ (set EMAIL_HOST for SMTP)."
        )

    @staticmethod
    def _demo_report_schedule() -> None:
        """One daily report, so the Reports page fills up in the demo (the key admin can edit it)."""
        ReportSchedule.objects.get_or_create(
            name="Demo morning report",
            defaults={
                "time_of_day": time(8),
                "time_zone": settings.DISPLAY_TIME_ZONE,
                "recipients": "team@example.test",
            },
        )

    @staticmethod
    def _demo_login() -> str:
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username=DEMO_USER)
        user.set_password(password)
        user.is_staff = True
        user.save()
        user.groups.add(Group.objects.get(name=KEY_ADMIN))
        return password
