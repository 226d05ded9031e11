"""`vigil routes`: the propagation matrix, so a reviewer sees in the PR who is told about what.

One row per service and severity (and alert kind, when a policy line matches on it), listing each
department channel told and the hours it applies. The receivers come from the same policy
evaluation as the generated routing cases, which amtool proves against the generated tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.model import Model
from vigil.render.alertmanager import SEVERITIES, policy_receivers

KINDS = ("threshold", "trend", "anomaly", "absent", "slo_burn")


@dataclass(frozen=True)
class Told:
    receiver: str  # department/channel
    via: str  # the channel's kind: pagerduty, slack, ...
    hours: str  # "any time", or the time intervals it is limited to


@dataclass(frozen=True)
class Row:
    service: str
    severity: str
    kinds: str  # "" when routing does not depend on the alert kind
    told: tuple[Told, ...]


def _interval_text(specs: list[dict[str, Any]]) -> str:
    parts = []
    for spec in specs:
        words = [",".join(spec[k]) for k in ("years", "months", "days_of_month", "weekdays") if k in spec]
        words += [",".join(t["start_time"] + "-" + t["end_time"] for t in spec.get("times", []))]
        words += [spec.get("location", "UTC")]
        parts.append(" ".join(w for w in words if w))
    return "; ".join(parts)


def matrix(model: Model) -> list[Row]:
    deps = model["departments"]
    channels = {c["receiver"]: (d, c) for d in deps["departments"] for c in d["channels"]}
    by_kind = any("kind" in p["when"] for p in deps["propagation"])

    def told(receiver: str, note: str = "") -> Told:
        dept, channel = channels[receiver]
        hours = ", ".join(f"{n} ({_interval_text(deps['time_intervals'][n])})" for n in dept["active_hours"])
        return Told(receiver + note, channel["kind"], hours or "any time")

    rows = []
    for service in model["services"]:
        for severity in SEVERITIES:
            groups: dict[tuple[str, ...], list[str]] = {}
            for kind in KINDS if by_kind else ("",):
                labels = {**service["labels"], "severity": severity, **({"kind": kind} if kind else {})}
                groups.setdefault(tuple(policy_receivers(deps, labels)), []).append(kind)
            for receivers, kinds in groups.items():
                shown = "" if not by_kind or len(groups) == 1 else ",".join(kinds)
                # What no line takes goes to the root route's receiver: say so, it is a default.
                listed = tuple(told(r) for r in receivers) or (told(deps["catch_all"]["receiver"], " (catch-all)"),)
                rows.append(Row(service["name"], severity, shown, listed))
    return rows


def format_table(rows: list[Row], markdown: bool = False) -> str:
    kinds = any(r.kinds for r in rows)
    head = ["service", "severity"] + (["kinds"] if kinds else []) + ["told", "via", "hours"]
    lines: list[list[str]] = []
    for row in rows:
        for i, t in enumerate(row.told):
            first = i == 0 or markdown
            lines.append(
                ([row.service, row.severity] if first else ["", ""])
                + ([row.kinds if first else ""] if kinds else [])
                + [t.receiver, t.via, t.hours]
            )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(out + ["| " + " | ".join(cells) + " |" for cells in lines]) + "\n"
    widths = [max(len(c) for c in col) for col in zip(*([[h.upper() for h in head]] + lines))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([fmt([h.upper() for h in head])] + [fmt(cells) for cells in lines]) + "\n"


def routes_table(catalog: Path, markdown: bool = False) -> str:
    """The propagation matrix of a catalog, as text (or a Markdown table for a PR comment)."""
    from vigil.build import BuildReport, compile_catalog

    _, model = compile_catalog(catalog, BuildReport())
    return format_table(matrix(model), markdown)
