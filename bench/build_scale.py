"""Benchmark: a cold `vigil build` of synthetic catalogs, split by stage, and `vigil check`.

    .venv/bin/python bench/build_scale.py [-n 100 1000] [--mix spine] [--check] [--incremental] [--jsonnet]

Each build runs in a fresh process with no cache (cold). Figures are wall-clock seconds on this
machine; compare ratios measured in the same run, not figures across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from vigil.catalog.synthetic import write_catalog

CHILD = """
import json, sys, time
from pathlib import Path
from vigil.build import build
start = time.perf_counter()
cache = Path(sys.argv[3]) if len(sys.argv) > 3 else None
report = build(Path(sys.argv[1]), Path(sys.argv[2]), run_checks=True, run_tests=False, cache_dir=cache)
print(json.dumps({"total": time.perf_counter() - start, **report.seconds}))
"""


def cold_build(catalog: Path, out: Path, cache: Path | None = None) -> dict[str, float]:
    """Stage times of one build in a fresh interpreter (no warm imports; no cache unless given)."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = [sys.executable, "-c", CHILD, str(catalog), str(out)] + ([str(cache)] if cache else [])
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["process"] = time.perf_counter() - start
    # CPU seconds of the build and everything it started (workers, promtool, amtool): steadier than
    # wall time on a busy machine.
    figures["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return figures


JSONNET_ONLY = """
import json, sys, time
from pathlib import Path
from vigil.render import dashboards, prometheus
from vigil.render import jsonnet as render
from vigil.build import BuildReport, compile_catalog
_, model = compile_catalog(Path(sys.argv[1]), BuildReport())
by_name = {s["name"]: s for s in model["services"]}
overview = dashboards.overview_link(model)
cpu = {}
start = time.process_time()
render.evaluate_each("prometheus.jsonnet", [{"service": prometheus._lean(s)} for s in model["services"]],
                     settings=model["settings"])
cpu["rules"] = time.process_time() - start
start = time.process_time()
for i in range(0, len(model["services"]), 125):
    render.evaluate_each("grafana.jsonnet", [{"service": dashboards.service_view(s),
                                              "deps": [dashboards.dependency_view(by_name[d]) for d in s["dependencies"]]}
                                             for s in model["services"][i:i + 125]],
                         settings=model["settings"], overview=overview, palette=dashboards.PALETTE)
cpu["dashboards"] = time.process_time() - start
print(json.dumps(cpu))
"""


def jsonnet_only(catalog: Path) -> dict[str, float]:
    """CPU seconds of the Jsonnet evaluations alone (rules, then dashboards, in batches as the
    build does, GOGC as in the render workers): what any build running these generators pays."""
    proc = subprocess.run(
        [sys.executable, "-c", JSONNET_ONLY, str(catalog)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GOGC": os.environ.get("GOGC", "400")},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def vigil_check(out: Path) -> tuple[float, float]:
    """Wall and CPU seconds (the process and every promtool and amtool it starts) of `vigil check
    --no-cache`: every check, nothing remembered from an earlier run."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [str(Path(sys.executable).parent / "vigil"), "--out", str(out), "check", "--no-cache"],
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--mix", default="spine")
    ap.add_argument("--check", action="store_true", help="also time `vigil check` (the promtool unit tests)")
    ap.add_argument(
        "--jsonnet",
        action="store_true",
        help="also time the Jsonnet evaluations alone (CPU), the part of render no Python change can cut",
    )
    ap.add_argument(
        "--incremental",
        action="store_true",
        help="also time a rebuild after one service's threshold changed (with the cache)",
    )
    args = ap.parse_args()
    stages = ["load", "validate", "resolve", "render", "dashboards", "write", "check"]
    print(f"cold `vigil build` ({args.mix} mix), {os.cpu_count()} cores; seconds")
    print(
        "| services | " + " | ".join(stages) + " | total | process | CPU (all processes) | `vigil check --no-cache` |"
    )
    print("|---" * (len(stages) + 5) + "|")
    incremental: list[tuple[int, dict[str, float]]] = []
    floors: list[tuple[int, dict[str, float]]] = []
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            catalog = write_catalog(Path(tmp) / "catalog", n, args.mix)
            figures = cold_build(catalog, Path(tmp) / "out")
            check = "-"
            if args.check:
                wall, cpu = vigil_check(Path(tmp) / "out")
                check = f"{wall:.1f} ({cpu:.1f} CPU)"
            if args.jsonnet:
                floors.append((n, jsonnet_only(catalog)))
            if args.incremental:
                cache = Path(tmp) / "cache"
                cold_build(catalog, Path(tmp) / "out2", cache)
                victim = catalog / "services" / "svc-00000.yaml"
                victim.write_text(victim.read_text().replace("warning: 1%", "warning: 2%"))
                incremental.append((n, cold_build(catalog, Path(tmp) / "out2", cache)))
        cells = " | ".join(f"{figures.get(s, 0):.2f}" for s in stages)
        print(
            f"| {n} | {cells} | {figures['total']:.2f} | {figures['process']:.2f} | {figures['cpu']:.1f} | {check} |",
            flush=True,
        )
    for n, cpu in floors:
        print(
            f"\nJsonnet alone, {n} services: rules {cpu['rules']:.1f} s CPU, dashboards {cpu['dashboards']:.1f} s CPU; "
            f"at best {(cpu['rules'] + cpu['dashboards']) / (os.cpu_count() or 1):.1f} s of wall time on {os.cpu_count()} cores"
        )
    for n, figures in incremental:
        cells = ", ".join(f"{s} {figures.get(s, 0):.2f}" for s in stages)
        print(
            f"\nincremental rebuild of {n} services after one threshold changed: {figures['total']:.2f} s "
            f"({figures['cpu']:.2f} s CPU; {cells})"
        )


if __name__ == "__main__":
    main()
