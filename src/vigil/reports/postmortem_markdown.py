"""A postmortem draft as Markdown: the template's front matter and sections (docs/postmortems.md),
every data field filled from the facts (postmortem_draft.py), every human field a marked prompt.

The file is named <date occurred>-<service>-<slug>.md, the slug from the first alert that fired
(ErrorRatioHigh → error-ratio-high) or the first anomalous metric; an existing file is never
overwritten unless asked (--force): the next free name (-2, -3, ...) is taken instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from vigil.errors import VigilError
from vigil.reports.postmortem_draft import Draft, minutes_before_customer, peak_text, rfc3339
from vigil.reports.postmortem_metrics import MetricFacts
from vigil.units import format_duration, format_quantity

# What a person still has to write. Searchable: `grep -rn '\[to write\]' postmortems/`.
PROMPT = "> **[to write]**"


def slug(draft: Draft) -> str:
    first = draft.first_alert
    if first is not None:
        words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", first.alert)
    else:
        anomalous = draft.anomalous()
        words = anomalous[0].metric["id"] if anomalous else "incident"
    return re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-") or "incident"


def target(draft: Draft, dest: Path, force: bool) -> tuple[str, Path]:
    """(id, path) of the draft's file: the next free name unless force."""
    base = f"{rfc3339(draft.occurred)[:10]}-{draft.name}-{slug(draft)}"
    if force or not (dest / f"{base}.md").exists():
        return base, dest / f"{base}.md"
    for n in range(2, 1000):
        if not (dest / f"{base}-{n}.md").exists():
            return f"{base}-{n}", dest / f"{base}-{n}.md"
    raise VigilError(f"{dest / base}.md and 998 numbered drafts exist already; use --force to overwrite")


def front_matter(draft: Draft, pm_id: str) -> dict[str, Any]:
    first = draft.first_alert
    anomalous = draft.anomalous()
    if first is not None:
        what = f"{first.alert} ({first.severity})"
        if draft.dependencies_involved:
            what += f", {', '.join(draft.dependencies_involved)} involved"
    elif anomalous:
        what = f"{anomalous[0].metric['title'].lower()} {anomalous[0].why}"
    else:
        what = "incident"
    out: dict[str, Any] = {
        "id": pm_id,
        "title": f"{draft.name}: {what}",
        "service": draft.name,
        "severity": draft.severity,
        "status": "draft",
        "occurred": rfc3339(draft.occurred),
        "detected": rfc3339(draft.detected),
        "resolved": rfc3339(draft.resolved),
        "detected_by": draft.detected_by,
    }
    if first is not None:
        out["alert"] = first.alert
    out["told"] = [{"department": t.department, "channel": t.channel, "at": rfc3339(t.at)} for t in draft.told]
    out["anomalous_metrics"] = [
        {"service": m.service, "key_metric": m.metric["id"], "peak": peak_text(m), "at": rfc3339(m.worst_at)}
        for m in draft.anomalous()
        if m.worst_at is not None
    ]
    out["dependencies_involved"] = draft.dependencies_involved
    out["authors"] = []
    out["tags"] = ["drafted"]
    return out


def _t(t: float | None) -> str:
    return "–" if t is None else rfc3339(t).replace("T", " ").replace(".000Z", "Z")


def _since(t: float | None, origin: float) -> str:
    if t is None:
        return "–"
    d = t - origin
    # Tenths of a second under a minute (a drill's events are a second apart), else whole seconds.
    shown = f"{abs(d):.1f}s" if abs(d) < 60 else format_duration(round(abs(d)))
    return ("+" if d >= 0 else "−") + shown


