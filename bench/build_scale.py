"""Benchmark: a cold `vigil build` of synthetic catalogs, split by stage, and `vigil check`.

    .venv/bin/python bench/build_scale.py [-n 100 1000] [--mix spine] [--check]

Each build runs in a fresh process with no cache (cold). Figures are wall-clock seconds on this
machine; compare ratios measured in the same run, not figures across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from synth import write_catalog  # noqa: E402

CHILD = """
import json, sys, time
from pathlib import Path
from vigil.build import build
start = time.perf_counter()
report = build(Path(sys.argv[1]), Path(sys.argv[2]), run_checks=True, run_tests=False, cache_dir=None)
print(json.dumps({"total": time.perf_counter() - start, **report.seconds}))
"""


def cold_build(catalog: Path, out: Path) -> dict[str, float]:
    """Stage times of one cold build in a fresh interpreter (no warm imports, no cache)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(catalog), str(out)], capture_output=True, text=True, check=True)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["process"] = time.perf_counter() - start
    return figures


def vigil_check(out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "vigil"), "--out", str(out), "check"], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--mix", default="spine")
    ap.add_argument("--check", action="store_true", help="also time `vigil check` (the promtool unit tests)")
    args = ap.parse_args()
    stages = ["load", "validate", "resolve", "render", "dashboards", "write", "check"]
    print(f"cold `vigil build` ({args.mix} mix), {os.cpu_count()} cores; seconds")
    print("| services | " + " | ".join(stages) + " | total | process | `vigil check` |")
    print("|---" * (len(stages) + 4) + "|")
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            catalog = write_catalog(Path(tmp) / "catalog", n, args.mix)
            figures = cold_build(catalog, Path(tmp) / "out")
            check = f"{vigil_check(Path(tmp) / 'out'):.1f}" if args.check else "-"
        cells = " | ".join(f"{figures.get(s, 0):.2f}" for s in stages)
        print(f"| {n} | {cells} | {figures['total']:.2f} | {figures['process']:.2f} | {check} |", flush=True)


if __name__ == "__main__":
    main()
