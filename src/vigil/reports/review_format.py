"""The three faces of a review: a terminal summary grouped by service, a pull-request comment in
Markdown, and JSON (a sorted, stable list of change records) for scripts."""

from __future__ import annotations

import json
from typing import Any

from vigil.backtest.report import Result
from vigil.reports.review import KINDS, OVERVIEW, Change, Fields, Review
from vigil.reports.review_backtest import counts
from vigil.units import format_duration

_SIGN = {"added": "+", "removed": "-", "changed": "~"}
_TITLES = {"service": "Services", "alert": "Alerts", "route": "Routing", "slo": "SLOs", "dashboard": "Dashboards"}
_NOUN = {
    "service": ("service", "services"),
    "alert": ("alert", "alerts"),
    "route": ("routing row", "routing rows"),
    "slo": ("SLO", "SLOs"),
    "dashboard": ("dashboard change", "dashboard changes"),
}


def _plural(n: int, kind: str) -> str:
    one, many = _NOUN[kind]
    return f"{n} {one if n == 1 else many}"


def _told(told: list[Fields]) -> str:
    if not told:
        return "nobody"
    return ", ".join(
        t["receiver"] + f" via {t['via']}" + ("" if t["hours"] == "any time" else f" in {t['hours']}") for t in told
    )


def _told_delta(before: list[Fields], after: list[Fields]) -> str:
    """Who is told now, marking who is new (+) and who no longer is (-): a changed receiver's
    channel or hours shows as one of each."""
    gone = [t for t in before if t not in after]
    marked = [("+" if t not in before else "") + _told([t]) for t in after] + ["-" + _told([t]) for t in gone]
    return ", ".join(marked) or "nobody"