def _value(m: MetricFacts, v: float | None) -> str:
    return "–" if v is None else format_quantity(round(v, 6), m.metric["unit"])


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def _timeline(d: Draft) -> list[str]:
    o = d.occurred
    src = {
        "observed": "observed: Prometheus's `ALERTS` samples",
        "reconstructed": "reconstructed: the alerts evaluated over the window from raw series (vigil backtest)",
    }[d.detection_source]
    lines = ["## Timeline", "", "### Occurrence", "", f"{_t(o)}: {d.occurred_note}.", ""]
    for m in d.anomalous():
        lines.append(f"- {_t(m.left_at)} ({_since(m.left_at, o)}): {m.service} {m.metric['id']} {m.why}")
    lines += ["", "### Detection", "", f"Each alert's pending and firing ({src}):", ""]
    rows = [
        [a.service, a.alert, a.severity, _t(a.pending_at), _t(a.fired_at), _since(a.fired_at, o), _t(a.resolved_at)]
        for a in sorted(d.alerts, key=lambda a: (a.pending_at or 0, a.alert, a.severity))
    ]
    lines += (
        _table(["service", "alert", "severity", "pending", "firing", "after occurrence", "resolved"], rows)
        if rows
        else ["No alert fired in the window."]
    )
    lines += ["", "**Detection before the customer?**", ""]
    if d.slo_burn_at is not None:
        lines.append(f"- The SLO burn began {_t(d.slo_burn_at)} ({d.slo_burn_what}: error ratio above the budget).")
    elif d.slo_burn_what:
        lines.append(f"- No SLO began to burn in the window; {d.slo_burn_what}.")
    else:
        lines.append("- No SLO of a customer-facing service burnt faster than its budget in the window.")
    if d.symptom_at is not None:
        lines.append(f"- The first customer-facing symptom: {d.symptom_what} past its threshold at {_t(d.symptom_at)}.")
    else:
        lines.append("- No customer-facing error ratio or latency passed its threshold in the window.")
    minutes = minutes_before_customer(d)
    if minutes is not None:
        ahead = f"{abs(minutes):g} minutes" if abs(minutes) >= 1 else f"{abs(minutes) * 60:.0f} seconds"
        lines.append(
            f"- Detected {ahead} before the customer saw it."
            if minutes >= 0
            else f"- Detected {ahead} **after** the customer saw it (the symptom is past the threshold; the "
            "alert waits its `for`)."
        )
    lines += ["", "### Propagation", ""]
    if d.told:
        lines += _table(
            ["department", "channel", "told at", "alert", "how we know"],
            [[t.department, t.channel, _t(t.at), f"{t.alert} ({t.severity})", t.how] for t in d.told],
        )
        lines += [
            "",
            "Alertmanager keeps no record of when it notified: each time is the alert's firing plus the "
            "department's group_wait. "
            + (
                "Receivers were read from Alertmanager where it still held the alert."
                if d.alertmanager_seen
                else "Receivers are the routing policy's (`vigil routes`); pass --alertmanager to read them."
            ),
            f"{PROMPT} who else was told, how (phone, meeting, status page), and when.",
        ]
    else:
        lines.append(f"{PROMPT} no alert fired: who was told, how and when.")
    lines += [
        "",
        "### Judgment",
        "",
        f"{PROMPT} what the responders believed, what they decided, and when.",
        "",
        "### Recovery",
        "",
        f"{_t(d.resolved)}: {d.resolved_note}.",
        "",
        f"{PROMPT} what restored service.",
        "",
        "### Analysis",
        "",
        f"{PROMPT} the cause, and why it was possible.",
        "",
        "### Sharing",
        "",
        f"{PROMPT} who was informed of the analysis, and where.",
        "",
        "### Retrospective",
        "",
        f"{PROMPT} what went well, what did not, where we were lucky.",
    ]
    return lines


