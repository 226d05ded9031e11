"""Compile: cold builds of synthetic catalogs by stage, against the serialisation floor, and the
incremental rebuild after one service's threshold changed.

The floor is what Python needs just to serialise the same output: every YAML artefact dumped
with libyaml (yaml.CSafeDumper) and every JSON one with json.dumps(indent=2), timed in the build's
own process on the parsed artefacts.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import BENCH, machine, write_section

from vigil.catalog.synthetic import write_catalog

STAGES = ["load", "validate", "resolve", "render", "dashboards", "write", "check"]

CHILD = r"""
import cProfile, io, json, pstats, sys, time
from pathlib import Path
import yaml
from vigil.build import build
catalog, out, cache, profile = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
prof = cProfile.Profile() if profile else None
start = time.perf_counter()
if prof: prof.enable()
report = build(catalog, out, run_checks=sys.argv[5] == "1", run_tests=False,
               cache_dir=Path(cache) if cache else None)
if prof: prof.disable()
total = time.perf_counter() - start
top = ""
if prof:
    s = io.StringIO(); pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25); top = s.getvalue()
if sys.argv[6] != "1":      # no floor wanted (the incremental rebuild): stop at the build
    print(json.dumps({"total": total, "floor": 0, "files": 0, "bytes": 0, "profile": top, **report.seconds}))
    raise SystemExit(0)
# The floor: serialise the same artefacts.
docs = []
for p in sorted(out.rglob("*")):
    if p.suffix in (".yaml", ".yml"):
        docs.append(("y", yaml.load(p.read_text(), Loader=yaml.CSafeLoader)))
    elif p.suffix == ".json":
        docs.append(("j", json.loads(p.read_text())))
t0 = time.perf_counter()
size = 0
for kind, d in docs:
    size += len(yaml.dump(d, Dumper=yaml.CSafeDumper, sort_keys=False) if kind == "y" else json.dumps(d, indent=2))
floor = time.perf_counter() - t0
print(json.dumps({"total": total, "floor": floor, "files": len(docs), "bytes": size, "profile": top, **report.seconds}))
"""


def run_build(
    catalog: Path, out: Path, cache: Path | None = None, profile: bool = False, checks: bool = True, floor: bool = True
) -> dict:
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = [
        sys.executable,
        "-c",
        CHILD,
        str(catalog),
        str(out),
        str(cache or ""),
        "1" if profile else "0",
        "1" if checks else "0",
        "1" if floor else "0",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise SystemExit(f"build failed:\n{proc.stderr[-3000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["process"] = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the build process and everything it started: steadier than wall time on a busy machine.
    figures["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return figures


def main(sizes: list[int], mix: str, command: str) -> None:
    started = time.perf_counter()
    header = machine()
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            catalog = write_catalog(Path(tmp) / "catalog", n, mix)
            f = run_build(catalog, Path(tmp) / "out")
            rows.append((n, f))
            print(f"compile {n}: total {f['total']:.2f}s floor {f['floor']:.3f}s", flush=True)
    lines = [
        "## 1. Compile: cold `vigil build`, by stage\n",
        f"`{command}`\n",
        f"Machine: {header}. Catalogs: `python -m vigil.catalog.synthetic --mix {mix}` (every built-in profile in rotation, "
        "one availability SLO per HTTP service, one dependency each). Each build runs in a fresh process "
        "with no cache; fast checks (promtool check rules by shape, amtool, dashboard lint) included, "
        "promtool unit tests not (`vigil build` default). Floor: the same artefacts serialised by "
        "Python (libyaml `CSafeDumper` for YAML, `json.dumps(indent=2)` for JSON).\n",
        "| services | files | " + " | ".join(STAGES) + " | build total | floor | ratio to floor |",
        "|---" * (len(STAGES) + 5) + "|",
    ]
    for n, f in rows:
        cells = " | ".join(f"{f.get(s, 0):.2f}" for s in STAGES)
        lines.append(
            f"| {n} | {f['files']} | {cells} | {f['total']:.2f} | {f['floor']:.3f} | {f['total'] / f['floor']:.2f}× |"
        )
    lines.append(f"\nThis part took {time.perf_counter() - started:.0f} s.")
    write_section("compile", "\n".join(lines))
    plot(rows)


def incremental(n: int, mix: str, command: str) -> None:
    """Rebuild after one service's threshold changed, with the cache warm; and the same rebuild
    without the fast checks: what it would cost if their results were cached by content too."""
    started = time.perf_counter()
    header = machine()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = write_catalog(Path(tmp) / "catalog", n, mix)
        cache = Path(tmp) / "cache"
        run_build(catalog, Path(tmp) / "out", cache)  # fill the cache
        victim = catalog / "services" / "svc-00000.yaml"
        runs = []
        for value, profile in (("2%", False), ("1.5%", True)):
            text = victim.read_text()
            victim.write_text(re.sub(r"warning: [0-9.]+%", f"warning: {value}", text, count=1))
            runs.append(run_build(catalog, Path(tmp) / "out", cache, profile=profile, floor=False))
        inc, prof = runs
    cells = ", ".join(f"{s} {inc.get(s, 0):.2f}" for s in STAGES)
    lines = [
        "## 1b. Incremental rebuild\n",
        f"`{command}`\n",
        f"Machine: {header}. {n} services ({mix} mix), cache warm (`--cache`), then one service's `error_ratio` "
        "warning threshold changed and the catalog rebuilt in a fresh process. Goal: under 1 s.\n",
        "| rebuild | seconds (in the build) | with interpreter start and imports | CPU seconds (process and children) | by stage |",
        "|---|---|---|---|---|",
        f"| `vigil build` (fast checks included, their results cached by content) | **{inc['total']:.2f}** | "
        f"{inc['process']:.2f} | {inc['cpu']:.2f} | {cells} |",
        "",
        "cProfile of the rebuild (cumulative, top entries; profiling slows it):",
        "",
        "```",
        "\n".join(prof["profile"].strip().splitlines()[:34]),
        "```",
        f"\nThis part took {time.perf_counter() - started:.0f} s.",
    ]
    write_section("incremental", "\n".join(lines))


def plot(rows: list[tuple[int, dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [n for n, _ in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bottom = [0.0] * len(ns)
    for s in STAGES:
        vals = [f.get(s, 0) for _, f in rows]
        ax.bar([str(n) for n in ns], vals, bottom=bottom, label=s)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.plot([str(n) for n in ns], [f["floor"] for _, f in rows], "k--o", label="floor (serialise)")
    ax.set_xlabel("services")
    ax.set_ylabel("seconds (cold build)")
    ax.set_title("vigil build: time by stage vs serialisation floor")
    ax.legend()
    fig.tight_layout()
    fig.savefig(BENCH / "compile.png", dpi=100)
