"""Encryption of stored credentials: Fernet keys from settings.FERNET_KEYS (newest first).

Every stored value is "<key id>$<Fernet token>", the key id being "k" + the first 8 hex digits of
sha256(key). The id says which key encrypted a value without trial decryption, so an unknown or
retired key is reported as such, and key rotation knows which rows still need work.

The keyring is rebuilt whenever the FERNET_KEYS list changes (it is cached on the tuple of keys,
not on the first call), so override_settings and a re-deployed key list are both honoured.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SEPARATOR = "$"
KEY_ID_HEX_DIGITS = 8


class DecryptionError(Exception):
    """A stored value could not be decrypted (tampered, truncated, or its key is not configured)."""


class FernetKeysError(ImproperlyConfigured):
    """FERNET_KEYS is empty or holds an entry that is not a Fernet key."""


def key_id(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return "k" + hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX_DIGITS]


@dataclass(frozen=True)
class Keyring:
    """The configured keys: `ids` newest first, `fernets` by id, `multi` encrypts with the newest."""

    ids: tuple[str, ...]
    fernets: dict[str, Fernet]
    multi: MultiFernet

    @property
    def newest_id(self) -> str:
        return self.ids[0]


@lru_cache(maxsize=8)
def _build_keyring(keys: tuple[str, ...]) -> Keyring:
    if not keys:
        raise FernetKeysError("FERNET_KEYS is empty: set it to one or more Fernet keys, newest first.")
    fernets: dict[str, Fernet] = {}
    for position, key in enumerate(keys, start=1):
        try:
            fernet = Fernet(key)
        except (ValueError, TypeError):
            # Never echo the value: it may be a real key with a typo.
            raise FernetKeysError(
                f"FERNET_KEYS entry #{position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes, e.g. from Fernet.generate_key())."
            ) from None
        fernets.setdefault(key_id(key), fernet)
    ids = tuple(dict.fromkeys(key_id(key) for key in keys))
    return Keyring(ids=ids, fernets=fernets, multi=MultiFernet([fernets[i] for i in ids]))


def keyring() -> Keyring:
    return _build_keyring(tuple(settings.FERNET_KEYS))


def check_keys() -> None:
    """Raise FernetKeysError when FERNET_KEYS is unusable (used by the start-up system check)."""
    keyring()


def encrypt(plaintext: str) -> str:
    ring = keyring()
    token = ring.multi.encrypt(plaintext.encode()).decode()
    return f"{ring.newest_id}{SEPARATOR}{token}"


def stored_key_id(stored: str) -> str:
    """The key id a stored value names ("" for a blank or malformed value)."""
    prefix, separator, _ = stored.partition(SEPARATOR)
    return prefix if separator else ""


def _fernet_for(stored: str) -> tuple[Fernet, bytes]:
    if not stored:
        raise DecryptionError("no stored value (the credential's secrets were destroyed or never set)")
    prefix, separator, token = stored.partition(SEPARATOR)
    if not separator:
        raise DecryptionError("stored value has no key id prefix")
    fernet = keyring().fernets.get(prefix)
    if fernet is None:
        raise DecryptionError(f"stored value was encrypted with key id {prefix}, which is not in FERNET_KEYS")
    return fernet, token.encode()


def decrypt(stored: str) -> str:
    fernet, token = _fernet_for(stored)
    try:
        return fernet.decrypt(token).decode()
    except (InvalidToken, UnicodeDecodeError):
        raise DecryptionError(
            f"stored value with key id {stored_key_id(stored)} failed its integrity check"
        ) from None


def reencrypt(stored: str) -> str:
    """The same secret under the newest key; the plaintext never leaves cryptography's MultiFernet."""
    fernet, token = _fernet_for(stored)
    ring = keyring()
    try:
        rotated = MultiFernet([ring.fernets[ring.newest_id], fernet]).rotate(token).decode()
    except InvalidToken:
        raise DecryptionError(
            f"stored value with key id {stored_key_id(stored)} failed its integrity check"
        ) from None
    return f"{ring.newest_id}{SEPARATOR}{rotated}"
