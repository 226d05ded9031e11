"""Evaluation cost over 7 days of backfilled history: the generated rules against the naive set
(every recording rule inlined, bench/evaluate.py's `naive_file`), each in its own Prometheus on a
copy of one TSDB, at an evaluation interval users run (1m).

bench/evaluate.py measures on a TSDB that holds about a minute, so the 1h…30d windows of the SLO,
trend and anomaly rules read almost nothing. Here the TSDB holds:

- the raw series of N synthetic services over 7 days up to now (bench/backtest.py's generator,
  backfilled with `promtool tsdb create-blocks-from openmetrics`); while the rules are measured,
  Prometheus scrapes the same generator's current values (`Live`), so the rules read live raw
  samples as they would in production (the head cannot take samples older than the newest block,
  so the "future" cannot be backfilled as well);
- the generated recording rules' own history, backfilled with `promtool tsdb create-blocks-from
  rules` from a Prometheus serving that raw history, level by level (a rule that reads another
  recorded series is backfilled after that series: promtool evaluates each rule against the
  source Prometheus, which must already hold what the rule reads). Without it the generated
  alerts, which read recorded series over long windows, would read nothing and look cheap.

    .venv/bin/python bench/run.py evaluate-history --services 100
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from backfill import backfill, cpu_seconds, start_prometheus, version
from backtest import DAY, STEP, history_of
from common import Timer, machine, write_section
from evaluate import naive_file

from vigil.catalog.synthetic import write_catalog

L = yaml.CSafeLoader
AHEAD = 60 * 60  # seconds of history generated past its backfilled end, scraped live while measuring
SETTLE_MAX = 330  # seconds to wait for every group's first evaluation (the baseline groups run every 5m)
RECORD = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*")


class Live:
    """A scrape target serving the history's value at the last step before now (prometheus_client)."""

    def __init__(self, history: Any, until: int):
        self.history, self.until = history, until

    def collect(self) -> Any:
        from prometheus_client.core import Metric

        h = self.history
        t = min(self.until, h.start + (int(time.time()) - h.start) // h.step * h.step)
        for name, (_, series) in sorted(h.families.items()):
            metric = Metric(name, name, "untyped")
            for labels, value in sorted(series.items()):
                v = value(t)
                if v is not None:
                    metric.add_sample(name, dict(labels), v)
            yield metric


def levels(files: dict[str, Any]) -> dict[str, int]:
    """Each recording rule's name → 1 + the deepest level of the recorded series it reads."""
    exprs: dict[str, list[str]] = {}
    for doc in files.values():
        for g in doc["groups"]:
            for r in g["rules"]:
                if "record" in r:
                    exprs.setdefault(r["record"], []).append(r["expr"])
    out: dict[str, int] = {}

    def level(name: str, depth: int = 0) -> int:
        if name not in out:
            if depth > 16:
                raise SystemExit(f"recording rules nest deeper than 16 at {name} (a cycle?)")
            reads = {m for e in exprs[name] for m in RECORD.findall(e) if m in exprs and m != name}
            out[name] = 1 + max((level(m, depth + 1) for m in reads), default=0)
        return out[name]

    for name in exprs:
        level(name)
    return out


def backfill_rules(
    files: dict[str, Any], data: Path, work: Path, start: int, end: int, interval: int
) -> tuple[int, float]:
    """The recording rules' history from `start` to `end` into `data`; (levels, seconds promtool took)."""
    from vigil import tools, units

    depth = levels(files)
    took = 0.0
    shortest = min(units.parse_duration(g.get("interval") or interval) for doc in files.values() for g in doc["groups"])
    hours = min((end - start) // 3600 * 2 + 2, int(11000 * shortest // 3600) // 2 * 2)
    for level in range(1, max(depth.values(), default=0) + 1):
        rule_dir = work / f"level-{level}"
        rule_dir.mkdir(parents=True)
        for path, doc in sorted(files.items()):
            groups = [
                {**g, "rules": [r for r in g["rules"] if "record" in r and depth[r["record"]] == level]}
                for g in doc["groups"]
            ]
            groups = [g for g in groups if g["rules"]]
            if groups:
                (rule_dir / Path(path).name).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        # A Prometheus serving what is backfilled so far (raw series and the lower levels).
        proc, url = start_prometheus(work, data, "global: {}\n")
        try:
            print(f"evaluate-history: backfilling level {level} of the recording rules ...", flush=True)
            with Timer() as t:
                blocks = work / f"blocks-{level}"
                result = tools.run(
                    "promtool",
                    [
                        "tsdb",
                        "create-blocks-from",
                        "rules",
                        f"--start={start}",
                        f"--end={end}",
                        f"--url={url}",
                        f"--output-dir={blocks}",
                        # Few range queries per rule (promtool makes one per block), not one per 2h:
                        # blocks as long as 11,000 points at the shortest group interval allow.
                        f"--max-block-duration={hours}h",
                        "--quiet",
                        *sorted(map(str, rule_dir.glob("*.yaml"))),
                    ],
                    timeout=7200,
                )
            took += t.seconds
        finally:
            tools.stop(proc, timeout=30)
        if not result.ok:
            raise SystemExit(f"promtool could not backfill the level-{level} rules:\n{result.output[-3000:]}")
        for block in blocks.iterdir():
            if block.is_dir():
                block.rename(data / block.name)
    return max(depth.values(), default=0), took


def measure(
    work: Path, data: Path, rules_dir: Path, interval: int, cycles: int, settle: int, live: Live
) -> dict[str, Any]:
    """One Prometheus with these rules on its own copy of the TSDB, scraping the live raw series;
    what evaluating the rules costs."""
    from prometheus_client import CollectorRegistry, start_http_server

    from vigil import tools

    work.mkdir()
    shutil.copytree(data, work / "data")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(live)
    port = tools.free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    config = {
        "global": {"evaluation_interval": f"{interval}s", "scrape_interval": f"{STEP}s"},
        "rule_files": [str(rules_dir / "*.yaml")],
        # honor_labels: the series carry their own job and instance, as in the backfilled blocks.
        "scrape_configs": [
            {"job_name": "history", "honor_labels": True, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        ],
    }
    proc, url = start_prometheus(work, work / "data", yaml.safe_dump(config))
    try:
        # Settle: every group evaluated at least once (the 5m baseline groups too), then `settle` cycles.
        deadline = time.monotonic() + SETTLE_MAX
        while time.monotonic() < deadline:
            groups = requests.get(f"{url}/api/v1/rules", timeout=60).json()["data"]["groups"]
            if all(not str(g.get("lastEvaluation", "")).startswith("0001") for g in groups):
                break
            time.sleep(5)
        time.sleep(interval * settle)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        samples = []
        for _ in range(cycles):
            time.sleep(interval)
            groups = requests.get(f"{url}/api/v1/rules", timeout=60).json()["data"]["groups"]
            samples.append(sum(float(g.get("evaluationTime") or 0) for g in groups))
        cpu = (cpu_seconds(proc.pid) - cpu0) / ((time.monotonic() - t0) / interval)
        metrics = requests.get(f"{url}/metrics", timeout=30).text.splitlines()

        def total(prefix: str) -> float:
            return sum(float(line.rsplit(" ", 1)[1]) for line in metrics if line.startswith(prefix))

        def count(q: str) -> int:
            r = requests.get(f"{url}/api/v1/query", params={"query": q}, timeout=60).json()["data"]["result"]
            return int(float(r[0]["value"][1])) if r else 0

        slowest = sorted(groups, key=lambda g: -float(g.get("evaluationTime") or 0))[:1]
        return {
            "samples": samples,
            "groups": len(groups),
            "evaluated": sum(1 for g in groups if not str(g.get("lastEvaluation", "")).startswith("0001")),
            "cpu": cpu,
            "missed": total("prometheus_rule_group_iterations_missed_total"),
            "failed": total("prometheus_rule_evaluation_failures_total"),
            "alerts": count('count(ALERTS{alertstate="firing"})'),
            # Samples in the last scrape of the live raw series: the rules read current samples.
            "live": count('sum(scrape_samples_scraped{job="history"})'),
            "slowest": (slowest[0]["name"], float(slowest[0].get("evaluationTime") or 0)) if slowest else ("-", 0.0),
            "version": version(url),
        }
    finally:
        tools.stop(proc, timeout=30)
        server.shutdown()
        shutil.rmtree(work / "data", ignore_errors=True)


def main(n: int, command: str, days: int = 7, interval: int = 60, cycles: int = 3, settle: int = 1) -> None:
    from vigil.build import BuildReport, build, compile_catalog

    started = time.perf_counter()
    header = machine()
    # The history is generated up to AHEAD past now; the blocks hold it up to now, the rest is scraped live.
    now = (int(time.time()) // STEP) * STEP
    start = now + AHEAD - days * DAY
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        catalog = write_catalog(tmp / "catalog", n, "spine")
        settings = yaml.safe_load((catalog / "vigil.yaml").read_text())
        settings["evaluation_interval"] = f"{interval}s"
        (catalog / "vigil.yaml").write_text(yaml.safe_dump(settings))
        model = compile_catalog(catalog, BuildReport())[1]
        out = tmp / "out"
        print(f"evaluate-history: building {n} services ...", flush=True)
        build(catalog, out, run_checks=False, run_tests=False, cache_dir=tmp / "cache")
        gen_dir, naive_dir = out / "prometheus" / "rules", tmp / "naive"
        naive_dir.mkdir()
        files = {str(p): yaml.load(p.read_text(), Loader=L) for p in sorted(gen_dir.glob("*.yaml"))}
        for p in gen_dir.glob("*.yaml"):
            (naive_dir / p.name).write_text(yaml.safe_dump(naive_file(p.read_text()), sort_keys=False))
        counts = {"record": 0, "alert": 0}
        for doc in files.values():
            for g in doc["groups"]:
                for r in g["rules"]:
                    counts["record" if "record" in r else "alert"] += 1
        print(f"evaluate-history: writing and backfilling {days} days of raw series ...", flush=True)
        data = tmp / "data"
        with Timer() as raw:
            history = history_of(model, start, days)
            ahead, history.end = history.end, now
            size = backfill(history, data, tmp)
        series = sum(len(s) for _, s in history.families.values())
        # The recorded history ends where the raw blocks do; the live rules carry on from there.
        depth, rules_took = backfill_rules(files, data, tmp / "rules-backfill", start, now, interval)
        measured = {}
        for name, rules_dir in (("generated", gen_dir), ("naive", naive_dir)):
            print(f"evaluate-history: Prometheus with the {name} rules ...", flush=True)
            measured[name] = measure(
                tmp / f"prom-{name}", data, rules_dir, interval, cycles, settle, Live(history, ahead)
            )
    report(
        n,
        days,
        interval,
        cycles,
        settle,
        command,
        header,
        counts,
        series,
        size,
        raw.seconds,
        depth,
        rules_took,
        measured,
        started,
    )


def report(
    n: int,
    days: int,
    interval: int,
    cycles: int,
    settle: int,
    command: str,
    header: str,
    counts: dict[str, int],
    series: int,
    size: int,
    raw: float,
    depth: int,
    rules_took: float,
    measured: dict[str, dict[str, Any]],
    started: float,
) -> None:
    med = lambda xs: sorted(xs)[len(xs) // 2]
    g, v = measured["generated"], measured["naive"]
    every = f"{interval // 60}m" if interval % 60 == 0 else f"{interval}s"

    def row(label: str, rules: str, m: dict[str, Any]) -> str:
        return (
            f"| {label} | {rules} | {med(m['samples']):.2f} s | {max(m['samples']):.2f} s | {m['cpu']:.2f} s | "
            f"{m['live']} | {m['evaluated']}/{m['groups']} | {m['missed']:.0f} | {m['failed']:.0f} | {m['alerts']} | "
            f"{m['slowest'][0]} ({m['slowest'][1]:.2f} s) |"
        )

    ratio = med(v["samples"]) / med(g["samples"]) if med(g["samples"]) else float("nan")
    lines = [
        f"## 2c. Evaluation cost over {days} days of backfilled history ({n} services, every {every})\n",
        f"`{command}`\n",
        (
            f"Machine: {header}. Prometheus {g['version']}. {n} services (spine mix). One TSDB: {series} raw series "
            f"at {STEP}s over {days} days up to the measurement (bench/backtest.py's generator, "
            f"{size / 1e9:.2f} GB of OpenMetrics, written and backfilled with promtool in {raw:.0f} s; "
            "scraped live from the same generator while measured), and the "
            f"{counts['record']} generated recording rules' own {days}-day "
            f"history, backfilled with `promtool tsdb create-blocks-from rules` in {depth} levels ({rules_took:.0f} s). "
            f"Each set in its own Prometheus on a copy of that TSDB, one after the other, evaluation every {every}; "
            f"`evaluationTime` summed over the set's groups from /api/v1/rules on {cycles} cycles, once every group had "
            f"been evaluated and {settle} more cycles had passed (median, max); Prometheus CPU: its process's user + system seconds per {every} over those "
            "cycles (rule evaluation and one scrape of the raw series per minute, the same for both).\n"
        ),
        "| rule set | rules | `evaluationTime` per cycle, median | max | Prometheus CPU per cycle | raw samples per scrape (live) | groups evaluated "
        "| iterations missed | evaluation failures | firing alerts | slowest group (its last evaluation) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        row("generated (recording + alerting)", f"{counts['record']} + {counts['alert']}", g),
        row("naive (recording rules inlined)", f"{counts['alert']}", v),
        "",
        (
            f"Naive / generated `evaluationTime`: **{ratio:.1f}×**; Prometheus CPU: "
            f"**{v['cpu'] / g['cpu'] if g['cpu'] else float('nan'):.1f}×**. With {days} days in the TSDB every window "
            "is costed: the naive set recomputes each SLO window (up to 3d of raw counters) and each anomaly "
            "baseline (`[7d:]` subqueries over raw PromQL) at every evaluation; the generated set reads them from "
            "recorded series, and its 7-day baselines (`avg_over_time(rec[7d])`) every 5 minutes (a 5m group's last "
            "evaluation counts in every cycle's sum, which overstates the generated set's `evaluationTime`; the CPU "
            "per cycle does not)."
        ),
    ]
    if v["missed"] or g["missed"]:
        lines.append(
            f"\n**A set did not fit its interval on this machine:** Prometheus missed {v['missed']:.0f} (naive) and "
            f"{g['missed']:.0f} (generated) group iterations; a group whose evaluation outlasts the interval "
            "skips the next, so its `evaluationTime` includes waiting for CPU, and the CPU per cycle is what one "
            "core-bound Prometheus could do, a lower bound of what the set needs."
        )
    lines.append(f"\nThis part took {time.perf_counter() - started:.0f} s.")
    write_section(f"evaluate-history-{n}-{every}", "\n".join(lines))
    print("\n".join(lines))
