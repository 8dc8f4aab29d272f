"""HTTP layer: a threading HTTP/1.1 server with keep-alive, and the request pipeline
(latency -> faults -> route -> authenticate -> rate limit -> handler)."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .auth import Headers, authenticate
from .codes import ApiError, envelope
from .endpoints import ENDPOINTS, Request, parse_query
from .ratelimit import subject_for
from .scenario import Fault

if TYPE_CHECKING:
    from .core import Simulator

log = logging.getLogger(__name__)

# Unknown paths: HTTP 404 with an envelope whose code is empty, so clients that read `code`
# see a failure and clients that read the status see 404 (real OKX answers 404 too).
NOT_FOUND = json.dumps({"code": "", "msg": "Not Found", "data": []}).encode()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    drop: bool = False


def process(sim: Simulator, method: str, target: str, headers: Headers, body: str, client_ip: str) -> Reply:
    """The reply to one request: `target` is the path and query as received, `body` the decoded
    request body ("" if none), `client_ip` the peer's address (for IP whitelists and IP limits)."""
    path, _, query = target.partition("?")
    _wait(sim, sim.latency_s())
    fault = sim.faults.take(path)
    if fault is not None:
        _wait(sim, fault.delay or 0)
        if fault.drop:
            return Reply(drop=True)
        if fault.code is not None or fault.body is not None or fault.http_status is not None:
            return _fault_reply(fault.code, fault.msg, fault.http_status, fault.body)
    endpoint = ENDPOINTS.get(path)
    if endpoint is None:
        return Reply(404, NOT_FOUND)
    try:
        if method != "GET":
            raise ApiError("50115")
        params = parse_query(query)
        ex = sim.exchange
        key = None
        if endpoint.private:
            key = authenticate(ex, endpoint, headers, method, target, body, client_ip, sim.timestamp_window_s)
        subject = subject_for(path, key.key.uid if key else None, client_ip, params.get("instType", ""))
        if not sim.limiter.admit(path, subject):
            raise ApiError("50011")
        ex.ledger.catch_up(ex.clock.sim_ms())  # the scheduled money movements due by now
        data = endpoint.handler(Request(ex, params, key))
        if fault is not None and (fault.envelope is not None or fault.fields):
            return Reply(200, _malformed(fault, data))
        return Reply(200, envelope(data))
    except ApiError as err:
        return Reply(err.http_status, err.body())


def _fault_reply(code: str | None, msg: str | None, status: int | None, body: str | None) -> Reply:
    if body is not None:  # a raw body, e.g. a proxy's HTML error page
        return Reply(status or 200, body.encode(), content_type="text/html")
    if code is not None:
        err = ApiError(code, "", msg=msg, http_status=status)
        return Reply(err.http_status, err.body())
    return Reply(status or 500, f"{status} error".encode(), content_type="text/plain")


def _malformed(fault: Fault, data: list) -> bytes:
    """A malformed success (for the client's validation): the fault's whole `envelope`, or the
    real answer with `fields` set in every row. JSON allows NaN/Infinity only as strings here,
    so a value is served exactly as the test gave it."""
    if fault.envelope is not None:
        return json.dumps(fault.envelope).encode()
    for row in data:
        for path, value in (fault.fields or {}).items():
            _set(row, path.split("."), value)
    return envelope(data)


def _set(node: Any, path: list[str], value: Any) -> None:
    head, rest = path[0], path[1:]
    if isinstance(node, list):
        if not head.isdigit() or int(head) >= len(node):
            return  # the row has no such element: nothing to spoil
        if rest:
            _set(node[int(head)], rest, value)
        else:
            node[int(head)] = value
    elif isinstance(node, dict):
        if rest:
            if head in node:
                _set(node[head], rest, value)
        else:
            node[head] = value


def _wait(sim: Simulator, seconds: float) -> None:
    if seconds > 0:
        sim.stopping.wait(seconds)  # wakes early on stop() so a stalled request never hangs a test


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients expect
    timeout = 60  # idle keep-alive connections are closed after a minute
    server: SimServer

    def version_string(self) -> str:
        return "okx-simulator"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        reply = process(self.server.sim, self.command, self.path, self.headers, body, self.client_address[0])
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        # Headers and body in one write: two small writes meet the client's delayed ACK
        # (Nagle) and cost ~40 ms per request on keep-alive connections.
        self._headers_buffer.append(b"\r\n" + reply.body)  # type: ignore[attr-defined]  # made by send_response
        self.flush_headers()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.client_address[0], format % args)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: Simulator):
        self.sim = sim
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # A client that gave up (timeout, dropped socket) is routine here, not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s went away", client_address[0])
            return
        super().handle_error(request, client_address)

    def close_all(self) -> None:
        """Close kept-alive connections too, so stop() leaves no handler thread behind."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def jitter(fixed_ms: float, jitter_ms: float, rng: random.Random) -> float:
    return (fixed_ms + (rng.uniform(0, jitter_ms) if jitter_ms else 0)) / 1000
