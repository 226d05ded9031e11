"""The real Prometheus and Alertmanager command-line tools, found and run.

Only this package (and deploy/) starts processes. Everything here is a thin, typed wrapper: find a
binary, run it, hand back its exit code and output.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vigil.errors import ToolMissingError

INSTALL_HINT = (
    "run `make tools` (scripts/tools.sh) in vigil's repository, which unpacks Debian's "
    "packages into .tools/, or put the upstream binaries on PATH"
)
# Where scripts/tools.sh unpacks the tools; its current generation is used when PATH has none.
TOOLS_DIR_ENV = "VIGIL_TOOLS_DIR"
# Debian names the Alertmanager daemon prometheus-alertmanager; upstream tarballs call it alertmanager.
ALIASES = {"alertmanager": ("alertmanager", "prometheus-alertmanager")}


def find(tool: str) -> str:
    """Absolute path of a tool on PATH, or ToolMissingError saying how to install it."""
    fallback = Path(os.environ.get(TOOLS_DIR_ENV, ".tools")) / "current" / "bin"
    for name in ALIASES.get(tool, (tool,)):
        path = shutil.which(name) or shutil.which(name, path=str(fallback))
        if path:
            return str(Path(path).absolute())
    raise ToolMissingError(f"`{tool}` not found on PATH; {INSTALL_HINT}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a process vigil starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    args: list[str]
    returncode: int
    output: str  # stdout and stderr together, as a person would read them

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(
    tool: str, args: Sequence[str], cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> Result:
    """`env`: extra environment variables for this run only."""
    cmd = [find(tool), *args]
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
    return Result(cmd, proc.returncode, proc.stdout)


def chunks(items: Sequence[str], parts: int) -> list[list[str]]:
    """Split items into at most `parts` interleaved, non-empty chunks (for parallel runs)."""
    parts = max(1, min(parts, len(items)))
    return [list(items[i::parts]) for i in range(parts)]


def run_parallel(
    tool: str,
    prefix: Sequence[str],
    files: Sequence[str],
    cwd: Path | None = None,
    workers: int | None = None,
    env: dict[str, str] | None = None,
) -> list[Result]:
    """Run `tool prefix... files...` with the files split over one process per core."""
    if not files:
        return []
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda part: run(tool, [*prefix, *part], cwd=cwd, env=env), chunks(files, workers)))


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Stop a process we started: SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def version(tool: str) -> str:
    """The first line of `tool --version` for the binary PATH gives now ("missing" if none); asked
    once per process and binary, since check caches key their results by it."""
    try:
        return _version_of(find(tool))
    except ToolMissingError:
        return "missing"


@cache
def _version_of(path: str) -> str:
    proc = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = proc.stdout.splitlines()
    return lines[0] if lines else "missing"


def versions(tools: Iterable[str]) -> dict[str, str]:
    out = {}
    for tool in tools:
        try:
            out[tool] = run(tool, ["--version"]).output.splitlines()[0]
        except (ToolMissingError, IndexError):
            out[tool] = "missing"
    return out
