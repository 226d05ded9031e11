"""The detector lab: candidate anomaly detectors, written as the PromQL vigil would deploy, scored on
the Numenta Anomaly Benchmark (NAB) in a real Prometheus.

All 58 NAB series (../shared/real-incidents, never copied here) are backfilled into ONE Prometheus
(`promtool tsdb create-blocks-from openmetrics`, ten years' retention) as `nab_value{series="<group>/<name>"}`.
Each series is shifted by a whole number of weeks, so that it ends in the week before now and keeps
its time of day and day of week (a seasonal `offset 1d` / `offset 1w` still means what it meant).
NAB's rows are 5 minutes apart; each is held for 1 minute steps until the next row (at most 5
minutes past the last one), so a 5-minute lookback never falls into a gap between rows.

A candidate is an alert expression over `nab_value` plus `for` and `keep_firing_for`, evaluated
with vigil.backtest.evaluate (range queries) and its replay of Prometheus's `for` /
`keep_firing_for` state machine. It is evaluated every 5 minutes, NAB's row interval, rather than
at vigil's 1-minute evaluation interval: between two rows a 1-minute evaluation sees the same held
value, so onsets move by less than one row, and the 2-core machine this runs on (shared, loaded)
cannot afford five times the queries. The baselines that vigil records in its 5m group are written
inline, over the week at one point per row (`[1w:5m]`, the same average as the 1-minute samples,
which repeat each row five times); a quantile baseline reads one point an hour (`[1w:1h]`, 168
points), which is what keeps it cheap enough to deploy. Each firing's onset becomes a detection on
the first NAB row at or after it; vigil.backtest.nab scores the detections under NAB's three
profiles, normalised as NAB does (null detector 0, perfect 100). NAB's own scoreboard (standard
profile): Windowed Gaussian 39.6, Twitter ADVec 47.1, Skyline 58.2, HTM 70.5.

    .venv/bin/python bench/detectors.py                 # every candidate
    .venv/bin/python bench/detectors.py zscore robust   # only those whose name starts so
    .venv/bin/python bench/detectors.py --data /tmp/nab # keep the backfilled TSDB for the next run
"""

from __future__ import annotations

import argparse
import bisect
import csv
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, Timer, machine, write_section

NAB = ROOT.parent / "shared" / "real-incidents"
WEEK = 7 * 86400
HOLD = 60  # seconds between the held samples of one NAB row
ROW = 300  # NAB's row interval
METRIC = "nab_value"
INTERVAL = 300.0  # seconds between evaluations: NAB's row interval (see the module doc)
RES = "5m"  # the resolution of a baseline over the week: one point per NAB row
X = METRIC


@dataclass(frozen=True)
class Candidate:
    name: str
    expr: str  # over METRIC, every series at once
    for_: str = "15m"
    keep_firing_for: str = "0s"
    note: str = ""


def zscore(k: float, baseline: str = "1w", skip: str = "1h", x: str = X) -> str:
    """vigil's anomaly alert today: outside avg ± k·stddev of the baseline (generators/lib/metric_rules)."""
    avg = f"avg_over_time({X}[{baseline}:{RES}] offset {skip})"
    sd = f"stddev_over_time({X}[{baseline}:{RES}] offset {skip})"
    return f"abs({x} - {avg}) > {k} * ({sd} > 0)"


def quantile(q: float, baseline: str = "1w", skip: str = "1h", res: str = "1h") -> str:
    return f"quantile_over_time({q}, {X}[{baseline}:{res}] offset {skip})"


def robust(k: float, lo: float = 0.25, hi: float = 0.75, baseline: str = "1w", res: str = "1h", x: str = X) -> str:
    """Outside [q_lo - k·spread, q_hi + k·spread], spread = q_hi - q_lo of the baseline (Tukey's fences)."""
    ql, qh = quantile(lo, baseline, res=res), quantile(hi, baseline, res=res)
    return f"{x} > {qh} + {k} * ({qh} - {ql} > 0) or {x} < {ql} - {k} * ({qh} - {ql} > 0)"


