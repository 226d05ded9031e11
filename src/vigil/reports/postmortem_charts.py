"""The charts of a postmortem draft: each anomalous key metric over the window, drawn like
`vigil preview` draws its dashboard panel (thresholds as lines, firing alerts shaded, the anomaly
band the draft used), to <postmortems>/img/<id>-<service>-<metric>.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.prometheus_api import Series
from vigil.reports.postmortem_draft import Draft
from vigil.reports.postmortem_metrics import MetricFacts
from vigil.reports.preview import COLOURS, Query, draw_chart

THRESHOLD_COLOURS = {"warning": "orange", "critical": "red", "info": "blue"}


def _panel(m: MetricFacts) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [
        {"color": THRESHOLD_COLOURS.get(t["severity"], "red"), "value": t["value"]} for t in m.metric["thresholds"]
    ]
    band = {
        "matcher": {"id": "byFrameRefID", "options": "band_hi"},
        "properties": [
            {"id": "custom.fillBelowTo", "value": "band low"},
            {"id": "custom.fillOpacity", "value": 12},
            {"id": "custom.lineStyle", "value": {"fill": "dash"}},
            {"id": "color", "value": {"mode": "fixed", "fixedColor": "purple"}},
        ],
    }
    low = {
        "matcher": {"id": "byFrameRefID", "options": "band_lo"},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash"}},
            {"id": "color", "value": {"mode": "fixed", "fixedColor": "purple"}},
        ],
    }
    return {
        "type": "timeseries",
        "fieldConfig": {
            "defaults": {
                "unit": m.metric["grafana_unit"],
                "thresholds": {"mode": "absolute", "steps": steps},
                "custom": {"thresholdsStyle": {"mode": "line+area"}, "lineWidth": 1},
            },
            "overrides": [band, low],
        },
    }


def chart(draft: Draft, m: MetricFacts, path: Path) -> None:
    queries = [Query("A", f"{m.service} {m.metric['id']}", [Series({}, m.times, m.values)])]
    if m.band is not None and m.times:
        lo, hi = m.band
        first, last = m.times[0], m.times[-1]
        queries.append(Query("band_lo", "band low", [Series({}, [first, last], [lo, lo])]))
        queries.append(Query("band_hi", "anomaly band (before)", [Series({}, [first, last], [hi, hi])]))
    spans = [
        (a.fired_at, a.resolved_at or draft.end, COLOURS["red"] if a.severity == "critical" else COLOURS["orange"])
        for a in draft.alerts
        if a.fired_at is not None and a.service == m.service and a.key_metric == m.metric["id"]
    ]
    title = f"{m.service} · {m.metric['title']} ({m.why})"
    draw_chart(path, title, _panel(m), queries, spans, draft.start, draft.end)


def image_name(pm_id: str, m: MetricFacts) -> str:
    return f"img/{pm_id}-{m.service}-{m.metric['id'].replace('_', '-')}.png"
