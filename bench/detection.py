"""vigil's alerts scored on the Numenta Anomaly Benchmark (NAB): the referee of detector work.

For every NAB series (../shared/real-incidents/data/<group>/<name>.csv):

1. its rows are backfilled into one real Prometheus (`promtool tsdb create-blocks-from openmetrics`)
   as the gauge `nab_value{job="nab", series="<name>"}`, shifted by whole weeks so that every series
   ends shortly before now (weekday and time of day kept), and seen as a 1-minute scrape would see
   it: each row's value repeated every minute until the next row (Prometheus's 5m lookback then never
   leaves a gap in NAB's 5-minute, hourly or irregular rows);
2. it becomes one catalog service (a temporary catalog, not committed) whose key metric `value`
   reads `max(nab_value{$selector})`, with nothing else set;
3. `vigil suggest thresholds` (vigil.reports.suggest_thresholds, the code behind the command) learns
   warning, critical, `for` and anomaly sensitivity from NAB's probationary period only (the first
   15% of rows, at most 750): no labels, no later data;
4. the catalog with those values pasted in is built by vigil's real build (promtool checks the rules)
   and its alerts are backtested by vigil's backtest over the whole series;
5. each alert's firing onsets become detections on the first NAB row at or after the onset (a page is
   sent once per firing), scored with vigil.backtest.nab under NAB's three profiles, for the union of
   the service's key-metric alerts (every alert that notifies someone) and per alert kind.

Writes the `detection` section of bench/results.md, bench/nab/<group>/vigil_<name>.csv (NAB's
results format, NAB's timestamps: score them with NAB's own tools) and bench/nab.png.

    .venv/bin/python bench/run.py detection [--quick]
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import requests
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, RESULTS, ROOT, Timer, machine

NAB_ROOT = ROOT.parent / "shared" / "real-incidents"
OUT = BENCH / "nab"
PLOT = BENCH / "nab.png"
DETECTOR = "vigil"
METRIC = "value"
WEEK = 7 * 86400
SCRAPE = 60  # seconds: the scrape interval the backfill imitates
KINDS = ("threshold", "trend", "anomaly")
# --quick: one series per NAB group, the realKnownCause one a known system failure.
QUICK = [
    "artificialNoAnomaly/art_daily_small_noise.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realTraffic/speed_7578.csv",
    "realTweets/Twitter_volume_GOOG.csv",
]
PLOTTED = [
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realKnownCause/machine_temperature_system_failure.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
    "artificialWithAnomaly/art_daily_jumpsup.csv",
]
# NAB's published scoreboard (NAB README at ea702d7, copied in ../shared/real-incidents/README.md).
SCOREBOARD = [
    ("ARTime", "74.9", "65.1", "80.4"),
    ("Numenta HTM", "70.5–69.7", "62.6–61.7", "75.2–74.2"),
    ("CAD OSE", "69.9", "67.0", "73.2"),
    ("earthgecko Skyline", "58.2", "46.2", "63.9"),
    ("KNN CAD", "58.0", "43.4", "64.8"),
    ("Relative Entropy", "54.6", "47.6", "58.8"),
    ("Random Cut Forest", "51.7", "38.4", "59.7"),
    ("Twitter ADVec", "47.1", "33.6", "53.5"),
    ("Windowed Gaussian", "39.6", "20.9", "47.4"),
    ("Etsy Skyline", "35.7", "27.1", "44.5"),
    ("Bayesian Changepoint", "17.7", "3.2", "32.2"),
    ("Random", "11.0", "1.2", "19.5"),
    ("Null", "0.0", "0.0", "0.0"),
]
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


@dataclass
class Series:
    key: str  # "<group>/<name>.csv", as NAB's labels name it
    stamps: list[str]  # NAB's timestamps, as written
    texts: list[str]  # NAB's values, as written
    times: list[datetime]  # naive, as NAB labelled them
    values: list[float]
    shift: int = 0  # seconds added to NAB's time (read as UTC) to land before now
    detections: dict[str, list[bool]] = field(default_factory=dict)  # "all" and per kind
    onsets: dict[str, list[float]] = field(default_factory=dict)  # unix seconds (shifted), per alert kind
    suggested: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return self.key.split("/")[0]

    @property
    def name(self) -> str:
        return self.key.split("/")[1].removesuffix(".csv")

    @property
    def service(self) -> str:
        return "nab-" + self.name.lower().replace("_", "-").replace(".", "-")

    def unix(self, t: datetime) -> float:
        return t.replace(tzinfo=UTC).timestamp() + self.shift

    def nab_time(self, unix: float) -> datetime:
        return datetime.fromtimestamp(unix - self.shift, UTC).replace(tzinfo=None)


def load(key: str) -> Series:
    from vigil.backtest.nab_files import parse_timestamp

    stamps, texts = [], []
    with (NAB_ROOT / "data" / key).open(newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for row in rows:
            stamps.append(row[0])
            texts.append(row[1])
    return Series(key, stamps, texts, [parse_timestamp(s) for s in stamps], [float(v) for v in texts])


def scraped(series: Series) -> Iterator[tuple[int, float]]:
    """(unix second, value) as a 1-minute scrape would have seen the rows.

    Rows are put in time order; of rows sharing a timestamp (NAB's DST night, a re-sent hour) the
    last in the file wins, as the last write would. Each value is repeated every SCRAPE seconds until
    the next row; the last row is held for the series' modal row interval.
    """
    latest: dict[float, float] = {}
    for t, v in zip(series.times, series.values):
        latest[series.unix(t)] = v
    times = sorted(latest)
    gaps = Counter(b - a for a, b in itertools.pairwise(times))
    modal = gaps.most_common(1)[0][0] if gaps else SCRAPE
    for i, t in enumerate(times):
        end = times[i + 1] if i + 1 < len(times) else t + modal
        s = t
        while s < end:
            yield int(s), latest[t]
            s += SCRAPE


def write_openmetrics(all_series: Sequence[Series], path: Path) -> int:
    count = 0
    with path.open("w") as f:
        f.write("# TYPE nab_value gauge\n")
        for s in sorted(all_series, key=lambda s: s.name):
            labels = f'{{job="nab",series="{s.name}"}}'
            for t, v in scraped(s):
                f.write(f"nab_value{labels} {v!r} {t}\n")
                count += 1
        f.write("# EOF\n")
    return count


def backfill(all_series: Sequence[Series], data: Path, work: Path) -> int:
    from vigil import tools

    source = work / "nab.om.txt"
    count = write_openmetrics(all_series, source)
    data.mkdir(parents=True, exist_ok=True)
    # Blocks of up to 30 days (promtool's default is 2h): a few dozen blocks instead of thousands.
    result = tools.run(
        "promtool",
        ["tsdb", "create-blocks-from", "openmetrics", "-q", "--max-block-duration=720h", str(source), str(data)],
    )
    if not result.ok:
        raise SystemExit(f"promtool could not backfill:\n{result.output[-2000:]}")
    source.unlink()
    return count


class Prometheus:
    """A real Prometheus over the backfilled data, no rules and no scrapes: only the history."""

    def __init__(self, data: Path, work: Path):
        from vigil import tools

        (work / "prometheus.yml").write_text("global: {}\n")
        self.port = tools.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (work / f"prometheus-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                tools.find("prometheus"),
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=10y",
                "--query.timeout=10m",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"Prometheus did not become ready (log: {self.log.name})")
            time.sleep(0.5)
        self.version = requests.get(self.url + "/api/v1/status/buildinfo", timeout=10).json()["data"]["version"]

    def stop(self) -> None:
        from vigil import tools

        tools.stop(self.proc)
        self.log.close()


def write_catalog(root: Path, all_series: Sequence[Series]) -> Path:
    """One service per series; a service's `value` gets what `suggest` proposed, once it has."""
    (root / "services").mkdir(parents=True, exist_ok=True)
    (root / "vigil.yaml").write_text(yaml.safe_dump({"evaluation_interval": "1m", "scrape_interval": "1m"}))
    (root / "departments.yaml").write_text(
        yaml.safe_dump(
            {
                "departments": [
                    {
                        "id": "sre",
                        "role": "operations",
                        "channels": {"chat": {"webhook": {"url": "http://127.0.0.1:9/"}}},
                    }
                ],
                "propagation": [
                    {"notify": "owner", "severity": "critical", "channel": "chat"},
                    {"notify": "owner", "severity": "warning", "channel": "chat"},
                ],
            }
        )
    )
    for s in all_series:
        doc = {
            "name": s.service,
            "description": f"NAB {s.key}",
            "owner": "sre",
            "tier": 2,
            "customer_facing": False,
            "selector": {"job": "nab", "series": s.name},
            "metrics": {
                METRIC: {"expr": "max(nab_value{$selector})", "unit": "count", "direction": "above", **s.suggested}
            },
        }
        (root / "services" / f"{s.service}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def probation_end(s: Series) -> float:
    """The unix time of the last row of NAB's probationary period (the rows suggest may learn from)."""
    from vigil.backtest.nab import probationary_length

    n = probationary_length(len(s.times))
    return max(s.unix(t) for t in s.times[:n])


def detect(all_series: Sequence[Series], prometheus: Prometheus, work: Path) -> dict[str, float]:
    """Suggest, build, backtest: fills each series' onsets and detections. Returns seconds per phase."""
    from vigil.backtest.client import BacktestAPI
    from vigil.backtest.evaluate import Window
    from vigil.backtest.nab_results import onset_rows
    from vigil.backtest.run import backtest_model
    from vigil.build import BuildReport, build, compile_catalog
    from vigil.render.cache import Cache
    from vigil.reports.suggest_thresholds import suggest_service, to_yaml

    api = BacktestAPI(prometheus.url, timeout=900)
    seconds: dict[str, float] = {}
    catalog = write_catalog(work / "catalog", all_series)
    with Timer() as t:
        model = compile_catalog(catalog, BuildReport())[1]
        for s in all_series:
            start = s.unix(min(s.times))
            (found,) = suggest_service(model, s.service, api, start, probation_end(s))
            text = to_yaml(s.service, api.url, start, probation_end(s), [found])
            s.suggested = yaml.safe_load(text)["metrics"][METRIC]
    seconds["suggest"] = t.seconds
    write_catalog(catalog, all_series)
    with Timer() as t:
        build(catalog, work / "output", run_checks=True, run_tests=False)  # promtool check rules, amtool, ...
        model = compile_catalog(catalog, BuildReport())[1]
    seconds["build"] = t.seconds
    cache = Cache(work / "cache")
    with Timer() as t:
        for s in all_series:
            window = Window(s.unix(min(s.times)), max(s.unix(x) for x in s.times) + 300)
            result = backtest_model(model, api, window, [s.service], cache=cache)
            for r in result.results:
                if r.rule.kind not in KINDS:
                    continue  # ServiceDown reads `up`, which the history does not have
                s.onsets.setdefault(r.rule.kind, []).extend(f.fired_at / 1000 for f in r.firings)
            every = sorted(x for xs in s.onsets.values() for x in xs)
            s.detections["all"] = onset_rows(s.times, [s.nab_time(x) for x in every])
            for kind in KINDS:
                s.detections[kind] = onset_rows(s.times, [s.nab_time(x) for x in s.onsets.get(kind, [])])
            print(f"  {s.key}: {sum(s.detections['all'])} detections", flush=True)
    seconds["backtest"] = t.seconds
    return seconds


def score(all_series: Sequence[Series], which: str) -> dict[str, Any]:
    from vigil.backtest.nab import score_corpus_detail
    from vigil.backtest.nab_files import load_profiles, load_windows

    windows = load_windows(NAB_ROOT / "labels" / "combined_windows.json")
    profiles = load_profiles(NAB_ROOT / "config" / "profiles.json")
    detections = {s.key: (s.times, s.detections[which]) for s in all_series}
    return {p: score_corpus_detail(detections, windows, profiles[p]) for p in PROFILES}


def known_cause_lead(all_series: Sequence[Series]) -> list[str]:
    """realKnownCause: minutes before each window's end of the first page inside it; false pages per week."""
    from vigil.backtest.nab import probationary_length
    from vigil.backtest.nab_files import load_windows

    windows = load_windows(NAB_ROOT / "labels" / "combined_windows.json")
    lines = [
        "| series | window (NAB time) | first page inside it | minutes before the window's end | false pages / week elsewhere |",
        "|---|---|---|---|---|",
    ]
    for s in all_series:
        if s.group != "realKnownCause":
            continue
        pages = sorted(s.nab_time(x) for xs in s.onsets.values() for x in xs)
        ws = windows[s.key]
        first_scored = s.times[probationary_length(len(s.times))]
        outside = [p for p in pages if p >= first_scored and not any(w.start <= p <= w.end for w in ws)]
        weeks = (max(s.times) - first_scored).total_seconds() / WEEK
        fp_rate = f"{len(outside) / weeks:.1f} ({len(outside)} in {weeks:.1f} weeks after probation)"
        if not ws:
            lines.append(f"| {s.name} | (no window) | - | - | {fp_rate} |")
        for k, w in enumerate(ws):
            inside = [p for p in pages if w.start <= p <= w.end]
            lead = f"{(w.end - inside[0]).total_seconds() / 60:.0f}" if inside else "missed"
            first = inside[0].strftime("%Y-%m-%d %H:%M") if inside else "-"
            span = f"{w.start:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M}"
            lines.append(f"| {s.name if k == 0 else ''} | {span} | {first} | {lead} | {fp_rate if k == 0 else ''} |")
    return lines


def write_csvs(all_series: Sequence[Series]) -> None:
    from vigil.backtest.nab_files import load_windows
    from vigil.backtest.nab_results import write_results

    windows = load_windows(NAB_ROOT / "labels" / "combined_windows.json")
    for s in all_series:
        path = OUT / s.group / f"{DETECTOR}_{s.name}.csv"
        write_results(path, s.stamps, s.texts, s.detections["all"], windows[s.key])
    # Every page by alert kind, in NAB's time, and what suggest proposed: for detector work.
    pages = {
        s.key: {
            "suggested": s.suggested,
            "pages": {
                k: sorted(f"{s.nab_time(x):%Y-%m-%d %H:%M:%S}" for x in xs) for k, xs in sorted(s.onsets.items())
            },
        }
        for s in sorted(all_series, key=lambda s: s.key)
    }
    known = json.loads((OUT / "pages.json").read_text()) if (OUT / "pages.json").exists() else {}
    (OUT / "pages.json").write_text(json.dumps({**known, **pages}, indent=1, sort_keys=True) + "\n")


def plot(all_series: Sequence[Series]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vigil.backtest.nab import probationary_length
    from vigil.backtest.nab_files import load_windows

    windows = load_windows(NAB_ROOT / "labels" / "combined_windows.json")
    chosen = [s for s in all_series if s.key in PLOTTED] or list(all_series)[:4]
    fig, axes = plt.subplots(len(chosen), 1, figsize=(12, 2.6 * len(chosen)), squeeze=False)
    colours = {"threshold": "tab:red", "trend": "tab:purple", "anomaly": "tab:orange"}
    for ax, s in zip(axes[:, 0], chosen):
        ax.plot(s.times, s.values, lw=0.5, color="tab:blue")
        ax.axvspan(s.times[0], s.times[probationary_length(len(s.times))], color="0.85", label="probation")
        for k, w in enumerate(windows[s.key]):
            ax.axvspan(w.start, w.end, color="tab:green", alpha=0.2, label="NAB window" if k == 0 else None)
        for name in ("warning", "critical"):
            if name in s.suggested:
                colour = "0.3" if name == "warning" else "k"
                ax.axhline(float(s.suggested[name]), ls="--", lw=0.7, color=colour, label=f"{name} (suggested)")
        for kind, colour in colours.items():
            rows = [i for i, d in enumerate(s.detections.get(kind, [])) if d]
            ax.scatter([s.times[i] for i in rows], [s.values[i] for i in rows], s=18, color=colour, zorder=3,
                       label=f"vigil page ({kind})" if rows else None)  # fmt: skip
        ax.set_title(s.key, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=90)
    plt.close(fig)
    return [s.key for s in chosen]


def compare_generation(all_series: Sequence[Series], data_dir: Path, work: Path) -> list[str]:
    """The same backfill and catalog backtested on the bookworm generation (Prometheus 2.42)."""
    bindir = ROOT / ".tools" / "bookworm" / "bin"
    if not bindir.is_dir():
        return [f"(bookworm generation not run: {bindir} missing)"]
    before = {s.key: dict(s.onsets) for s in all_series}
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"
    try:
        bdata = work / "data-bookworm"
        backfill(all_series, bdata, work)
        prometheus = Prometheus(bdata, work)
        try:
            for s in all_series:
                s.onsets = {}
            detect(all_series, prometheus, work / "bookworm")
            version = prometheus.version
        finally:
            prometheus.stop()
    finally:
        os.environ["PATH"] = path
    differ = [
        s.key
        for s in all_series
        if {k: sorted(v) for k, v in s.onsets.items()} != {k: sorted(v) for k, v in before[s.key].items()}
    ]
    if not differ:
        return [
            f"Prometheus {version} (bookworm) gave identical firing onsets, alert by alert kind, for all {len(all_series)} series."
        ]
    return [f"Prometheus {version} (bookworm) differs on: {', '.join(differ)}"]


def write_section(name: str, body: str) -> None:
    """Replace (or append) only this section of bench/results.md; every other byte is kept.

    common.write_section rebuilds the file from its marked sections and drops text outside them
    (results.md has such text), so this part does not use it.
    """
    text = RESULTS.read_text()
    block = f"<!-- section:{name} -->\n{body.rstrip()}\n<!-- /section:{name} -->"
    pattern = re.compile(rf"<!-- section:{name} -->.*?<!-- /section:{name} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def fmt(x: float) -> str:
    return f"{x:.1f}"


def main(quick: bool, command: str, series: Sequence[str] | None = None, onsets: Path | None = None) -> None:
    if not (NAB_ROOT / "labels" / "combined_windows.json").exists():
        print(f"detection: skipped, {NAB_ROOT} is missing", flush=True)
        return
    header = machine()
    keys = (
        list(series)
        if series
        else (
            QUICK
            if quick
            else sorted(str(p.relative_to(NAB_ROOT / "data")) for p in (NAB_ROOT / "data").glob("*/*.csv"))
        )
    )
    all_series = [load(k) for k in keys]
    anchor = int(time.time()) - 3600  # every series ends between 1h and a week and an hour before now
    for s in all_series:
        last = max(s.unix(t) for t in s.times)
        s.shift = (anchor - int(last)) // WEEK * WEEK
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vigil-nab-") as tmp_:
        work = Path(tmp_)
        with Timer() as made:
            samples = backfill(all_series, work / "data", work)
        print(f"detection: {len(all_series)} series, {samples} samples backfilled in {made.seconds:.0f}s", flush=True)
        prometheus = Prometheus(work / "data", work)
        try:
            seconds = detect(all_series, prometheus, work)
            version = prometheus.version
        finally:
            prometheus.stop()
        total = time.perf_counter() - started
        scores = {which: score(all_series, which) for which in ("all", *KINDS)}
        write_csvs(all_series)
        if onsets:
            write_onsets(all_series, onsets)
        plotted = plot(all_series) if not quick else []
        generations = compare_generation(all_series, work / "data", work) if quick else []
    write_report(
        all_series, scores, header, command, version, samples, made.seconds, seconds, total, plotted, generations, quick
    )


def write_onsets(all_series: Sequence[Series], path: Path) -> None:
    """Each series' suggested settings and firing onsets per alert kind, in NAB's time: the input of
    offline what-if analyses (which pages would another policy have cut?)."""
    doc = {
        s.key: {
            "suggested": s.suggested,
            "onsets": {k: [s.nab_time(x).isoformat() for x in sorted(v)] for k, v in sorted(s.onsets.items())},
        }
        for s in all_series
    }
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _anomaly_defaults() -> str:
    """The anomaly alert's defaults as this vigil ships them (defaults.yaml), for the report's text."""
    defaults = yaml.safe_load((files("vigil") / "defaults.yaml").read_text())["anomaly"]
    return ", ".join(f"`{k}` {v}" for k, v in defaults.items())


def write_report(all_series: Sequence[Series], scores: dict[str, Any], header: str, command: str, version: str,
                 samples: int, backfill_s: float, seconds: dict[str, float], total: float, plotted: list[str],
                 generations: list[str], quick: bool) -> None:  # fmt: skip
    vigil = scores["all"]
    lines = [
        f"## detection{' --quick' if quick else ''}: vigil's alerts on the Numenta Anomaly Benchmark",
        "",
        f"`{command}` on {header}; Prometheus {version}. "
        f"{len(all_series)} series{' (the --quick subset: normalised scores are over these series only, not comparable with the scoreboard)' if quick else ''}, "
        f"{samples:,} samples backfilled in {backfill_s:.0f}s; suggest {seconds['suggest']:.0f}s, build {seconds['build']:.0f}s, "
        f"backtest {seconds['backtest']:.0f}s; {total:.0f}s in all.",
        "",
        "What is scored is what vigil deploys: for each series a catalog service whose key metric reads the",
        "series, with the warning, critical, `for` and anomaly sensitivity `vigil suggest thresholds` learned from",
        "NAB's probationary period only, and every other setting vigil's default (anomaly "
        + _anomaly_defaults()
        + "). vigil's build renders the rules (promtool checks them) and vigil's backtest",
        "evaluates them in a real Prometheus over the whole series. A page is a firing onset (warning or",
        "critical, every alert that notifies someone); it becomes a detection on the first NAB row at or after it.",
        "The history: NAB's rows shifted by whole weeks to end before now, each value repeated every minute until",
        "the next row (a 1-minute scrape of a gauge holding its last value), so the 5m lookback never leaves a gap.",
        "suggest's constants (how far beyond the worst value, which percentiles) were chosen on this benchmark, as",
        "NAB tunes each detector's threshold on its corpus; each series' values come from its probationary period only.",
        "",
        "| detector | standard | reward low FP | reward low FN |",
        "|---|---|---|---|",
        f"| **vigil (all alerts, default settings)** | **{fmt(vigil['standard'].normalised)}** | **{fmt(vigil['reward_low_FP_rate'].normalised)}** | **{fmt(vigil['reward_low_FN_rate'].normalised)}** |",
    ]
    for kind in KINDS:
        k = scores[kind]
        if not any(s.onsets.get(kind) is not None for s in all_series):
            lines.append(f"| vigil, {kind} alerts only | no such alert (suggest proposes none) | | |")
            continue
        lines.append(
            f"| vigil, {kind} alerts only | {fmt(k['standard'].normalised)} | {fmt(k['reward_low_FP_rate'].normalised)} | {fmt(k['reward_low_FN_rate'].normalised)} |"
        )
    for row in SCOREBOARD:
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "The scoreboard is NAB's (README at ea702d7); vigil's rows are scored by vigil.backtest.nab, which",
        "reproduces NAB's Windowed Gaussian 39.65/20.87/47.41 (tests/backtest/test_nab.py). vigil's detections,",
        "in NAB's results format: `bench/nab/<group>/vigil_<name>.csv` (score 1 at each page).",
        "",
        "Per series (raw NAB score; pages = firing onsets after the probationary period; TP/FP rows):",
        "",
        "| series | warning | critical | for (w/c) | sensitivity | pages | standard | low FP | low FN |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    from vigil.backtest.nab import probationary_length

    for s in sorted(all_series, key=lambda s: s.key):
        sg = s.suggested
        pages = sum(s.detections["all"][probationary_length(len(s.times)) :])
        per = [vigil[p].series[s.key].score for p in PROFILES]
        fors = sg.get("for", {})
        lines.append(
            f"| {s.key.removesuffix('.csv')} | {sg.get('warning')} | {sg.get('critical')} | {fors.get('warning')}/{fors.get('critical')} | "
            f"{sg.get('anomaly', {}).get('sensitivity')} | {pages} | {per[0]:.2f} | {per[1]:.2f} | {per[2]:.2f} |"
        )
    lines += [
        "",
        "realKnownCause (known real failures): when vigil first paged inside each labelled window, and how",
        "often it paged outside every window:",
        "",
        *known_cause_lead(all_series),
    ]
    if plotted:
        lines += ["", f"![NAB series, windows and vigil's pages](nab.png) (`bench/nab.png`: {', '.join(plotted)})"]
    if generations:
        lines += ["", *generations]
    write_section("detection-quick" if quick else "detection", "\n".join(lines))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--series", nargs="+", help="only these <group>/<name>.csv")
    ap.add_argument("--onsets", type=Path, help="also write each series' onsets per alert kind to this JSON file")
    args = ap.parse_args()
    onsets = args.onsets.resolve() if args.onsets else None
    os.chdir(ROOT)
    main(args.quick, ".venv/bin/python bench/detection.py" + (" --quick" if args.quick else ""), args.series, onsets)
