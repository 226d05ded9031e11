"""`vigil postmortems search|stats`: the postmortem collection from the command line.

Both read the validated, resolved postmortems of the model (catalog/postmortems.py), so a search
by service or metric uses the same names as the alerts and dashboards.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from vigil import units
from vigil.catalog.postmortems import parse_time
from vigil.catalog.schema import did_you_mean
from vigil.model import Model, Postmortem

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Query:
    """What `search` asks for; every field that is set must match (words: all of them)."""

    text: str = ""
    service: str | None = None
    department: str | None = None    # the service's owner, or a department that was told
    metric: str | None = None        # a key metric id, or service:key_metric
    dependency: str | None = None    # a service in dependencies_involved
    since: dt.datetime | None = None  # occurred at or after


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """RFC 3339, a date (midnight UTC), `now`, or relative to now: -30d, -2h. ValueError otherwise."""
    now = now or dt.datetime.now(dt.UTC)
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("-"):
        return now - dt.timedelta(seconds=units.parse_duration(text[1:]))
    if _DATE.match(text):
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    try:
        when = parse_time(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use RFC 3339 (2026-03-14T09:00:00Z), a date (2026-03-14), "
                         "or a relative time (-30d, -2h)") from None
    return when


def searchable_text(pm: Postmortem) -> str:
    """Everything a person might search for: the body and every front matter value."""
    parts = [pm["id"], pm["title"], pm["service"], pm["severity"], pm["status"], pm["detected_by"], pm["alert"],
             *pm["departments"], *pm["dependencies_involved"], *pm["tags"], *pm["authors"], pm["body"]]
    parts += [f"{m['service']} {m['key_metric']} {m['peak']}" for m in pm["anomalous_metrics"]]
    parts += [f"{t['department']} {t['channel']}" for t in pm["told"]]
    return "\n".join(parts).lower()


def _metric_matches(pm: Postmortem, metric: str) -> bool:
    return any(metric in (m["key_metric"], f"{m['service']}:{m['key_metric']}") for m in pm["anomalous_metrics"])


def matches(pm: Postmortem, q: Query) -> bool:
    text = searchable_text(pm)
    return (all(word in text for word in q.text.lower().split())
            and (q.service is None or pm["service"] == q.service)
            and (q.department is None or q.department in pm["departments"])
            and (q.metric is None or _metric_matches(pm, q.metric))
            and (q.dependency is None or q.dependency in pm["dependencies_involved"])
            and (q.since is None or parse_time(pm["occurred"]) >= q.since))


def unknown_names(model: Model, q: Query) -> list[str]:
    """Filters naming nothing in the catalog: a typo would otherwise find nothing, silently."""
    services = [s["name"] for s in model["services"]]
    departments = [d["id"] for d in model["departments"]["departments"]]
    metrics = sorted({m["id"] for s in model["services"] for m in s["metrics"]}
                     | {slo["name"] for s in model["services"] for slo in s["slos"]})
    qualified = [f"{s['name']}:{m['id']}" for s in model["services"] for m in s["metrics"]]
    checks = [("--service", q.service, services), ("--department", q.department, departments),
              ("--dependency", q.dependency, services),
              ("--metric", q.metric, qualified if q.metric and ":" in q.metric else metrics)]
    return [f"{option}: no {option[2:]} '{value}' in the catalog{did_you_mean(value, known)}"
            for option, value, known in checks if value is not None and value not in known]


def search(model: Model, q: Query) -> list[Postmortem]:
    """The matching postmortems, newest first."""
    return [pm for pm in model.get("postmortems") or [] if matches(pm, q)]


def summary(pm: Postmortem) -> dict[str, Any]:
    """A search result for --json: the front matter as resolved, without the body and images."""
    return {k: v for k, v in pm.items() if k not in ("body", "images")}


@dataclass(frozen=True)
class Stats:
    """Incidents of one service or department. Medians over its postmortems, in seconds."""

    name: str
    incidents: int
    median_time_to_detect_seconds: float
    median_time_to_recover_seconds: float
    customer_first: int              # detected_by: customer


def _stats(name: str, pms: list[Postmortem]) -> Stats:
    return Stats(name, len(pms),
                 statistics.median(pm["time_to_detect_seconds"] for pm in pms),
                 statistics.median(pm["time_to_recover_seconds"] for pm in pms),
                 sum(pm["detected_by"] == "customer" for pm in pms))


def _grouped(pms: Iterable[Postmortem], key: str) -> list[Stats]:
    groups: dict[str, list[Postmortem]] = {}
    for pm in pms:
        groups.setdefault(str(pm[key]), []).append(pm)  # type: ignore[literal-required]
    return [_stats(name, group) for name, group in sorted(groups.items())]


def stats(postmortems: list[Postmortem]) -> dict[str, Any]:
    """Per service, per owner department, and over all: the `--json` shape of `vigil postmortems stats`."""
    return {"services": [asdict(s) for s in _grouped(postmortems, "service")],
            "departments": [asdict(s) for s in _grouped(postmortems, "owner")],
            "total": asdict(_stats("all", postmortems)) if postmortems else None}


def _duration(seconds: float) -> str:
    return units.format_duration(round(seconds))   # 12m30s, 1h5m, 2h: as Prometheus writes them


def format_results(results: list[Postmortem]) -> list[str]:
    return [f"{pm['occurred'][:10]}  {pm['severity']:<8}  {pm['service']:<16}  {pm['title']}  ({pm['file']}"
            + (", draft)" if pm["status"] == "draft" else ")") for pm in results]


def format_stats(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for title, rows in (("service", report["services"]), ("department", report["departments"])):
        width = max([len(title)] + [len(r["name"]) for r in rows])
        lines.append(f"{title:<{width}}  incidents  median detect  median recover  customer first")
        for r in rows + ([report["total"]] if report["total"] else []):
            detect = _duration(r["median_time_to_detect_seconds"])
            recover = _duration(r["median_time_to_recover_seconds"])
            lines.append(f"{r['name']:<{width}}  {r['incidents']:>9}  {detect:>13}  {recover:>14}  "
                         f"{r['customer_first']:>14}")
        lines.append("")
    return lines[:-1]
