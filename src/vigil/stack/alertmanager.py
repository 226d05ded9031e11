"""A real Alertmanager on 127.0.0.1, for integration tests and local trials.

`running(config, workdir, port)` starts it with clustering off and its state in `workdir`, waits
until it answers /-/ready, and always stops it on the way out, whatever happened in between.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from vigil import tools
from vigil.errors import VigilError


class AlertmanagerError(VigilError):
    """Alertmanager did not start (bad config, port taken): its log says why."""


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, attempts: int = 200) -> None:
    """Poll /-/ready a bounded number of times; fail early, with the log, if the process died."""
    for _ in range(attempts):
        if proc.poll() is not None:
            raise AlertmanagerError(f"Alertmanager exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise AlertmanagerError(
        f"Alertmanager at {url} not ready after {attempts} attempts:\n{log.read_text(errors='replace')}"
    )


@contextmanager
def running(config: Path, workdir: Path, port: int) -> Iterator[str]:
    """Run Alertmanager with `config` on 127.0.0.1:port; yield its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "alertmanager.log"
    args = [
        tools.find("alertmanager"),
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        tools.stop(proc, timeout=10)