def render(d: Draft, pm_id: str, images: dict[str, str]) -> str:
    """The whole file; images: (service key_metric) → img/... of the charts drawn."""
    fm = yaml.safe_dump(front_matter(d, pm_id), sort_keys=False, allow_unicode=True, width=120)
    win = f"{_t(d.start)} → {_t(d.end)}"
    lines = [
        "---",
        "# Drafted by `vigil postmortem draft` from the stack: check every field, then fill in each",
        "# '[to write]' prompt and set status: final (docs/postmortems.md).",
        fm.rstrip(),
        "---",
        "",
        "## Summary",
        "",
        f"Window {win}. {d.name} ({d.service['owner']}): occurrence {_t(d.occurred)}, detected "
        f"{_t(d.detected)} by {d.detected_by} ({_since(d.detected, d.occurred)}), resolved {_t(d.resolved)} "
        f"({_since(d.resolved, d.occurred)}).",
        "",
        f"{PROMPT} what happened, to whom, for how long, in three sentences.",
    ]
    if d.notes:
        lines += [""] + [f"- Note: {n}." for n in d.notes]
    lines += [""] + _timeline(d) + ["", "## Metrics that showed the anomaly", ""]
    anomalous = d.anomalous()
    rows = [[m.service, m.metric["id"], m.why, _t(m.left_at), _value(m, m.worst), _t(m.worst_at)] for m in anomalous]
    lines += (
        _table(["service", "key metric", "left its normal range", "at", "peak", "peak at"], rows)
        if rows
        else ["No key metric of the service or its dependencies left its normal range in the window."]
    )
    for m in anomalous:
        src = images.get(f"{m.service} {m.metric['id']}")
        if src:
            lines += ["", f"![{m.service} {m.metric['title']}]({src})"]
    lines += [
        "",
        "## Error logs",
        "",
        f"[The logs of {d.name}, {win}]({d.logs_url})"
        if d.logs_url
        else "No `logs_url` in catalog/vigil.yaml: set one to get a ready link to the logs of the window.",
        "",
        f"{PROMPT} the few log lines that explain it (no secrets, no personal data).",
        "",
        "## Thresholds",
        "",
        "The thresholds in force (the catalog's), and each alert's lead (−) or lag (+) against the occurrence:",
        "",
    ]
    alerts_of = {(a.service, a.alert, a.severity): a for a in d.alerts if a.fired_at is not None}
    rows = []
    for m in [m for m in d.metrics if m.service in {d.name, *d.dependencies_involved}]:
        for th in m.metric["thresholds"]:
            a = alerts_of.get((m.service, th["alert"], th["severity"]))
            lag = _since(a.fired_at, d.occurred) if a else "did not fire"
            rows.append([m.service, m.metric["id"], th["severity"], th["text"], th["for"], th["alert"], lag])
    lines += _table(["service", "key metric", "severity", "threshold", "for", "alert", "fired"], rows)
    lines += ["", f"{PROMPT} did they fire early enough?", "", "## Connection failure points", ""]
    points = [m for m in d.metrics if m.service in d.dependencies_involved and m.connection_point]
    if points:
        lines += _table(
            ["dependency", "key metric", "before", "worst", "after"],
            [[m.service, m.metric["id"], _value(m, m.before), _value(m, m.worst), _value(m, m.after)] for m in points],
        )
    else:
        lines.append("No connection, pool, circuit-breaker, queue or eviction metric of a dependency moved.")
    lines += ["", f"{PROMPT} where connections failed: client → service → dependency.", ""]
    lines += [
        "## Metrics before and after",
        "",
        f"Before: the median of the {format_duration(d.end - d.start)} "
        "before the window; worst: in the window; after: at its end.",
        "",
    ]
    scope = {d.name, *d.service["dependencies"]}
    lines += _table(
        ["service", "metric", "before", "worst", "at", "after"],
        [
            [m.service, m.metric["id"], _value(m, m.before), _value(m, m.worst), _t(m.worst_at), _value(m, m.after)]
            for m in d.metrics
            if m.service in scope
        ],
    )
    lines += ["", "## Middleware and connected applications", ""]
    if d.dependencies_involved:
        for dep in d.dependencies_involved:
            users = d.connected.get(dep) or []
            lines.append(
                f"- **{dep}** moved; also used by {', '.join(users) if users else 'no other service of the catalog'}."
            )
            for name in users:
                moved = [m for m in d.metrics if m.service == name and (m.moved() or 0) > 0.1]
                trend = "; ".join(f"{m.metric['id']} {_value(m, m.before)} → {_value(m, m.worst)}" for m in moved)
                lines.append(f"  - {name}: {trend or 'no key metric moved by more than 10%'}")
    else:
        lines.append("No dependency's key metric left its normal range.")
    lines += [
        "",
        "## Fixes",
        "",
        "### Proposed",
        "",
        f"{PROMPT} the fixes considered.",
        "",
        "### Chosen, and why",
        "",
        f"{PROMPT} the one chosen, and why.",
        "",
        "## Threshold changes",
        "",
        f"{PROMPT} what the catalog changes as a result (a pull request; `because:` names this postmortem).",
        "",
        "## Action items",
        "",
        f"{PROMPT} who does what, by when.",
        "",
    ]
    return "\n".join(lines)


def write(d: Draft, dest: Path, force: bool = False, charts: bool = True) -> Path:
    from vigil.reports.postmortem_charts import chart, image_name

    dest.mkdir(parents=True, exist_ok=True)
    pm_id, path = target(d, dest, force)
    images: dict[str, str] = {}
    if charts:
        for m in d.anomalous():
            if m.times:
                src = image_name(pm_id, m)
                chart(d, m, dest / src)
                images[f"{m.service} {m.metric['id']}"] = src
    path.write_text(render(d, pm_id, images), encoding="utf-8")
    return path


def summary(d: Draft, path: Path | None = None) -> str:
    """The timeline in a few lines, for the terminal."""
    o = d.occurred
    lines = [f"postmortem draft: {path}" if path else f"postmortem draft of {d.name}"]
    lines.append(f"  {_t(o)}  occurred: {d.occurred_note}")
    for a in sorted((a for a in d.alerts if a.fired_at is not None), key=lambda a: a.fired_at or 0):
        lines.append(
            f"  {_t(a.fired_at)}  {_since(a.fired_at, o):>8}  {a.service} {a.alert} ({a.severity}) firing, {a.source}"
        )
    for t in d.told:
        lines.append(f"  {_t(t.at)}  {_since(t.at, o):>8}  {t.department}/{t.channel} told ({t.alert}, computed)")
    lines.append(f"  {_t(d.resolved)}  {_since(d.resolved, o):>8}  {d.resolved_note}")
    if d.dependencies_involved:
        lines.append(f"  dependencies involved: {', '.join(d.dependencies_involved)}")
    return "\n".join(lines)
