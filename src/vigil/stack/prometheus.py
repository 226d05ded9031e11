"""A real Prometheus started on this machine: for integration tests, previews and demos.

It scrapes the given targets and evaluates the given rule files; everything lives under one work
directory (config, TSDB, log), and `stop()` ends the process it started, and only that one.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import yaml

from vigil.errors import VigilError
from vigil import tools
from vigil.tools import free_port
from vigil.prometheus_api import PrometheusAPI


def config(jobs: dict[str, list[str]], rule_files: list[Path], interval: str) -> dict[str, object]:
    """A prometheus.yml scraping `jobs` ({job name: [host:port, ...]}) every `interval`."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                           for job, targets in sorted(jobs.items())],
    }


@dataclass
class PrometheusServer:
    url: str
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> PrometheusAPI:
        return PrometheusAPI(self.url)

    def stop(self) -> None:
        tools.stop(self.process)

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start(workdir: Path, jobs: dict[str, list[str]], rule_files: list[Path], *, interval: str = "1s",
          ready_timeout: float = 30.0) -> PrometheusServer:
    """Start Prometheus on a free loopback port and wait until it is ready (or raise, with its log)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config(jobs, rule_files, interval), sort_keys=False))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [tools.find("prometheus"), f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = PrometheusServer(f"http://127.0.0.1:{port}", workdir, process)
    api = server.api
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if api.ready():
            return server
        time.sleep(0.2)
    server.stop()
    raise VigilError(f"Prometheus did not become ready within {ready_timeout:.0f}s:\n{server.log()[-2000:]}")
