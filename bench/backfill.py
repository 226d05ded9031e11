"""Backfilling days of synthetic history for many services, fast enough for 1000 services × 7 days
(about 200 million samples), and the few things both bench/backtest.py and bench/evaluate.py read
from the Prometheus they start on it.

`write_openmetrics` writes exactly what `History.openmetrics` writes (bench/backtest.py checks it on
every run below 50 services) but formats each value function's samples once: the synthetic history
gives series with the same shape the same function object, so 20,000 series need a few hundred
formatted sample blocks, each written under every series label set that shares it.
`backfill` runs `promtool tsdb create-blocks-from openmetrics` with one block for the whole window:
promtool re-reads its whole input for every block it writes (84 times for 7 days of its default 2h
blocks), which at this size would take hours.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

from vigil import promql, tools
from vigil.backtest.history import History
from vigil.errors import BacktestError


def write_openmetrics(history: History, path: Path) -> None:
    blocks: dict[int, tuple[Callable[[int], float | None], str]] = {}  # id(value) → (value, "v t" lines)
    times = range(history.start, history.end + 1, history.step)
    with path.open("w") as f:
        for name, (kind, series) in sorted(history.families.items()):
            f.write(f"# TYPE {name} {'gauge' if kind == 'gauge' else 'unknown'}\n")
            for labels, value in sorted(series.items()):
                if id(value) not in blocks:  # the function is kept alongside, so its id is not reused
                    lines = [f" {v!r} {t}" for t in times if (v := value(t)) is not None]
                    blocks[id(value)] = (value, "\n".join(lines) and "\n" + "\n".join(lines))
                text = blocks[id(value)][1]
                if text:
                    prefix = name + "{" + promql.matchers(dict(labels)) + "}"
                    f.write(text.replace("\n", "\n" + prefix)[1:] + "\n")
        f.write("# EOF\n")


def backfill(history: History, data_dir: Path, work: Path) -> int:
    """The history into a Prometheus data directory with the real promtool; its size in bytes."""
    source = work / "history.om.txt"
    write_openmetrics(history, source)
    size = source.stat().st_size
    data_dir.mkdir(parents=True, exist_ok=True)
    hours = (history.end - history.start) // 3600 * 2 + 2  # one block (two when the window straddles one)
    result = tools.run(
        "promtool",
        ["tsdb", "create-blocks-from", "openmetrics", f"--max-block-duration={hours}h", str(source), str(data_dir)],
    )
    source.unlink()
    if not result.ok:
        raise BacktestError(f"promtool could not backfill {source}:\n{result.output[-2000:]}")
    return size


def start_prometheus(work: Path, data_dir: Path, config: str, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    """A real Prometheus on a free port over `data_dir` (history kept: 10y retention); its URL."""
    from vigil.backtest.client import BacktestAPI

    (work / "prometheus.yml").write_text(config)
    port = tools.free_port()
    proc = subprocess.Popen(
        [
            tools.find("prometheus"),
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={data_dir}",
            "--storage.tsdb.retention.time=10y",
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while not BacktestAPI(url).ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            tools.stop(proc, timeout=30)
            raise SystemExit("Prometheus did not become ready")
        time.sleep(0.5)
    return proc, url


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def samples_loaded(url: str) -> float:
    """prometheus_engine_query_samples_total: samples all queries have loaded so far."""
    for line in requests.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("prometheus_engine_query_samples_total"):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def version(url: str) -> str:
    return str(requests.get(f"{url}/api/v1/status/buildinfo", timeout=10).json()["data"]["version"])
