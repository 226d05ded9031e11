"""A small threaded HTTP server for fakes: routing by method and path pattern, auth, a request
log, injectable faults (5xx answers and stalls longer than the client's timeout), an optional
latency, and what a test of a concurrent client needs: the most requests it ever had in flight at
once, the order requests started and ended, and a gate that holds requests until enough are in.

Per-request cost is kept small, as a real server's is, so that what a benchmark measures is the
client: bodies are parsed and replies serialised outside the fake's lock, and the lock is held
only while a handler reads or changes the fake's state. Handlers may return stored objects in
replies because stored objects are replaced, never changed in place.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    data: Any = None  # the body, parsed by the route's parser (outside the lock)
    error: Exception | None = None  # what that parser raised

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int
    body: Any = None
    content_type: str = "application/json"


@dataclass
class Fault:
    method: str | None  # None: any method
    path: str  # a prefix
    times: int
    status: int = 503  # answered instead of the real reply
    stall: float = 0.0  # seconds to sleep before answering (longer than the client's timeout)
    when: Callable[[Request], bool] | None = None  # only requests this accepts (e.g. one dashboard)


@dataclass
class Gate:
    """Holds the first `count` matching requests until `count` are waiting at once: proof that a
    client sends that many concurrently. A client that does not breaks it (after `timeout`, a
    safety net only, never a measurement) and those requests are answered 500."""

    method: str
    path: str
    count: int
    timeout: float = 10.0
    barrier: threading.Barrier = field(init=False)
    entered: int = 0
    broken: bool = False

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(self.count, timeout=self.timeout)


Handler = Callable[[Request, re.Match[str]], Reply]
Parser = Callable[[bytes], Any]


class FakeServer:
    def __init__(self, latency: float = 0.0) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler, Parser | None]] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request answered
        self.events: list[tuple[str, str, str]] = []  # ("start" | "end", method, path), in order
        self.faults: list[Fault] = []
        self.gates: list[Gate] = []
        self.latency = latency  # seconds every answer waits, outside the lock
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.RLock()
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two sends: with Nagle's algorithm and the client's delayed
            # ACK that adds ~40 ms to every answer, which no real server has.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    dict(self.headers.items()),
                    self.rfile.read(length) if length else b"",
                )
                fake._begin(request)
                try:
                    reply = fake.dispatch(request)
                    if reply is None:  # a stall: the client gave up; answer nothing useful
                        return
                    if isinstance(reply.body, (dict, list)):
                        payload = json.dumps(reply.body).encode()
                    elif isinstance(reply.body, str):
                        payload = reply.body.encode()
                    else:
                        payload = reply.body or b""
                    try:
                        self.send_response(reply.status)
                        self.send_header("Content-Type", reply.content_type)
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                finally:
                    fake._end(request)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, pattern: str, handler: Handler, parse: Parser | None = None) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler, parse))

    def inject(
        self,
        method: str | None,
        path: str,
        times: int = 1,
        status: int = 503,
        stall: float = 0.0,
        when: Callable[[Request], bool] | None = None,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(method, path, times, status, stall, when))

    def gate(self, method: str, path: str, count: int) -> Gate:
        gate = Gate(method, path, count)
        with self.lock:
            self.gates.append(gate)
        return gate

    def authorised(self, request: Request) -> bool:
        return True

    def _begin(self, request: Request) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.events.append(("start", request.method, request.path))

    def _end(self, request: Request) -> None:
        with self.lock:
            self.in_flight -= 1
            self.events.append(("end", request.method, request.path))

    def dispatch(self, request: Request) -> Reply | None:
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.times > 0
                    and f.path
                    and request.path.startswith(f.path)
                    and f.method in (None, request.method)
                    and (f.when is None or f.when(request))
                ),
                None,
            )
            if fault:
                fault.times -= 1
            gate = next(
                (
                    g
                    for g in self.gates
                    if g.entered < g.count and g.method == request.method and request.path.startswith(g.path)
                ),
                None,
            )
            if gate:
                gate.entered += 1
        if gate and not self._wait(gate):
            reply = Reply(500, {"message": "gate broken: fewer concurrent requests than the test expects"})
            self._record(request, reply.status)
            return reply
        if fault and fault.stall:
            self._record(request, 0)  # now: the client may have given up and finished before the sleep ends
            time.sleep(fault.stall)
            return None
        if fault:
            reply = Reply(fault.status, {"message": "injected fault"})
        elif not self.authorised(request):
            reply = Reply(401, {"message": "Unauthorized"})
        else:
            reply = self._route(request)
        self._record(request, reply.status)
        return reply

    def _wait(self, gate: Gate) -> bool:
        try:
            gate.barrier.wait()
            return True
        except threading.BrokenBarrierError:
            gate.broken = True
            return False

    def _route(self, request: Request) -> Reply:
        for method, pattern, handler, parse in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                if parse is not None and request.body:
                    try:
                        request.data = parse(request.body)
                    except Exception as e:
                        request.error = e
                with self.lock:
                    return handler(request, match)
        return Reply(404, {"message": "Not found"})

    def _record(self, request: Request, status: int) -> None:
        with self.lock:
            self.log.append((request.method, request.path, status))

    def writes(self) -> list[tuple[str, str, int]]:
        """Every request that could change state (anything but GET), answered or not."""
        with self.lock:
            return [entry for entry in self.log if entry[0] != "GET"]


def basic_auth(request: Request) -> tuple[str, str] | None:
    value = request.headers.get("Authorization", "")
    if not value.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    return user, password
