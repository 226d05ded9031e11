"""The benchmark suite: writes bench/results.md (one section per part) and PNG plots in bench/.

    .venv/bin/python bench/run.py [compile|incremental|evaluate|detect|deploy|detection ...] [--quick]

With no part named, every part runs (what `make bench` does). `--quick` uses small sizes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.chdir(Path(__file__).resolve().parent.parent)

PARTS = ["compile", "incremental", "evaluate", "evaluate-history", "detect", "deploy", "detection"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", default=[], help=" | ".join(PARTS))
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every part")
    ap.add_argument("--mix", default="mixed")
    ap.add_argument("--sizes", type=int, nargs="+", help="compile: catalog sizes (default 100 1000 5000)")
    ap.add_argument("--services", type=int, help="incremental, evaluate and deploy: catalog size (default 1000)")
    ap.add_argument("--interval", type=int, default=60, help="evaluate-history: evaluation interval, seconds")
    ap.add_argument("--days", type=int, default=7, help="evaluate-history: days of backfilled history")
    ap.add_argument("--runs", type=int, help="detect: drill runs per kind (default 10)")
    ap.add_argument("--kinds", nargs="+", default=None, help="detect: threshold trend slo_page, each optionally :RUNS")
    ap.add_argument("--latency", type=float, default=0.005, help="deploy: seconds added to every fake request")
    args = ap.parse_args()
    parts = args.parts or PARTS
    if set(parts) - set(PARTS):
        ap.error(f"unknown part(s): {sorted(set(parts) - set(PARTS))}; choose from {PARTS}")
    q = args.quick
    base = ".venv/bin/python bench/run.py"
    flags = " --quick" if q else ""
    start = time.perf_counter()
    for part in parts:
        t = time.perf_counter()
        if part == "compile":
            import compile as c

            sizes = args.sizes or ([50, 200] if q else [100, 1000, 5000])
            c.main(
                sizes,
                args.mix,
                f"{base} compile{flags}" + (f" --sizes {' '.join(map(str, args.sizes))}" if args.sizes else ""),
            )
        elif part == "incremental":
            import compile as c

            n = args.services or (200 if q else 1000)
            c.incremental(n, args.mix, f"{base} incremental{flags}" + (f" --services {n}" if args.services else ""))
        elif part == "evaluate":
            import evaluate as e

            # 100: a size this 2-core machine evaluates within the interval (a clean ratio); 1000: the goal's size.
            for n in [args.services] if args.services else ([100] if q else [100, 1000]):
                e.main(n, args.mix, f"{base} evaluate{flags} --services {n}")
        elif part == "evaluate-history":
            import evaluate_history as eh

            # 7 days of backfilled raw and recorded history, evaluation every 1m (--interval 30 for 30s).
            # 20: the size whose recording-rule backfill and two measurements fit ~20 minutes on 2 shared cores.
            n = args.services or (5 if q else 20)
            days = 1 if q and args.days == 7 else args.days
            every = args.interval
            eh.main(
                n,
                f"{base} evaluate-history{flags}"
                + (f" --services {n}" if args.services else "")
                + (f" --interval {every}" if every != 60 else "")
                + (f" --days {args.days}" if args.days != 7 else ""),
                days=days,
                interval=every,
            )
        elif part == "detect":
            import detect as d

            runs = args.runs or (1 if q else 10)
            # An SLO-page run waits ~3 minutes for its longest window to hold no earlier fault: fewer runs.
            kinds = args.kinds or ["threshold", "trend", "slo_page:3"]
            d.main(kinds, runs, f"{base} detect{flags} --runs {runs} --kinds {' '.join(kinds)}", timeout=240)
        elif part == "deploy":
            import deploy as dp

            n = args.services or (100 if q else 1000)
            dp.main(
                n,
                args.latency,
                args.mix,
                f"{base} deploy{flags}"
                + (f" --services {n}" if args.services else "")
                + (f" --latency {args.latency}" if args.latency != 0.005 else ""),
            )
        elif part == "detection":
            import detection as nab

            # --quick: one NAB series per group, also on the bookworm generation; else all 58 series.
            nab.main(q, f"{base} detection{flags}")
        print(f"{part}: {time.perf_counter() - t:.0f}s", flush=True)
    print(f"bench: {time.perf_counter() - start:.0f}s; results in bench/results.md")


if __name__ == "__main__":
    main()
