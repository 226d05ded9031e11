"""The webhook sink: Alertmanager's webhook receiver for every department channel of the local
stack. Each notification is kept (in memory and appended to a JSON-lines file) with the time it
arrived and the channel it was sent to (the URL path, /<department>/<channel>).

    POST /<department>/<channel>   Alertmanager's webhook payload
    GET  /notifications[?since=N]  what arrived, in order (N: skip the first N)

Run as `python -m vigil.stack.sink --port P --log FILE`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vigil.stack.httpd import QuietHandler, local_server


class Sink:
    def __init__(self, log: Path | None = None):
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.log = log

    def record(self, path: str, payload: dict[str, Any]) -> None:
        entry = {
            "received": time.time(),
            "channel": path.strip("/"),
            "receiver": payload.get("receiver"),
            "status": payload.get("status"),
            "alerts": [
                {"labels": a.get("labels", {}), "status": a.get("status"), "startsAt": a.get("startsAt")}
                for a in payload.get("alerts", [])
            ],
        }
        with self.lock:
            self.received.append(entry)
            if self.log:
                with self.log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    def since(self, n: int) -> list[dict[str, Any]]:
        with self.lock:
            return self.received[n:]


def serve(sink: Sink, port: int) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            except ValueError:
                return self._json(400, {"error": "not JSON"})
            sink.record(urlsplit(self.path).path, payload)
            self._json(200, {"ok": True})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/notifications":
                since = int(parse_qs(parts.query).get("since", ["0"])[0])
                return self._json(200, sink.since(since))
            if parts.path == "/-/ready":
                return self._json(200, {"ok": True})
            self._json(404, {"error": "GET /notifications"})

    return local_server(port, Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args()
    serve(Sink(args.log), args.port).serve_forever()


if __name__ == "__main__":
    main()
