"""The keys page names the sub-accounts read through their master that a key of their own would
help most (issue 22): most equity first, how often each is read now and would be with its key."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Account, AccountKind
from snapshots.models import Snapshot
from tests.accounts_support import fake_key_set, install, make_user

pytestmark = pytest.mark.django_db

KEYS_URL = "/keys/"


def _team(subs: dict[str, str | None], keyed: tuple[str, ...] = ()) -> dict[str, Account]:
    """A master with a key and sub-accounts {name: latest equity USD or None (never read)};
    those named in `keyed` get a key of their own."""
    master = Account.objects.create(name="main", base_url="http://127.0.0.1:9/")
    install(master, fake_key_set(1))
    made = {"main": master}
    for n, (name, equity) in enumerate(subs.items(), start=2):
        sub = Account.objects.create(
            name=name, kind=AccountKind.SUB, master=master, sub_acct_name=name, base_url="http://127.0.0.1:9/"
        )
        if name in keyed:
            install(sub, fake_key_set(n))
        if equity is not None:
            Snapshot.objects.create(
                account=sub, cycle=1, taken_at=timezone.now(), total_equity_usd=Decimal(equity)
            )
        made[name] = sub
    return made


def _section(client) -> str:
    page = client.get(KEYS_URL).content.decode()
    found = re.search(r'<section class="own-key".*?</section>', page, re.S)
    return found.group(0) if found else ""


def _names(section: str) -> list[str]:
    return re.findall(r'<tr><td><a href="/accounts/\d+/">([^<]+)</a>', section)


def _intervals(section: str) -> list[tuple[str, str]]:
    """(read now, with its own key) of each row, as the page words them."""
    return re.findall(r"<td>([\w ]+) → ([\w ]+)</td>", section)


@override_settings(REFRESH_INTERVAL_SECONDS=60)
def test_keyless_sub_accounts_are_listed_most_equity_first_with_both_read_intervals(client):
    _team(
        {"small": "120.5", "whale": "250000", "never-read": None, "mid": "9000", "keyed": "1000000"},
        ("keyed",),
    )
    client.force_login(make_user("viewer"))

    section = _section(client)

    # The keyed sub-account and the master are read with their own keys: not listed.
    assert _names(section) == ["whale", "mid", "small", "never-read"]
    assert "250,000.00" in section and "—" in section  # never read: unknown, not 0
    # Four keyless sub-accounts fit the master's budget within the interval: read every minute now.
    assert _intervals(section) == [("1 min", "1 min")] * 4
    assert "Add a read-only key" not in section  # a viewer cannot add keys


@override_settings(REFRESH_INTERVAL_SECONDS=60)
def test_past_the_masters_budget_the_page_says_how_slowly_each_is_read_and_how_many_are_left_out(client):
    subs = {f"sub-{n:03}": str(n) for n in range(1, 201)}
    _team(subs)
    client.force_login(make_user("key_admin"))

    section = _section(client)

    assert _names(section) == ["sub-200", "sub-199", "sub-198", "sub-197", "sub-196"]
    # 200 sub-accounts at OKX's 6 reads per 2 s need at least 66.7 s each: read less often than
    # every minute, at most the limiter's padding (15 %) and a rounded second above OKX's bound.
    (now, own), *others = _intervals(section)
    minutes, seconds = re.fullmatch(r"(\d+) min (\d+) s", now).groups()
    assert 200 * 2 / 6 <= int(minutes) * 60 + int(seconds) <= 200 * 2 / 6 * 1.15 + 0.5
    assert own == "1 min" and others == [(now, own)] * 4
    assert "And 195 more sub-accounts" in section
    # One minute holds at most 180 reads at OKX's pace, a little fewer with the limiter's padding.
    fit = int(re.search(r"past about (\d+) of them per master", section).group(1))
    assert 150 <= fit <= 180
    account = Account.objects.get(name="sub-200")
    assert f'href="/admin/accounts/account/{account.pk}/rotate/">Add a read-only key' in section
    add_page = client.get(f"/admin/accounts/account/{account.pk}/rotate/").content.decode()
    assert "Add a key: sub-200" in add_page and "Check and add" in add_page
    assert "secrets are destroyed" not in add_page and "{#" not in add_page


def test_no_section_when_every_account_has_its_own_key(client):
    _team({"alpha": "10"}, ("alpha",))
    client.force_login(make_user("viewer"))

    assert _section(client) == ""
