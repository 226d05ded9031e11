"""What the `or` of every convention costs: one service's rules with its conventions pinned, and the
same service unpinned (every convention's expr joined with `or`), both in one real Prometheus that
scrapes a real exporter sample (Spring Boot 3.3, ../shared/exporters/) served on 127.0.0.1.

Prints each rule group's mean `evaluationTime` over the cycles observed, from /api/v1/rules.
Usage: .venv/bin/python bench/conventions.py [--seconds 60]  (Prometheus from .tools/current).
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

from vigil import tools
from vigil.build import build

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "exporters" / "micrometer-1.13plus-spring-boot-default.prom"
SERVICES = {
    "pinned": "[{name: spring-http, convention: micrometer}, {name: jvm, convention: micrometer}]",
    "joined": "[spring-http, jvm]",
}


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    bins = [ROOT / ".tools/current/bin", ROOT / ".tools/jsonnet/bin"]
    os.environ["PATH"] = os.pathsep.join([*map(str, bins), os.environ["PATH"]])
    body = SAMPLE.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    with tempfile.TemporaryDirectory(prefix="vigil-bench-conv-") as tmp:
        work = Path(tmp)
        catalog = work / "catalog"
        shutil.copytree(ROOT / "catalog", catalog)
        for f in (catalog / "services").glob("*.yaml"):
            f.unlink()
        for name, profiles in SERVICES.items():
            (catalog / "services" / f"{name}.yaml").write_text(
                f"name: {name}\nowner: commerce-dev\nselector: {{job: sample}}\nprofiles: {profiles}\n")
        build(catalog, work / "out", run_checks=False, run_tests=False)
        exporter = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=exporter.serve_forever, daemon=True).start()
        port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(work / "out/prometheus/rules" / f"{n}.yaml") for n in SERVICES],
                  "scrape_configs": [{"job_name": "sample", "static_configs": [
                      {"targets": [f"127.0.0.1:{exporter.server_address[1]}"]}]}]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        proc = subprocess.Popen([tools.find("prometheus"), f"--config.file={work / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            seen: dict[str, dict[str, float]] = {}
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                time.sleep(1)
                try:
                    groups = requests.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5).json()["data"]["groups"]
                except (requests.RequestException, ValueError, KeyError):
                    continue
                for g in groups:
                    if g["name"] in ("vigil-pinned", "vigil-joined") and g.get("lastEvaluation", "").startswith("20"):
                        seen.setdefault(g["name"], {})[g["lastEvaluation"]] = g["evaluationTime"]
            for name in ("vigil-pinned", "vigil-joined"):
                times = list(seen.get(name, {}).values())[3:]  # skip the first cycles (head, caches warming)
                print(f"{name}: {len(times)} cycles, mean {statistics.mean(times) * 1e3:.3f} ms, "
                      f"median {statistics.median(times) * 1e3:.3f} ms")
        finally:
            tools.stop(proc)
            exporter.shutdown()
            exporter.server_close()


if __name__ == "__main__":
    main()
