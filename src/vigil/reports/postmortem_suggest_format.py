"""`vigil postmortem suggest` as text for people: the incident, then each proposal with when it
would have fired, what it would have cost, and the YAML to paste (the JSON is Report.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.backtest.timespec import format_time

if TYPE_CHECKING:
    from vigil.reports.postmortem_suggest import Report


def text(report: Report) -> str:
    pm = report.postmortem
    detected = f"{pm['detected']} (by {pm['detected_by']}{', ' + pm['alert'] if pm['alert'] else ''})"
    lines = [
        f"{pm['id']}: {pm['service']}, occurred {pm['occurred']}, detected {detected}, resolved {pm['resolved']}",
        f"backtest over {format_time(report.window.start)} → {format_time(report.window.end)}",
    ]
    if not report.suggestions:
        lines.append("no threshold or `for` change would have detected it earlier")
    for s in report.suggestions:
        change = "; ".join(
            f"{name} {pair[0]} → {pair[1]}" for name, pair in (("threshold", s.threshold), ("for", s.for_)) if pair
        )
        now = format_time(s.current_detected) if s.current_detected is not None else "did not fire"
        extra = s.proposed_firings - s.current_firings
        lines += [
            "",
            f"{s.service} {s.metric} {s.severity} ({s.alert}): {change}",
            f"  detected {format_time(s.proposed_detected)}, {s.minutes_earlier:g} min earlier (current alert: {now})",
            f"  firings over the window: {s.proposed_firings} (current {s.current_firings}, {extra:+d})",
            f"  paste into {s.file or 'the service file'} (it replaces the metric's entry):",
            *("    " + line for line in s.yaml.splitlines()),
        ]
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"
