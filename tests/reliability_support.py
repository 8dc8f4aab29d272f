"""Helpers for the reliability tests: a cuttable TCP path to PostgreSQL, a SQLite write lock, and
Celery workers whose log is kept for the test to read."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

from dashboard.runtime.launcher import spawn
from tests.test_workers_celery import CELERY, worker_env


class CuttableProxy:
    """A TCP forwarder on 127.0.0.1 to PostgreSQL. cut() drops every connection and refuses new
    ones (a database that went away); restore() forwards again. Only the processes pointed at
    the proxy lose the database: the shared server is never touched."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()  # the server "is down": the connection ends at once
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            doomed, self._open = list(self._open), set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stopped.set()
        self.cut()
        self._listener.close()


class SqliteWriteLock:
    """Another connection holding the database's write lock (BEGIN IMMEDIATE): writers wait
    SQLITE_BUSY_TIMEOUT_SECONDS, then fail with "database is locked"."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def cut(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def restore(self) -> None:
        self._db.execute("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")
        self._db.close()


def database_outage(redis_url: str):
    """(outage, env for workers): a cuttable path to this test's database, whichever it is."""
    if connection.vendor == "sqlite":
        return SqliteWriteLock(str(connection.settings_dict["NAME"])), {"SQLITE_BUSY_TIMEOUT_SECONDS": "1"}
    settings = connection.settings_dict
    proxy = CuttableProxy((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    parts = urlsplit(worker_env(redis_url)["DATABASE_URL"])
    netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    return proxy, {"DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}


def logged_worker(redis_url: str, queue: str, log: Path, concurrency: int = 2, **extra: str):
    """A Celery worker whose output goes to `log`, so a test can read what it said."""
    env = {**worker_env(redis_url), **extra}  # after: `extra` may re-point DATABASE_URL
    args = [CELERY, "-A", "dashboard", "worker", "-Q", queue, "-c", str(concurrency)]
    args += ["--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    args += ["--hostname", f"{log.stem}-{os.getpid()}@%h"]
    handle = log.open("w")
    return spawn(args, env, stdout=handle, stderr=subprocess.STDOUT)
