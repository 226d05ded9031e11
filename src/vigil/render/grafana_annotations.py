"""Render the postmortems as Grafana annotations: output/grafana/annotations.json.

One region annotation (occurred → resolved) per postmortem per dashboard: the dashboard of the
service where it showed and those of each of its `dependencies_involved`, so that a past incident
shows where people look. `vigil deploy` pushes exactly this file (deploy/annotations.py), so the
annotations are reviewed in the pull request like the dashboards they sit on.

The file is written for every catalog, with an empty list when there are no postmortems: a
postmortem deleted from the catalog must still reach deploy as "no annotation wanted", so that
`--prune` can remove it from Grafana.

Tags mark what vigil owns (Grafana's own way to select annotations): `vigil` and
`vigil-postmortem:<id>` on every one, with `service:<service>` and `severity:<severity>` for
people filtering an annotation query. Dashboard uids come from the resolved model.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from vigil.layout import ANNOTATIONS_FILE
from vigil.model import Model, Postmortem
from vigil.render.serialise import Artefacts, to_json
from vigil.units import format_duration

OWNER_TAG = "vigil"
POSTMORTEM_TAG = "vigil-postmortem:"  # + the postmortem id


def epoch_ms(utc: str) -> int:
    """A model time (UTC, RFC 3339, `Z`) as Grafana's annotation time: epoch milliseconds."""
    return int(dt.datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp() * 1000)


def tags(pm: Postmortem) -> list[str]:
    return sorted([OWNER_TAG, POSTMORTEM_TAG + pm["id"], f"service:{pm['service']}", f"severity:{pm['severity']}"])


def text(pm: Postmortem, dashboard_service: str, url: str) -> str:
    """What the annotation's tooltip shows. Grafana renders annotation text as (sanitised) HTML,
    so everything from the postmortem is escaped and the link is an <a>."""
    draft = " (draft)" if pm["status"] == "draft" else ""
    lines = [f"Postmortem{draft}: {escape(pm['title'])}"]
    where = f"{pm['severity']} incident on {pm['service']}"
    if dashboard_service != pm["service"]:
        where += f"; {dashboard_service} was involved"
    lines.append(escape(where))
    lines.append(
        escape(
            f"occurred {pm['occurred']}, detected {pm['detected']} by {pm['detected_by']} "
            f"after {format_duration(round(pm['time_to_detect_seconds']))}, resolved {pm['resolved']} "
            f"after {format_duration(round(pm['time_to_recover_seconds']))}"
        )
    )
    if url:
        lines.append(f'<a href="{escape(url)}#{escape(pm["id"])}">{escape(pm["id"])}</a>')
    else:
        lines.append(escape(f"{pm['id']} ({pm['file']})"))
    return "\n".join(lines)


def region_annotations(model: Model) -> list[dict[str, Any]]:
    """The wanted annotations, sorted by postmortem id, then dashboard uid."""
    uid_of = {s["name"]: s["dashboard"]["uid"] for s in model["services"]}
    url = model["settings"].get("postmortems_url", "")
    out = []
    for pm in model.get("postmortems") or []:
        for service in sorted({pm["service"], *pm["dependencies_involved"]}):
            out.append(
                {
                    "postmortem": pm["id"],
                    "dashboardUID": uid_of[service],
                    "time": epoch_ms(pm["occurred"]),
                    "timeEnd": epoch_ms(pm["resolved"]),
                    "tags": tags(pm),
                    "text": text(pm, service, url),
                }
            )
    return sorted(out, key=lambda a: (a["postmortem"], a["dashboardUID"]))


def render(model: Model) -> Artefacts:
    return {ANNOTATIONS_FILE: to_json({"annotations": region_annotations(model)})}
