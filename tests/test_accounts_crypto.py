from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from accounts import crypto
from accounts.audit import AuditAction, AuditEvent
from accounts.models import Account, Credential
from tests.accounts_support import fake_key_set, install, register_key, sim_account

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()
ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("api_key_enc", "secret_key_enc", "passphrase_enc")


def stored_values() -> list[str]:
    return [value for row in Credential.objects.values_list(*FIELDS) for value in row if value]


def test_a_stored_value_names_its_key_id_and_decrypts_back():
    with override_settings(FERNET_KEYS=[K1]):
        stored = crypto.encrypt("FAKE-VALUE-0001")
        assert re.fullmatch(r"k[0-9a-f]{8}\$.+", stored)
        assert stored.startswith(crypto.key_id(K1) + "$")
        assert "FAKE-VALUE-0001" not in stored
        assert crypto.decrypt(stored) == "FAKE-VALUE-0001"


def test_a_tampered_value_raises_the_typed_error():
    with override_settings(FERNET_KEYS=[K1]):
        stored = crypto.encrypt("FAKE-VALUE-0001")
        prefix, token = stored.split("$")
        tampered = f"{prefix}${token[:-6]}{'A' if token[-6] != 'A' else 'B'}{token[-5:]}"
        with pytest.raises(crypto.DecryptionError) as caught:
            crypto.decrypt(tampered)
        assert token not in str(caught.value)


def test_an_unknown_key_id_raises_the_typed_error_naming_the_id():
    with override_settings(FERNET_KEYS=[K1]):
        stored = crypto.encrypt("FAKE-VALUE-0001")
    with override_settings(FERNET_KEYS=[K2]), pytest.raises(crypto.DecryptionError, match=crypto.key_id(K1)):
        crypto.decrypt(stored)


def test_a_value_without_key_id_or_blank_is_refused():
    with override_settings(FERNET_KEYS=[K1]):
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt("")
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(Fernet(K1).encrypt(b"x").decode())


@pytest.mark.parametrize("bad", ["not-a-key", "", K1[:-4]])
def test_an_invalid_fernet_key_stops_use_naming_the_setting_but_not_the_value(bad):
    with override_settings(FERNET_KEYS=[K1, bad or "   "]), pytest.raises(crypto.FernetKeysError) as caught:
        crypto.encrypt("x")
    message = str(caught.value)
    assert "FERNET_KEYS entry #2" in message
    assert (bad or "   ") not in message.replace("FERNET_KEYS", "")


def test_a_process_does_not_start_with_an_invalid_fernet_key():
    bad = K1[:-8] + "!!!!!!!="
    env = {k: v for k, v in os.environ.items() if k != "FERNET_KEYS"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "FERNET_KEYS": f"{K2},{bad}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "FERNET_KEYS entry #2 is not a valid Fernet key" in result.stderr
    assert bad not in result.stderr + result.stdout
    assert K2 not in result.stderr + result.stdout


@pytest.mark.django_db
def test_tampered_ciphertext_raises_and_sends_no_request(simulator, caplog):
    caplog.set_level(logging.DEBUG)
    master = simulator.scenario.master
    keys = fake_key_set(11)
    register_key(simulator, master.uid, keys)
    with override_settings(FERNET_KEYS=[K1]):
        account = sim_account(simulator)
        credential = install(account, keys)
        account.build_client().get_account_config()  # the seam works: a good value is sent
        arrived_before = _arrived(caplog)
        assert arrived_before > 0
        prefix, token = credential.secret_key_enc.split("$")
        Credential.objects.filter(pk=credential.pk).update(
            # One character changed; never the same one (a 1-in-64 chance would make this pass untouched).
            secret_key_enc=f"{prefix}${token[:20]}{'x' if token[20] != 'x' else 'y'}{token[21:]}"
        )
        with pytest.raises(crypto.DecryptionError):
            Account.objects.get(pk=account.pk).build_client()
    with override_settings(FERNET_KEYS=[K2]), pytest.raises(crypto.DecryptionError):
        Account.objects.get(pk=account.pk).build_client()
    assert _arrived(caplog) == arrived_before


def _arrived(caplog) -> int:
    """Requests the simulator answered (its HTTP server logs each one)."""
    return sum(1 for r in caplog.records if r.name.startswith("okxsim") and "/api/v5/" in r.getMessage())


@pytest.mark.django_db
def test_rotate_encryption_keys_moves_every_secret_to_the_newest_key_and_is_idempotent(simulator):
    with override_settings(FERNET_KEYS=[K1]):
        first = install(sim_account(simulator, "one"), fake_key_set(1))
        install(sim_account(simulator, "two"), fake_key_set(2))
        first.account.install_credential(Credential.from_plaintext(first.account, **fake_key_set(3)))
    assert {crypto.stored_key_id(v) for v in stored_values()} == {crypto.key_id(K1)}
    assert len(stored_values()) == 6  # the retired credential holds nothing

    with override_settings(FERNET_KEYS=[K2, K1]):
        out = StringIO()
        call_command("rotate_encryption_keys", stdout=out)
        assert "Re-encrypted 2 credentials" in out.getvalue()
        assert f"{crypto.key_id(K2)}: 6 values" in out.getvalue()
        again = StringIO()
        call_command("rotate_encryption_keys", stdout=again)
        assert "Re-encrypted 0 credentials" in again.getvalue()

    with override_settings(FERNET_KEYS=[K2]):
        assert sorted(crypto.decrypt(v) for v in stored_values()) == sorted(
            value for n in (2, 3) for value in fake_key_set(n).values()
        )
    with override_settings(FERNET_KEYS=[K1]):
        for value in stored_values():
            with pytest.raises(crypto.DecryptionError):
                crypto.decrypt(value)
    events = AuditEvent.objects.filter(action=AuditAction.ENCRYPTION_ROTATE)
    assert events.count() == 1
    assert "2 credentials" in events.get().detail


@pytest.mark.django_db
def test_rotate_encryption_keys_reports_values_under_a_key_no_longer_configured(simulator):
    with override_settings(FERNET_KEYS=[K1]):
        install(sim_account(simulator), fake_key_set(1))
    out, err = StringIO(), StringIO()
    with override_settings(FERNET_KEYS=[K2]), pytest.raises(Exception, match="could not be decrypted"):
        call_command("rotate_encryption_keys", stdout=out, stderr=err)
    assert f"{crypto.key_id(K1)}: 3 values (NOT CONFIGURED)" in out.getvalue()
    assert {crypto.stored_key_id(v) for v in stored_values()} == {crypto.key_id(K1)}


@pytest.mark.django_db
def test_reencrypt_does_not_overwrite_a_row_changed_since_it_was_read(simulator):
    """The conditional update: a concurrent key rotation of the same row wins."""
    with override_settings(FERNET_KEYS=[K1]):
        credential = install(sim_account(simulator), fake_key_set(1))
    with override_settings(FERNET_KEYS=[K2, K1]):
        assert Credential.objects.needing_reencryption().count() == 1
        assert credential.reencrypt() is True
        assert credential.reencrypt() is False
        assert Credential.objects.needing_reencryption().count() == 0
