"""Writing a detector's results in NAB's own format, so that NAB's tools (and nab_files) score them.

NAB reads `results/<detector>/<group>/<detector>_<name>.csv` with the columns
`timestamp,value,anomaly_score,label`: one row per data row, in the data file's order, with the data
file's own timestamps and values (kept as text, byte for byte), the detector's score, and NAB's
ground truth label (1 inside a labelled window, 0 outside). An alerting rule gives no graded score:
the score is 1 on the row at or after each firing onset (the page sent) and 0 elsewhere, so any
threshold in (0, 1] gives the same detections.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from vigil.backtest.nab import Window, window_spans
from vigil.backtest.nab_files import RESULTS_COLUMNS


def results_path(base: Path, detector: str, series: str) -> Path:
    """Where NAB looks for a detector's results of series "<group>/<name>.csv" under base (= results/)."""
    group, name = series.split("/", 1)
    return base / detector / group / f"{detector}_{name}"


def onset_rows(timestamps: Sequence[datetime], onsets: Sequence[datetime]) -> list[bool]:
    """A detection on the first row (in file order) at or after each onset; onsets after the last row are dropped.

    NAB's files step back in time once or twice (a re-sent hour); the first row whose time, or any
    earlier row's time, reaches the onset is the one a reader of the file meets first.
    """
    reached: list[datetime] = []
    for t in timestamps:
        reached.append(t if not reached or t > reached[-1] else reached[-1])
    flags = [False] * len(timestamps)
    for onset in onsets:
        i = bisect.bisect_left(reached, onset)
        if i < len(flags):
            flags[i] = True
    return flags


def write_results(
    path: Path,
    timestamps: Sequence[str],
    values: Sequence[str],
    detections: Sequence[bool],
    windows: Sequence[Window],
) -> None:
    """One series' results in NAB's format (timestamps and values as the data file writes them)."""
    parsed = [datetime.fromisoformat(t) for t in timestamps]
    labels = [0] * len(parsed)
    for first, last in window_spans(parsed, windows):
        for i in range(first, last + 1):
            labels[i] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(RESULTS_COLUMNS)
        for t, v, d, label in zip(timestamps, values, detections, labels, strict=True):
            writer.writerow([t, v, 1 if d else 0, label])
