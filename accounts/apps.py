from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "OKX accounts"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (login audit receivers)

        checks.register(check_fernet_keys, checks.Tags.security)


def check_fernet_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Stop start-up (runserver, migrate, check) when FERNET_KEYS cannot be used."""
    from accounts.crypto import FernetKeysError, check_keys

    try:
        check_keys()
    except FernetKeysError as error:
        return [checks.Error(str(error), hint="Set FERNET_KEYS, newest key first.", id="accounts.E001")]
    return []
