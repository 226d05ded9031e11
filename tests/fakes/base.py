"""A small threaded HTTP server for fakes: routing by method and path pattern, auth, a request
log, and injectable faults (5xx answers and stalls longer than the client's timeout)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int
    body: Any = None
    content_type: str = "application/json"


@dataclass
class Fault:
    method: str | None       # None: any method
    path: str                # a prefix
    times: int
    status: int = 503        # answered instead of the real reply
    stall: float = 0.0       # seconds to sleep before answering (longer than the client's timeout)


Handler = Callable[[Request, re.Match[str]], Reply]


class FakeServer:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.log: list[tuple[str, str, int]] = []       # (method, path, status) of every request answered
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()),
                                  self.rfile.read(length) if length else b"")
                reply = fake.dispatch(request)
                if reply is None:     # a stall: the client gave up; answer nothing useful
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

            do_GET = do_POST = do_PUT = do_DELETE = _serve   # noqa: N815

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

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def inject(self, method: str | None, path: str, times: int = 1, status: int = 503, stall: float = 0.0) -> None:
        with self.lock:
            self.faults.append(Fault(method, path, times, status, stall))

    def authorised(self, request: Request) -> bool:
        return True

    def dispatch(self, request: Request) -> Reply | None:
        with self.lock:
            fault = next((f for f in self.faults if f.times > 0 and f.path and request.path.startswith(f.path)
                          and f.method in (None, request.method)), None)
            if fault:
                fault.times -= 1
        if fault and fault.stall:
            time.sleep(fault.stall)
            self._record(request, 0)
            return None
        if fault:
            reply = Reply(fault.status, {"message": "injected fault"})
        elif not self.authorised(request):
            reply = Reply(401, {"message": "Unauthorized"})
        else:
            reply = self._route(request)
        self._record(request, reply.status)
        return reply

    def _route(self, request: Request) -> Reply:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
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
