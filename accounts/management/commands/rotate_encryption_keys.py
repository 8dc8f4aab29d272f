"""Re-encrypt every stored secret with the newest key in FERNET_KEYS.

1. Put the new key first in FERNET_KEYS, keep the old ones after it; restart web and workers.
2. Run this command. Each row is locked and updated only if it is unchanged since it was read,
   so it is safe while workers run; a second run rewrites nothing.
3. When the report shows 0 values under an old key id, remove that key from FERNET_KEYS.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts import crypto
from accounts.audit import AuditAction, AuditEvent
from accounts.models import Credential


class Command(BaseCommand):
    help = "Re-encrypt every stored credential secret with the newest FERNET_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        newest = crypto.keyring().newest_id
        changed = failed = 0
        for pk in Credential.objects.needing_reencryption().values_list("pk", flat=True).iterator():
            try:
                changed += Credential(pk=pk).reencrypt()
            except crypto.DecryptionError as error:
                failed += 1
                self.stderr.write(self.style.ERROR(f"credential {pk}: {error}"))
        if changed:
            AuditEvent.record(
                AuditAction.ENCRYPTION_ROTATE,
                actor_name=f"manage.py rotate_encryption_keys ({getpass.getuser()})",
                detail=f"{changed} credentials re-encrypted under {newest}",
            )
        self.stdout.write(f"Re-encrypted {changed} credentials under key id {newest}.")
        self._report()
        if failed:
            raise CommandError(f"{failed} credentials could not be decrypted with the configured keys")

    def _report(self) -> None:
        configured = crypto.keyring().fernets
        for key_id, count in sorted(Credential.objects.encryption_key_counts().items()):
            state = "configured" if key_id in configured else "NOT CONFIGURED"
            self.stdout.write(f"  {key_id}: {count} values ({state})")
