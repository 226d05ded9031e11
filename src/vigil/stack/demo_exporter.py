"""The demo exporter: every service of a catalog, simulated with its profiles' metrics, one
scrape path per service (/metrics/<service>), and an endpoint to break them.

    POST   /fault?service=checkout&kind=error_spike[&ramp=60]   start a fault; answers its start time
    DELETE /fault?service=checkout                              clear the service's faults
    GET    /faults                                              the active faults
    GET    /metrics/<service>                                   what Prometheus scrapes

Kinds: error_spike, latency (at once), memory_leak (a slow climb over `ramp` seconds), dead (the
scrape fails, so `up` is 0). Run as `python -m vigil.stack.demo_exporter --port P --spec FILE`.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from vigil.stack.demo_metrics import EXTRAS, PROFILES, Faults, Sim
from vigil.stack.httpd import QuietHandler, local_server

KINDS = ("error_spike", "latency", "memory_leak", "dead")
RAMPED = {"memory_leak"}
TICK = 0.25


@dataclass
class Fault:
    kind: str
    started: float  # unix time
    ramp: float

    def severity(self, now: float) -> float:
        if self.kind not in RAMPED or self.ramp <= 0:
            return 1.0
        return min(max((now - self.started) / self.ramp, 0.0), 1.0)


@dataclass
class SimulatedService:
    name: str
    registry: CollectorRegistry
    sims: list[Sim]
    faults: dict[str, Fault] = field(default_factory=dict)

    def kinds(self) -> list[str]:
        return sorted({k for s in self.sims for k in s.kinds} | {"dead"})

    def step(self, dt: float, now: float) -> None:
        current: Faults = {k: f.severity(now) for k, f in self.faults.items()}
        for sim in self.sims:
            sim.step(dt, current)


def services_from_spec(spec: list[dict[str, Any]], seed: int = 7) -> dict[str, SimulatedService]:
    """spec: [{name, profiles: [...], exprs: [...]}] (stack/local.py writes it from the catalog)."""
    out = {}
    for i, svc in enumerate(spec):
        registry, rnd = CollectorRegistry(), random.Random(seed + i)
        sims = [PROFILES[p](registry, rnd) for p in svc["profiles"] if p in PROFILES]
        sims += [make(registry, rnd) for metric, make in EXTRAS.items() if any(metric in e for e in svc["exprs"])]
        out[svc["name"]] = SimulatedService(svc["name"], registry, sims)
    return out


class DemoExporter:
    def __init__(self, services: dict[str, SimulatedService]):
        self.services = services
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        for svc in services.values():
            svc.step(1.0, time.time())

    def run(self) -> None:
        last = time.monotonic()
        while not self.stopped.wait(TICK):
            now = time.monotonic()
            with self.lock:
                for svc in self.services.values():
                    svc.step(now - last, time.time())
            last = now

    def fault(self, service: str, kind: str, ramp: float) -> tuple[int, dict[str, Any]]:
        svc = self.services.get(service)
        if svc is None:
            return 404, {"error": f"no service {service}", "services": sorted(self.services)}
        if kind not in svc.kinds():
            return 400, {"error": f"{service} cannot show {kind}", "kinds": svc.kinds()}
        with self.lock:
            svc.faults[kind] = Fault(kind, time.time(), ramp)
        return 200, {"service": service, "kind": kind, "started": svc.faults[kind].started, "ramp": ramp}

    def clear(self, service: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            cleared = sorted(self.services[service].faults) if service in self.services else []
            if service in self.services:
                self.services[service].faults.clear()
        return 200, {"service": service, "cleared": cleared}

    def active(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"service": s.name, "kind": f.kind, "started": f.started, "ramp": f.ramp}
                for s in self.services.values()
                for f in s.faults.values()
            ]

    def scrape(self, service: str) -> tuple[int, bytes]:
        svc = self.services.get(service)
        if svc is None:
            return 404, b"no such service\n"
        if "dead" in svc.faults:
            return 503, b"exporter down (injected fault)\n"
        with self.lock:
            return 200, generate_latest(svc.registry)


def serve(exporter: DemoExporter, port: int) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/metrics/"):
                status, body = exporter.scrape(path.removeprefix("/metrics/"))
                self._send(status, body, CONTENT_TYPE_LATEST if status == 200 else "text/plain")
            elif path == "/faults":
                self._json(200, exporter.active())
            elif path == "/-/ready":
                self._json(200, {"services": sorted(exporter.services)})
            else:
                self._json(404, {"error": "try /metrics/<service>, /faults, POST /fault"})

        def do_POST(self) -> None:
            q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if urlsplit(self.path).path != "/fault" or "service" not in q or q.get("kind") not in KINDS:
                return self._json(400, {"error": f"POST /fault?service=S&kind=one of {', '.join(KINDS)}"})
            self._json(*exporter.fault(q["service"], q["kind"], float(q.get("ramp", 60))))

        def do_DELETE(self) -> None:
            q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            self._json(*exporter.clear(q.get("service", "")))

    return local_server(port, Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    exporter = DemoExporter(services_from_spec(json.loads(args.spec.read_text())))
    threading.Thread(target=exporter.run, daemon=True).start()
    serve(exporter, args.port).serve_forever()


if __name__ == "__main__":
    main()
