"""Synthetic history for backtests: series written as OpenMetrics (for `promtool tsdb
create-blocks-from openmetrics`, which backfills a Prometheus) and as Prometheus text with
millisecond timestamps (for VictoriaMetrics' /api/v1/import/prometheus). Tests and bench/ use it
to give a real Prometheus and a real VictoriaMetrics the same samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vigil import promql, tools
from vigil.errors import BacktestError


@dataclass
class History:
    start: int  # unix seconds of the first sample
    end: int  # unix seconds, inclusive
    step: int  # seconds between samples
    families: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], Callable[[int], float | None]]]] = field(
        default_factory=dict
    )  # metric name → (type, {labels: value at t, None = no sample})

    def add(self, name: str, kind: str, labels: dict[str, str], value: Callable[[int], float | None]) -> None:
        self.families.setdefault(name, (kind, {}))[1][tuple(sorted(labels.items()))] = value

    def counter(self, name: str, labels: dict[str, str], rate: Callable[[int], float]) -> None:
        """A counter whose per-second rate between samples is rate(t); precomputed, so it is exact."""
        total, values = 0.0, {}
        for t in range(self.start, self.end + 1, self.step):
            values[t] = total
            total += rate(t) * self.step
        self.add(name, "counter", labels, values.__getitem__)

    def _samples(self) -> Iterator[tuple[str, str, str, float, int]]:
        for name, (kind, series) in sorted(self.families.items()):
            for labels, value in sorted(series.items()):
                text = "{" + promql.matchers(dict(labels)) + "}"
                for t in range(self.start, self.end + 1, self.step):
                    v = value(t)
                    if v is not None:
                        yield name, kind, text, v, t

    def openmetrics(self, path: Path) -> None:
        with path.open("w") as f:
            current = None
            for name, kind, labels, v, t in self._samples():
                if name != current:
                    f.write(f"# TYPE {name} {'gauge' if kind == 'gauge' else 'unknown'}\n")
                    current = name
                f.write(f"{name}{labels} {v!r} {t}\n")
            f.write("# EOF\n")

    def prometheus_text(self) -> Iterator[str]:
        """Lines of Prometheus text format, timestamps in milliseconds."""
        for name, _, labels, v, t in self._samples():
            yield f"{name}{labels} {v!r} {t * 1000}\n"


def backfill(history: History, data_dir: Path, work: Path, max_block_duration: str | None = None) -> None:
    """Write the history into a Prometheus data directory with the real promtool.

    promtool reads the whole input once per block (2h by default), so months of history want
    longer blocks (`max_block_duration`, e.g. "744h"; Prometheus needs a long enough retention)."""
    source = work / "history.om.txt"
    history.openmetrics(source)
    data_dir.mkdir(parents=True, exist_ok=True)
    extra = [f"--max-block-duration={max_block_duration}"] if max_block_duration else []
    result = tools.run("promtool", ["tsdb", "create-blocks-from", "openmetrics", *extra, str(source), str(data_dir)])
    if not result.ok:
        raise BacktestError(f"promtool could not backfill {source}:\n{result.output[-2000:]}")
