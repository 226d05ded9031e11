"""Detection: `vigil drill` repeated on a private local stack (its own state directory and ports),
median and maximum latency from the fault to the first department told, against the floor the
drill computes for the alert's kind (`vigil drill --kind`, stack/drill_plan.py): scrape +
evaluation + `for` + group_wait, plus the trend's projection crossing on the exporter's ramp, or
the SLO page's burn accruing in its windows.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, machine, write_section

# bench kind → (fault, service, `vigil drill --kind`); services of the example catalog.
KINDS = {
    "threshold": ("error_spike", "checkout", "threshold"),
    "trend": ("memory_leak", "checkout", "trend"),
    "slo_page": ("error_spike", "checkout", "slo"),
}


def main(kinds: list[str], runs: int, command: str, timeout: float) -> None:
    """kinds: names, or name:runs to override `runs` for that kind."""
    from vigil.stack.drill import run_drill
    from vigil.stack.local import down, up

    started = time.perf_counter()
    header = machine()
    state = Path(tempfile.mkdtemp(prefix="vigil-bench-stack-"))
    catalog = ROOT / "catalog"
    results: dict[str, list[dict[str, Any]]] = {}
    notes: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    try:
        up(state, catalog)
        for spec in kinds:
            kind, _, n = spec.partition(":")
            fault, service, drill_kind = KINDS[kind]
            results[kind] = []
            for i in range(int(n or runs)):
                t = time.perf_counter()
                try:
                    r = run_drill(state, catalog, service, fault, kind=drill_kind, timeout=timeout, echo=lambda s: None)
                except Exception as e:
                    failed[kind] = f"{type(e).__name__}: {str(e).splitlines()[-1][:300]}"
                    print(f"detect {kind}: the drill cannot run it: {failed[kind]}", flush=True)
                    break
                first = min((r.latency(x) for x in r.told), default=None)  # type: ignore[type-var]
                floor = min(r.floor.values())
                notes[kind] = r.floor_notes
                results[kind].append(
                    {
                        "latency": first,
                        "floor": floor,
                        "alert": r.alertname,
                        "severity": r.severity,
                        "parts": r.floor_parts,
                        "wall": time.perf_counter() - t,
                        "pending": (r.pending_at - r.fault_at) if r.pending_at else None,
                    }
                )
                shown = f"{first:.1f}s" if first is not None else "not told"
                print(
                    f"detect {kind} run {i + 1}/{n or runs}: {shown} (floor {floor:.1f}s, run {time.perf_counter() - t:.0f}s)",
                    flush=True,
                )
    finally:
        print(down(state))
        shutil.rmtree(state, ignore_errors=True)
    write_section("detect", _report(results, notes, failed, header, command, timeout, time.perf_counter() - started))


def _report(
    results: dict[str, list[dict[str, Any]]],
    notes: dict[str, list[str]],
    failed: dict[str, str],
    header: str,
    command: str,
    timeout: float,
    took: float,
) -> str:
    lines = [
        "## 3. Detection latency (`vigil drill` on a private local stack)\n",
        f"`{command}`\n",
        f"Machine: {header}. Example catalog, service `checkout`; each run rebuilds and redeploys the drill "
        "catalog (`vigil drill --kind K`: short timings for the drilled alert only, thresholds the catalog's), "
        "waits for the service to settle and for the alert's windows to hold no earlier fault, injects the fault "
        "at the demo exporter and measures fault → first department told (Alertmanager webhook received by the "
        "sink). Floor: the drill's, per kind (parts below, in seconds). Goal: median ≤ floor + one evaluation "
        "interval. The floor adds each stage's worst case, so a run can fall up to one scrape, one evaluation "
        "interval and group_wait below it (Alertmanager flushes a new group at once when the alert's startsAt + "
        "group_wait has passed, as it has whenever `for` ≥ group_wait; docs/deploy.md).\n",
        "| kind | alert | runs | told | median | max | floor (its parts) | median − floor | goal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, rs in results.items():
        if not rs:
            continue
        got = [r["latency"] for r in rs if r["latency"] is not None]
        floor = statistics.median(r["floor"] for r in rs)
        ev = rs[0]["parts"].get("evaluation", 1.0)
        parts = " + ".join(f"{k} {v:g}" for k, v in rs[0]["parts"].items())
        alert = f"{rs[0]['alert']} ({rs[0]['severity']})"
        if got:
            med = statistics.median(got)
            lines.append(
                f"| {kind} | {alert} | {len(rs)} | {len(got)} | {med:.1f} s | {max(got):.1f} s | "
                f"{floor:.1f} s ({parts}) | {med - floor:+.1f} s | {'met' if med <= floor + ev else 'missed'} |"
            )
        else:
            lines.append(
                f"| {kind} | {alert} | {len(rs)} | 0 | - | - | {floor:.1f} s ({parts}) | - | "
                f"not told within {timeout:g} s |"
            )
    for kind, why in failed.items():
        lines.append(
            f"| {kind} | {KINDS[kind][2]} alert on {KINDS[kind][0]} | - | - | - | - | - | - | "
            f"the drill cannot run it: {why} |"
        )
    derived = [f"- **{kind}**: {note}" for kind, ns in notes.items() for note in ns]
    if derived:
        lines += [
            "",
            "How the derived floor parts were computed (from the demo exporter's fault shapes):",
            "",
            *derived,
        ]
    walls = {kind: statistics.mean(r["wall"] for r in rs) for kind, rs in results.items() if rs}
    if walls:
        lines.append(
            "\nThis part took "
            + f"{took:.0f} s (one drill run ≈ "
            + ", ".join(f"{w:.0f} s for {k}" for k, w in walls.items())
            + "; an SLO page run first waits until its 3m window holds no earlier fault)."
        )
    return "\n".join(lines)
