"""A tiny real HTTP server on 127.0.0.1 that tests script, one reply at a time: the one seam at
which the okxapi tests fake OKX. Real sockets, so resets, stalls and TLS mismatches are real.

Each request is recorded exactly as received (raw path with its query string, headers, time),
and signatures are checked with hashlib/hmac directly, independent of okxapi.signing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIME_PATH = "/api/v5/public/time"

Action = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Received:
    method: str
    raw_path: str  # path + query exactly as on the request line
    headers: dict[str, str]
    at: float  # server wall clock when the request line arrived

    @property
    def path(self) -> str:
        return self.raw_path.split("?", 1)[0]


def expected_signature(secret: str, timestamp: str, method: str, raw_path: str, body: str = "") -> str:
    message = f"{timestamp}{method}{raw_path}{body}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def reply(status: int = 200, body: object = None, headers: dict[str, str] | None = None) -> Action:
    """A JSON reply; `body` defaults to a successful empty envelope."""
    payload = {"code": "0", "msg": "", "data": []} if body is None else body
    return raw(status, json.dumps(payload).encode(), "application/json", headers)


def ok(data: list) -> Action:
    return reply(200, {"code": "0", "msg": "", "data": data})


def okx_error(code: str | int, msg: str, status: int = 200, headers: dict[str, str] | None = None) -> Action:
    return reply(status, {"code": code, "msg": msg, "data": []}, headers)


def raw(
    status: int, body: bytes, content_type: str = "text/html", headers: dict[str, str] | None = None
) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return act


def reset() -> Action:
    """Abort the TCP connection (RST) without answering."""

    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.connection.close()

    return act


def stall(seconds: float) -> Action:
    """Say nothing for a while, then close: the client's read timeout fires first."""

    def act(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        handler.close_connection = True

    return act


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.fake.handle(self)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOkx


# Unscripted single-object endpoints answer OKX's smallest valid object (an empty account): OKX
# documents exactly one object there, and the client refuses `data: []` as malformed.
EMPTY_BALANCE = {"totalEq": "0", "uTime": "1700000000000", "details": []}
DEFAULT_OBJECTS = {
    "/api/v5/account/balance": EMPTY_BALANCE,
    "/api/v5/account/subaccount/balances": EMPTY_BALANCE,
    "/api/v5/account/config": {"uid": "1000", "mainUid": "1000", "perm": "read_only", "ip": "", "label": ""},
    "/api/v5/asset/asset-valuation": {"totalBal": "0", "ts": "1700000000000", "details": {}},
}


class FakeOkx:
    """Scripted OKX: queue actions per path; unscripted paths answer an empty success (one empty
    object where OKX documents exactly one, DEFAULT_OBJECTS), and the time endpoint answers this
    server's clock shifted by `clock_offset_ms`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.clock_offset_ms = 0
        self.max_skew_ms: int | None = None  # when set, signed calls outside it get 50102
        self._script: dict[str, deque[Action]] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeOkx:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def script(self, path: str, *actions: Action) -> None:
        with self._lock:
            self._script.setdefault(path, deque()).extend(actions)

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        received = Received("GET", handler.path, dict(handler.headers.items()), time.time())
        with self._lock:
            self.received.append(received)
            queue = self._script.get(received.path)
            action = queue.popleft() if queue else None
        if action is None:
            action = self._default(received)
        action(handler)

    def _default(self, received: Received) -> Action:
        if received.path == TIME_PATH:
            return ok([{"ts": str(self.now_ms())}])
        stamp = received.headers.get("OK-ACCESS-TIMESTAMP")
        skew = abs(_epoch_ms(stamp) - self.now_ms()) if stamp else 0
        if self.max_skew_ms is not None and skew > self.max_skew_ms:
            return okx_error("50102", "Timestamp request expired.", 401)
        if received.path in DEFAULT_OBJECTS:
            return ok([DEFAULT_OBJECTS[received.path]])
        return reply()


def _epoch_ms(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