def _value(name: str, value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if name == "budget_minutes":
        return f"{value:g} min"
    return str(value)


def describe(change: Change) -> str:
    """What a record says, in one line, without the alert's expression (shown apart: it is long),
    and the postmortem that motivated it (`because:`), if the catalog names one."""
    said = _describe(change)
    fields = change.after if change.after is not None else change.before
    why = (fields or {}).get("because")
    if not why or change.after is None:
        if not said and change.before is not None:  # only `because:` was taken out
            return f"no longer because {change.before.get('because')}"
        return said
    return f"{said} (because {why})" if said else f"because {why}"


def _describe(change: Change) -> str:
    if change.change == "changed":
        assert change.before is not None and change.after is not None
        if change.kind == "route":
            return f"told {_told_delta(change.before['told'], change.after['told'])}"
        return "; ".join(
            f"{f} {_value(f, change.before.get(f))} → {_value(f, change.after.get(f))}"
            for f in change.fields
            if f not in ("expr", "because")
        ) or ("expression" if "expr" in change.fields else "")
    fields = change.after if change.after is not None else change.before
    assert fields is not None
    if change.kind == "alert":
        threshold = f" {fields['threshold']}" if fields["threshold"] else ""
        return f"{fields['kind']}{threshold}, for {fields['for']}"
    if change.kind == "route":
        return f"told {_told(fields['told'])}"
    if change.kind == "slo":
        threshold = f", threshold {fields['threshold']}" if fields["threshold"] else ""
        return (
            f"objective {fields['objective']} over {fields['window']}{threshold}, "
            f"error budget {_value('budget_minutes', fields['budget_minutes'])}"
        )
    return "; ".join(f"{k} {_value(k, v)}" for k, v in fields.items())


def _label(change: Change) -> str:
    """The record's name as a reviewer reads it: an alert with its severity."""
    if change.kind == "alert":
        fields = change.after if change.after is not None else change.before
        severity = fields["severity"] if fields else ""
        if change.fields and "severity" in change.fields and change.before and change.after:
            severity = f"{change.before['severity']} → {change.after['severity']}"
        return f"{change.name} ({severity})"
    return change.name


def _service_title(service: str) -> str:
    return "overview dashboard" if service == OVERVIEW else service


def _summary(review: Review) -> str:
    changes = review.changes
    if not changes:
        return "no changes"
    per_kind = [_plural(sum(c.kind == k for c in changes), k) for k in KINDS if any(c.kind == k for c in changes)]
    services = []
    if review.added_services:
        services.append(f"added {', '.join(review.added_services)}")
    if review.removed_services:
        services.append(f"removed {', '.join(review.removed_services)}")
    return ", ".join(per_kind) + (f" ({'; '.join(services)})" if services else "")


def _by_service(changes: list[Change]) -> dict[str, list[Change]]:
    out: dict[str, list[Change]] = {}
    for c in changes:
        out.setdefault(c.service, []).append(c)
    return out


def _backtest_of(review: Review, c: Change) -> Result | None:
    if review.backtest is None or c.kind != "alert" or c.after is None:
        return None
    found: Result | None = review.backtest.get((c.service, c.name, str(c.after.get("severity"))))
    return found


def _fired(result: Result | None) -> str:
    if result is None:
        return "no such alert"
    c = result.counts()
    times = "once" if c["firings"] == 1 else f"{c['firings']} times"
    return f"{times} ({format_duration(c['firing_seconds'])} firing)" if c["firings"] else "never"


def _backtest_line(review: Review, c: Change) -> str | None:
    result = _backtest_of(review, c)
    if result is None:
        return None
    return f"would have fired {_fired(result)}; before this change {_fired(result.base)}"


def text(review: Review) -> str:
    lines = [f"vigil review: {review.base} → working tree: {_summary(review)}"]
    for service, changes in _by_service(review.changes).items():
        note = (
            " (new service)"
            if service in review.added_services
            else " (removed service)"
            if service in review.removed_services
            else ""
        )
        lines += ["", _service_title(service) + note]
        for c in changes:
            lines.append(f"  {_SIGN[c.change]} {c.kind} {_label(c)}: {describe(c)}")
            backtest = _backtest_line(review, c)
            if backtest:
                lines.append(f"      backtest: {backtest}")
            if c.kind == "alert" and "expr" in c.fields:
                assert c.before is not None and c.after is not None
                lines += [f"      - {c.before['expr']}", f"      + {c.after['expr']}"]
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _table(changes: list[Change], with_kind: bool = False) -> list[str]:
    """One row per record; `with_kind` adds a column for tables that mix kinds."""
    head = ["service"] + (["kind"] if with_kind else []) + ["name", "change", "what"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for c in changes:
        cells = [_service_title(c.service)] + ([c.kind] if with_kind else []) + [_label(c), c.change, describe(c)]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return lines


def _expressions(changes: list[Change]) -> list[str]:
    """The alerts' expressions, old and new, as a diff in a collapsed block: long, but exact."""
    alerts = [c for c in changes if c.kind == "alert" and (c.change != "changed" or "expr" in c.fields)]
    if not alerts:
        return []
    lines = ["", f"<details><summary>Alert expressions ({len(alerts)})</summary>", ""]
    for c in alerts:
        lines += [f"**{c.service}** `{_label(c)}`", "", "```diff"]
        lines += [f"- {c.before['expr']}"] if c.before is not None else []
        lines += [f"+ {c.after['expr']}"] if c.after is not None else []
        lines += ["```", ""]
    return lines + ["</details>"]


def markdown(review: Review) -> str:
    """A pull-request comment: a summary line, a table per kind, then each added or removed
    service's records collapsed (they are many, and all of one piece)."""
    lines = [f"### vigil review against `{review.base}`", "", f"**{_summary(review)}**"]
    whole = set(review.added_services) | set(review.removed_services)
    piecemeal = [c for c in review.changes if c.service not in whole]
    for kind in KINDS:
        of_kind = [c for c in piecemeal if c.kind == kind]
        if of_kind:
            lines += ["", f"#### {_TITLES[kind]}", ""] + _table(of_kind)
            if kind == "alert":
                lines += _expressions(of_kind)
    backtested = [c for c in review.changes if _backtest_of(review, c) is not None]
    if backtested:
        lines += [
            "",
            "#### What the changed alerts would have done (backtest)",
            "",
            "| service | alert | this change | before it |",
            "|---|---|---|---|",
        ]
        for c in backtested:
            result = _backtest_of(review, c)
            assert result is not None
            lines.append(f"| {c.service} | `{_label(c)}` | {_fired(result)} | {_fired(result.base)} |")
    for service in sorted(whole):
        records = [c for c in review.changes if c.service == service]
        what = "New" if service in review.added_services else "Removed"
        counts = ", ".join(
            _plural(sum(c.kind == k for c in records), k) for k in KINDS[1:] if any(c.kind == k for c in records)
        )
        lines += ["", f"<details><summary>{what} service <code>{service}</code>: {counts}</summary>", ""]
        lines += _table(records, with_kind=True) + ["", "</details>"]
    return "\n".join(lines) + "\n"


def as_json(review: Review) -> str:
    records = []
    for c in review.changes:
        record = c.as_json()
        result = _backtest_of(review, c)
        if result is not None:
            record["backtest"] = counts(result)
        records.append(record)
    return json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
