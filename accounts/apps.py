from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "OKX accounts"

    def ready(self) -> None:
        from accounts import crypto, signals  # noqa: F401  (signals: the login audit receivers)

        # Every process (web under gunicorn, workers, manage.py) stops here on a bad FERNET_KEYS,
        # rather than at the first credential it touches. System checks do not run under gunicorn.
        crypto.check_keys()