def candidates() -> list[Candidate]:
    keep = "1h"
    mean30 = f"avg_over_time({X}[30m])"
    return [
        Candidate("zscore3", zscore(3), note="the anomaly alert's default before this lab (sensitivity 3, for 15m)"),
        Candidate("zscore3_for0_keep", zscore(3), "0s", keep),
        Candidate("zscore3_keep", zscore(3), "15m", keep, note="hysteresis"),
        Candidate("zscore3_keep2h", zscore(3), "15m", "2h"),
        Candidate("zscore3_keep4h", zscore(3), "15m", "4h"),
        Candidate("zscore3_for10m", zscore(3), "10m"),
        Candidate("zscore3_for10m_keep1h", zscore(3), "10m", keep),
        Candidate("zscore3_for10m_keep2h", zscore(3), "10m", "2h"),
        Candidate("zscore3_for10m_keep4h", zscore(3), "10m", "4h"),
        Candidate("zscore3_for5m_keep2h", zscore(3), "5m", "2h", note="the new default (defaults.yaml)"),
        Candidate("zscore2.5_keep2h", zscore(2.5), "15m", "2h"),
        Candidate("zscore3.5_keep2h", zscore(3.5), "15m", "2h"),
        Candidate("robust_iqr3", robust(3)),
        Candidate("robust_iqr2", robust(2)),
        Candidate("robust_iqr1.5", robust(1.5)),
        Candidate("robust_iqr3_keep", robust(3), "15m", keep),
        Candidate("robust_iqr5_for0_keep", robust(5), "0s", keep),
        Candidate("robust_q01_99_k1", robust(1, 0.01, 0.99)),
        Candidate("robust_q05_95_k1", robust(1, 0.05, 0.95)),
        Candidate(
            "multiwindow_keep",
            f"({robust(2, x=mean30)}) and ({robust(2)})",
            "15m",
            keep,
            note="the value and its 30m average both beyond 2 spreads",
        ),
        Candidate(
            "seasonal_zscore3",
            f"({zscore(3)}) and ({zscore(3, skip='1d')})",
            note="beyond 3σ of the week before the last hour and of the week before a day ago",
        ),
    ]


# --- NAB's series, shifted and held -------------------------------------------------------------


@dataclass
class Series:
    key: str  # "<group>/<name>.csv", as NAB's windows name it
    label: str  # the series label
    times: list[datetime]  # NAB's naive timestamps, file order
    values: list[float]
    shift: int  # seconds added to each (UTC-read) timestamp

    def shifted(self) -> list[int]:
        return [int(t.replace(tzinfo=UTC).timestamp()) + self.shift for t in self.times]


