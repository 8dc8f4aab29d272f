"""Fail closed: a credential that cannot be decrypted is never used, is reported in words a key
admin can act on, and does not stop the other accounts from refreshing. A malformed FERNET_KEYS
stops a process before it sends anything.

The broken accounts point at a simulator of their own that counts every request it receives (a
pass-through fault on every path: `fault_hits` then counts calls, refused or not)."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from accounts import crypto
from accounts.health import HealthStatus
from accounts.models import Credential
from snapshots.models import Snapshot
from tests.accounts_support import make_user
from tests.workers_support import add_account, frozen

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))
K_CURRENT = Fernet.generate_key().decode()
K_LOST = Fernet.generate_key().decode()

pytestmark = pytest.mark.django_db


def counting(sim):
    """Count every request the simulator receives from now on (a fault that changes nothing)."""
    sim.inject_fault("*", delay=0.0, times=None)
    return lambda: sum(sim.fault_hits().values())


def corrupt(credential: Credential) -> None:
    """Flip one character inside the secret's Fernet token (the key id prefix stays valid)."""
    prefix, token = credential.secret_key_enc.split(crypto.SEPARATOR)
    flipped = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    Credential.objects.filter(pk=credential.pk).update(secret_key_enc=f"{prefix}${flipped}")


def refresh_command() -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("refresh", stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_undecryptable_credentials_send_nothing_say_why_and_the_rest_keep_refreshing(make_simulator):
    healthy_sim, broken_sim = make_simulator(frozen()), make_simulator(frozen())
    requests_to_broken = counting(broken_sim)
    with override_settings(FERNET_KEYS=[K_LOST]):  # a key that is later dropped from FERNET_KEYS
        lost = add_account(broken_sim, "alpha-desk")
    with override_settings(FERNET_KEYS=[K_CURRENT]):
        main = add_account(healthy_sim, "main")
        add_account(healthy_sim, "beta-readonly", master=main)
        tampered_master = add_account(broken_sim, "epsilon-futures")
        corrupt(tampered_master.active_credential())
        # A keyless sub-account read through a master whose secret is corrupt: fails closed too.
        sub = add_account(broken_sim, "delta-nokey", master=tampered_master, keyless=True)

        output, error = refresh_command()
        with pytest.raises(CommandError):  # the key-health check fails closed the same way
            call_command("check_keys", stdout=StringIO())

    assert requests_to_broken() == 0
    assert error is not None  # the command exits non-zero when any account failed
    for name in ("alpha-desk", "epsilon-futures", "delta-nokey"):
        assert f"{name}: failed [decryption]" in output
    assert set(Snapshot.objects.values_list("account__name", flat=True)) == {"main", "beta-readonly"}

    # The keys page reads health: the broken key is failing with a reason a key admin can act on.
    lost_key = lost.active_credential()
    assert lost_key.health_status == HealthStatus.FAILING
    assert crypto.key_id(K_LOST) in lost_key.health_message
    assert "FERNET_KEYS" in lost_key.health_message
    tampered_key = tampered_master.active_credential()
    assert tampered_key.health_status == HealthStatus.FAILING
    assert "integrity check" in tampered_key.health_message
    assert sub.active_credential() is None
    for credential in Credential.objects.all():
        assert credential.secret_key_enc not in credential.health_message


def test_pages_of_an_undecryptable_key_render_without_its_stored_text(make_simulator, client):
    sim = make_simulator(frozen())
    with override_settings(FERNET_KEYS=[K_CURRENT]):
        account = add_account(sim, "main")
        corrupt(account.active_credential())
        refresh_command()
    credential = account.active_credential()
    client.force_login(make_user("key_admin"), backend="django.contrib.auth.backends.ModelBackend")
    for url in (
        reverse("pages:keys"),
        reverse("pages:account", args=[account.pk]),
        reverse("pages:overview"),
        reverse("admin:accounts_credential_change", args=[credential.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        for stored in (credential.api_key_enc, credential.secret_key_enc, credential.passphrase_enc):
            assert stored.split(crypto.SEPARATOR)[1][:16] not in page, url
    assert "cannot be decrypted" in client.get(reverse("pages:keys")).content.decode()


@pytest.mark.parametrize("command", [["celery", "-A", "dashboard", "worker"], ["manage.py", "refresh"]])
def test_a_malformed_fernet_key_stops_a_worker_before_it_sends_anything(make_simulator, command):
    sim = make_simulator(frozen())
    requests_seen = counting(sim)
    with override_settings(FERNET_KEYS=[K_CURRENT]):
        add_account(sim, "main")
    bad = K_CURRENT[:-8] + "!!!!!!!="
    env = {**os.environ, "FERNET_KEYS": f"{K_CURRENT},{bad}", "PYTHONUNBUFFERED": "1"}
    args = [CELERY, *command[1:]] if command[0] == "celery" else [sys.executable, *command]

    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "FERNET_KEYS entry #2 is not a valid Fernet key" in output
    assert bad not in output and K_CURRENT not in output
    assert requests_seen() == 0
