"""Django's SQLite backend, with the database file kept private (mode 0600, like the key files
under var/): it holds session keys and API tokens. settings.py uses this engine for every SQLite
database, whichever way it is named (the default under var/, SQLITE_PATH or DATABASE_URL).

The file is created 0600 before SQLite opens it; SQLite then gives its -wal and -shm files the
same mode. A file left readable by an earlier version is narrowed to 0600 on the next connection.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base

PRIVATE_MODE = 0o600
COMPANIONS = ("", "-wal", "-shm", "-journal")


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        path = None if self.is_in_memory_db() else Path(str(self.settings_dict["NAME"]))
        if path is not None:
            make_private(path)
        connection = super().get_new_connection(conn_params)
        if path is not None:
            narrow_companions(path)
        return connection


def make_private(path: Path) -> None:
    """Create the database file with mode 0600 if it is missing; narrow it to 0600 if not.

    An existing file is never opened here, only chmod-ed: SQLite's locks are POSIX advisory
    locks, and closing any descriptor of the file drops every lock this process holds on it, so
    an open-and-close beside another thread's live connection could let a third process
    checkpoint or delete the WAL under it ("database disk image is malformed")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # O_EXCL: created here, by this call, before any connection can hold a lock on it.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    narrow_companions(path)


def narrow_companions(path: Path) -> None:
    """chmod 0600 the database file and its -wal, -shm and -journal files where they exist."""
    for suffix in COMPANIONS:
        companion = path.with_name(path.name + suffix)
        # Gone meanwhile (SQLite removes a journal), or owned by another user: nothing to narrow.
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if companion.stat().st_mode & 0o777 != PRIVATE_MODE:
                companion.chmod(PRIVATE_MODE)
