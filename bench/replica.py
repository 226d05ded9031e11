"""An offline replica of the NAB referee (bench/detection.py), for asking "what if" in seconds.

The referee takes five minutes a run: it backfills NAB into a real Prometheus, builds, and
backtests. To find which of suggest's choices and which alert defaults cost or earn score, this
replica recomputes the same thing in numpy, for many policies at once:

- each NAB series on the same 1-minute grid the referee's Prometheus sees (bench/detection.py
  `scraped`: rows held until the next one, a value found when a sample lies within 5 minutes);
- threshold alerts: `value > level` on the grid, with `for` (and keep_firing_for) replayed by
  vigil.backtest.state.replay, the same state machine the backtest uses; the levels and `for`s
  come from vigil.reports.suggest_thresholds.suggest over the probationary period, as in the referee;
- the anomaly alert: the 7-day mean and (population) standard deviation of the grid, recorded at
  each 5-minute step over (T - skip - 1w, T - skip], read by the 1-minute evaluations until the
  next step (how the backtest expands a record of the 5m baseline group), guarded by
  stddev > |avg| x 1e-9, replayed with `for` and keep_firing_for;
- the anomaly sensitivity: the old rule (the probation's 99th percentile of |z| against its own
  mean, at least 3, up to 0.5) or today's (suggest_thresholds.lowest_sensitivity on the replica's
  z-scores over the probationary period).

Each firing's onset becomes a detection on the first NAB row at or after it (vigil.backtest
.nab_results.onset_rows), scored by vigil.backtest.nab under NAB's three profiles. With
`--onsets FILE` (written by `bench/detection.py --onsets FILE`) it first checks itself against the
referee: per series and alert kind, are the onsets the same? Figures from the replica are marked so
wherever they are quoted; the referee's are the official ones.

    .venv/bin/python bench/replica.py [--onsets /tmp/onsets.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import detection as referee
from common import Timer, machine, write_section

STEP = 60  # the catalog's evaluation interval in the referee
EVERY = 300  # the baseline group's interval
LOOKBACK = 300
WEEK = 7 * 86400


@dataclass(frozen=True)
class Policy:
    name: str
    sensitivity: str = "replay"  # "replay" (today's suggest), "q99" (suggest before 2026-11-28) or a number
    skip: int = 6 * 3600  # anomaly skip_recent, seconds
    critical_for: str = "warning"  # "warning" (today's suggest) or "step" (one evaluation, before)
    threshold_keep: int = 7200  # keep_firing_for on the threshold alerts (today's suggest: 2h; before: none)
    kinds: tuple[str, ...] = ("threshold", "anomaly")
    anomaly_for: int = 300
    anomaly_keep: int = 7200
    range_pages: int = 2  # the replayed sensitivity: at most this many pages in the probationary period
    seasonal: int = 0  # when set, a second anomaly alert on the change since this many seconds before
    seasonal_k: float = 5.0


NOW = 5  # the index of today's policy: what the referee runs
POLICIES = [
    Policy("before: q99 sensitivity, critical for 1 step, skip 1h", "q99", 3600, "step", 0),
    Policy("anomaly only, before", "q99", 3600, "step", 0, kinds=("anomaly",)),
    Policy("critical for = warning for", "q99", 3600, threshold_keep=0),
    Policy("+ replayed sensitivity (skip 1h)", "replay", 3600, threshold_keep=0),
    Policy("+ skip 6h", threshold_keep=0),
    Policy("now: + threshold keep_firing_for 2h"),
    Policy("anomaly only, now", kinds=("anomaly",)),
    Policy("threshold only, now", kinds=("threshold",)),
    Policy("anomaly only, replayed sensitivity, skip 1h", "replay", 3600, kinds=("anomaly",)),
    *(Policy(f"now, threshold keep_firing_for {m}m", threshold_keep=m * 60) for m in (15, 30, 60, 240)),
    Policy("now, anomaly keep_firing_for 4h", anomaly_keep=4 * 3600),
    Policy("now, anomaly for 10m", anomaly_for=600),
    *(Policy(f"now, sensitivity for at most {n} pages", range_pages=n) for n in (1, 3, 4)),
    *(
        Policy(f"now + seasonal: change since {lag // 3600}h before beyond {k:g}σ", seasonal=lag, seasonal_k=k)
        for lag in (86400, WEEK)
        for k in (4, 5)
    ),
    *(
        Policy(f"anomaly only, sensitivity 3, skip {h}h", "3", h * 3600, kinds=("anomaly",))
        for h in (1, 3, 6, 12, 24, 48)
    ),
]


class Grid:
    """One NAB series as the referee's Prometheus evaluates it every minute."""

    def __init__(self, key: str) -> None:
        from vigil.backtest.nab import probationary_length

        self.series = s = referee.load(key)  # shift 0: NAB's time read as UTC; onsets map back 1:1
        points = list(referee.scraped(s))
        ts, vs = [t for t, _ in points], [v for _, v in points]
        first = math.ceil(ts[0] / STEP) * STEP
        self.t = np.arange(first, ts[-1] + LOOKBACK + 1, STEP, dtype=np.int64)
        at = np.searchsorted(np.array(ts), self.t, side="right") - 1
        ok = (at >= 0) & (self.t - np.array(ts)[np.maximum(at, 0)] <= LOOKBACK)
        self.v = np.where(ok, np.array(vs)[np.maximum(at, 0)], np.nan)
        n = probationary_length(len(s.times))
        self.probation_end = max(s.unix(t) for t in s.times[:n])

    def nab_time(self, unix: int) -> datetime:
        return datetime.fromtimestamp(unix, UTC).replace(tzinfo=None)

    def before(self, lag: int) -> np.ndarray:
        """The value `lag` seconds before each evaluation (`x offset <lag>`), NaN where there was none."""
        at = np.searchsorted(self.t, self.t - lag)
        ok = (at < len(self.t)) & (self.t[np.minimum(at, len(self.t) - 1)] == self.t - lag)
        return np.where(ok, self.v[np.minimum(at, len(self.t) - 1)], np.nan)

    def baseline(self, x: np.ndarray, skip: int) -> tuple[np.ndarray, np.ndarray]:
        """x's 1w mean and stddev each evaluation reads (recorded at the last 5-minute step)."""
        ok = ~np.isnan(x)
        ref = float(np.nanmean(x)) if ok.any() else 0.0  # shifted sums: no cancellation on 1e9 values
        w = np.where(ok, x - ref, 0.0)
        c, s1, s2 = (np.concatenate([[0], np.cumsum(x)]) for x in (ok, w, w * w))
        end = (self.t // EVERY) * EVERY - skip
        hi = np.searchsorted(self.t, end, side="right")
        lo = np.searchsorted(self.t, end - WEEK, side="right")
        n = c[hi] - c[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (s1[hi] - s1[lo]) / n
            sd = np.sqrt(np.maximum((s2[hi] - s2[lo]) / n - mean * mean, 0))
        return np.where(n > 0, mean + ref, np.nan), np.where(n > 0, sd, np.nan)

    def zscore(self, x: np.ndarray, skip: int) -> np.ndarray:
        mean, sd = self.baseline(x, skip)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(x - mean) / np.where(sd > np.abs(mean) * 1e-9, sd, np.nan)
        return np.where(np.isnan(z), -1.0, z)  # -1: no sample, no baseline or a flat one: never anomalous

    def onsets(self, cond: np.ndarray, hold: float, keep: float) -> list[int]:
        from vigil.backtest.state import replay

        present = [int(x) * 1000 for x in self.t[cond]]
        return [f.fired_at // 1000 for f in replay((), present, STEP * 1000, hold, keep, int(self.t[-1]) * 1000)]

    def probation(self) -> np.ndarray:
        return (self.t <= self.probation_end) & ~np.isnan(self.v)


def old_sensitivity(g: Grid) -> float:
    """suggest's rule before 2026-11-28: the 99th percentile of the probation's |z| against its own mean."""
    v = g.v[g.probation()]
    sd = v.std()
    z = np.abs(v - v.mean()) / sd if sd > 0 else np.array([0.0])
    return max(3.0, math.ceil(float(np.quantile(z, 0.99)) * 2) / 2)


def run(g: Grid, p: Policy) -> dict[str, list[int]]:
    from vigil.reports.suggest_thresholds import lowest_sensitivity, suggest

    out: dict[str, list[int]] = {}
    probation = g.probation()
    if "threshold" in p.kinds:
        sg = suggest("value", "count", "above", "x", [(g.t[probation].tolist(), g.v[probation].tolist())], STEP)
        critical_for = sg.for_seconds if p.critical_for == "warning" else STEP
        values = np.nan_to_num(g.v, nan=-np.inf)
        out["threshold"] = sorted(
            g.onsets(values > sg.warning, sg.for_seconds, p.threshold_keep)
            + g.onsets(values > sg.critical, critical_for, p.threshold_keep)
        )
    if "anomaly" in p.kinds:
        z = g.zscore(g.v, p.skip)
        if p.sensitivity == "replay":
            seen = probation & (z >= 0)
            series = [(g.t[seen].tolist(), z[seen].tolist())]
            k = lowest_sensitivity(series, STEP, p.anomaly_for, p.anomaly_keep, p.range_pages)[0] if seen.any() else 3.0
        elif p.sensitivity == "q99":
            k = old_sensitivity(g)
        else:
            k = float(p.sensitivity)
        out["anomaly"] = g.onsets(z > k, p.anomaly_for, p.anomaly_keep)
        if p.seasonal:
            change = g.v - g.before(p.seasonal)
            out["anomaly"] += g.onsets(g.zscore(change, p.skip) > p.seasonal_k, p.anomaly_for, p.anomaly_keep)
    return out


def check(grids: dict[str, Grid], path: Path) -> list[str]:
    """The replica against the referee's onsets (the policy the referee ran: today's)."""
    dump = json.loads(path.read_text())
    same: dict[str, int] = {}
    for key, g in grids.items():
        mine = run(g, POLICIES[NOW])
        for kind in ("threshold", "anomaly"):
            theirs = [datetime.fromisoformat(x) for x in dump[key]["onsets"].get(kind, [])]
            same[kind] = same.get(kind, 0) + (sorted(theirs) == [g.nab_time(u) for u in mine.get(kind, [])])
    return [f"Against the referee's onsets ({path.name}): identical on {same['threshold']} of {len(grids)} series "
            f"(threshold alerts) and {same['anomaly']} of {len(grids)} (anomaly alerts)."]  # fmt: skip


def main(onsets: Path | None, command: str) -> None:
    from vigil.backtest.nab import score_corpus_detail
    from vigil.backtest.nab_files import load_profiles, load_windows
    from vigil.backtest.nab_results import onset_rows

    root = referee.NAB_ROOT
    if not (root / "labels" / "combined_windows.json").exists():
        raise SystemExit(f"replica: NAB's data is not at {root}")
    header = machine()
    windows = load_windows(root / "labels" / "combined_windows.json")
    profiles = load_profiles(root / "config" / "profiles.json")
    keys = sorted(str(p.relative_to(root / "data")) for p in (root / "data").glob("*/*.csv"))
    with Timer() as spent:
        grids = {k: Grid(k) for k in keys}
        lines = check(grids, onsets) if onsets else []
        rows = []
        for p in POLICIES:
            found = {}
            for key, g in grids.items():
                when = sorted(g.nab_time(u) for us in run(g, p).values() for u in us)
                found[key] = (g.series.times, onset_rows(g.series.times, when))
            scores = [score_corpus_detail(found, windows, profiles[name]).normalised for name in referee.PROFILES]
            rows.append(f"| {p.name} | " + " | ".join(f"{x:.1f}" for x in scores) + " |")
            print(rows[-1], flush=True)
    body = [
        "## replica: what-if policies on NAB, offline\n",
        f"`{command}` on {header}; {len(POLICIES)} policies over {len(keys)} series in {spent.seconds:.0f}s.\n",
        "bench/replica.py recomputes the referee (bench/detection.py) in numpy: not the official figures, a "
        "guide to what each choice costs. Standard / reward low FP / reward low FN; all alerts unless said.\n",
        *([lines[0] + "\n"] if lines else []),
        "| policy | standard | low FP | low FN |",
        "|---|---|---|---|",
        *rows,
    ]
    write_section("replica", "\n".join(body))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onsets", type=Path, help="the referee's onsets (bench/detection.py --onsets) to check against")
    args = ap.parse_args()
    main(args.onsets, ".venv/bin/python bench/replica.py" + (" --onsets FILE" if args.onsets else ""))