def load_series(end: int) -> list[Series]:
    from vigil.backtest.nab_files import parse_timestamp

    out = []
    for path in sorted((NAB / "data").glob("*/*.csv")):
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        times = [parse_timestamp(r["timestamp"]) for r in rows]
        values = [float(r["value"]) for r in rows]
        last = int(max(times).replace(tzinfo=UTC).timestamp())
        # Whole weeks, plus under 5 minutes so that rows fall on the 5-minute evaluations.
        shift = ((end - last) // WEEK) * WEEK
        shift -= (last + shift) % ROW
        out.append(Series(f"{path.parent.name}/{path.name}", f"{path.parent.name}/{path.stem}", times, values, shift))
    return out


def held(s: Series) -> Callable[[int], float | None]:
    """The value at t: the latest row at or before t, held until the next row (at most ROW seconds)."""
    stamps = s.shifted()
    order = sorted(range(len(stamps)), key=lambda i: stamps[i])  # NAB's files sometimes go back (DST)
    ts = [stamps[i] for i in order]
    vs = [s.values[i] for i in order]

    def value(t: int) -> float | None:
        i = bisect.bisect_right(ts, t) - 1
        if i < 0 or t - ts[i] >= (ts[i + 1] - ts[i] if i + 1 < len(ts) else ROW):
            return None
        return vs[i]

    return value


def detections(s: Series, onsets_ms: list[int]) -> list[bool]:
    """A detection on the first row at or after each firing's onset."""
    stamps = s.shifted()
    flags = [False] * len(stamps)
    order = sorted(range(len(stamps)), key=lambda i: stamps[i])
    ts = [stamps[i] for i in order]
    for onset in onsets_ms:
        i = bisect.bisect_left(ts, -(-onset // 1000))
        if i < len(ts):
            flags[order[i]] = True
    return flags


# --- running ----------------------------------------------------------------------------------


def main(prefixes: list[str], command: str, keep: Path | None) -> None:
    from vigil import tools
    from vigil.backtest.client import BacktestAPI
    from vigil.backtest.evaluate import Window, evaluate
    from vigil.backtest.history import History, backfill
    from vigil.backtest.nab import score_corpus_detail
    from vigil.backtest.nab_files import PROFILES_FILE, WINDOWS_FILE, load_profiles, load_windows
    from vigil.backtest.rules import AlertRule
    from vigil.tools import free_port
    from vigil.units import parse_duration

    if not (NAB / "data").is_dir():
        raise SystemExit(f"NAB's data is not at {NAB} (shared data, see tests/conftest.py SHARED)")
    header = machine()
    chosen = [c for c in candidates() if not prefixes or any(c.name.startswith(p) for p in prefixes)]
    marker = keep / "end" if keep else None
    if marker and marker.exists():
        end = int(marker.read_text())
    else:
        end = (int(time.time()) // 3600) * 3600 - 2 * 3600
    series = load_series(end)
    windows = load_windows(NAB / WINDOWS_FILE)
    profiles = load_profiles(NAB / PROFILES_FILE)
    start = min(min(s.shifted()) for s in series)
    stop = max(max(s.shifted()) for s in series) + ROW
    rows = sum(len(s.times) for s in series)
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        data = (keep or tmp) / "data"
        if marker is None or not marker.exists():
            with Timer() as made:
                history = History(start - start % HOLD, stop, HOLD)
                for s in series:
                    history.add(METRIC, "gauge", {"series": s.label}, held(s))
                # One pass of promtool per block: month-long blocks, not 2-hour ones (10-year retention).
                backfill(history, data, tmp, max_block_duration="744h")
            if marker is not None:
                marker.write_text(str(end))
            print(f"detectors: {len(series)} series, {rows} rows backfilled in {made.seconds:.0f}s", flush=True)
        (tmp / "prometheus.yml").write_text("global: {}\n")
        port = free_port()
        prom = subprocess.Popen(
            [
                tools.find("prometheus"),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=10y",
                "--query.timeout=10m",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        table: list[tuple[Candidate, dict[str, float], int, float]] = []
        try:
            deadline = time.monotonic() + 120
            while not BacktestAPI(url).ready():
                if time.monotonic() > deadline:
                    raise SystemExit("Prometheus did not become ready")
                time.sleep(0.5)
            version = tools.version("prometheus")
            by_label = {s.label: s for s in series}
            for c in chosen:
                rule = AlertRule(
                    service="nab",
                    alert=c.name,
                    severity="warning",
                    kind="anomaly",
                    file="lab",
                    group="lab",
                    interval=INTERVAL,
                    for_seconds=parse_duration(c.for_),
                    keep_firing_for_seconds=parse_duration(c.keep_firing_for),
                    expr=c.expr,
                    raw_expr=c.expr,
                )
                api = BacktestAPI(url, timeout=900)
                with Timer() as spent:
                    firings = evaluate(api, [rule], Window(start, stop))[0]
                onsets: dict[str, list[int]] = {}
                for f in firings:
                    onsets.setdefault(dict(f.labels)["series"], []).append(f.fired_at)
                found = {s.key: (s.times, detections(s, onsets.get(s.label, []))) for s in by_label.values()}
                scores = {
                    name: score_corpus_detail(found, windows, profile).normalised for name, profile in profiles.items()
                }
                table.append((c, scores, len(firings), spent.seconds))
                print(
                    f"detectors: {c.name}: standard {scores['standard']:.1f}, low FP {scores['reward_low_FP_rate']:.1f}, "
                    f"low FN {scores['reward_low_FN_rate']:.1f}; {len(firings)} firings; {spent.seconds:.0f}s",
                    flush=True,
                )
        finally:
            tools.stop(prom, timeout=30)
    write_section("detectors", report(table, header, command, str(version), len(series), rows))


def report(
    table: list[tuple[Candidate, dict[str, float], int, float]],
    header: str,
    command: str,
    version: str,
    n: int,
    rows: int,
) -> str:
    lines = [
        "## Detector lab: candidate anomaly alerts scored on NAB\n",
        f"`{command}`\n",
        (
            f"Machine: {header}. Prometheus {version}; {n} NAB series ({rows} rows) backfilled, each row held at "
            f"{HOLD}s steps; alerts evaluated every {INTERVAL:.0f}s (NAB's row interval) from raw series "
            "(bench/detectors.py explains how). NAB's scoreboard (standard): Windowed Gaussian 39.6, "
            "Twitter ADVec 47.1, Skyline 58.2, HTM 70.5.\n"
        ),
        "| candidate | for | keep_firing_for | standard | low FP | low FN | firings | query s | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c, s, fired, seconds in table:
        lines.append(
            f"| {c.name} | {c.for_} | {c.keep_firing_for} | {s['standard']:.1f} | {s['reward_low_FP_rate']:.1f} | "
            f"{s['reward_low_FN_rate']:.1f} | {fired} | {seconds:.0f} | {c.note} |"
        )
    lines += ["", "Expressions (`nab_value` is the key metric's current value):", ""]
    lines += [f"- {c.name}: `{c.expr}`" for c, *_ in table]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="only the candidates whose name starts with one of these")
    parser.add_argument("--data", type=Path, help="a folder to keep the backfilled TSDB in, reused when present")
    args = parser.parse_args()
    if args.data:
        args.data.mkdir(parents=True, exist_ok=True)
    main(args.prefixes, " ".join([".venv/bin/python bench/detectors.py", *args.prefixes]), args.data)
