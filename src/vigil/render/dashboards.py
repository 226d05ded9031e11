"""Stage 4 for Grafana: a dashboard per service, the overview, and the folder manifest.

- `grafana/dashboards/<uid>.json`: one per service (generators/grafana.jsonnet), plus the overview
  (generators/overview.jsonnet);
- `grafana/folders.json`: the folder of each department (uid, title) and the dashboards it holds,
  for the deploy step (Grafana's dashboard JSON has no field for its folder).

Each service dashboard is one Jsonnet evaluation, cached by content hash like the Prometheus rules;
its key includes the dependencies it draws, so a change to redis-cache re-renders its dependants.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from vigil.errors import RenderError
from vigil.model import Model, Service
from vigil.render import Artefacts, Cache, evaluate, evaluate_each, parallel_map, to_json

if TYPE_CHECKING:
    from vigil.check import CheckReport
    from vigil.dashboard_checks import Alert

# Grafana's named colours, by meaning. The generators colour threshold steps with these and
# dashboard_checks.py checks that a step has its alert's severity colour: one definition for both.
PALETTE: dict[str, str] = {
    "critical": "red",
    "warning": "orange",
    "ok": "green",
    "trend": "purple",   # the predict_linear projection
    "band": "blue",      # the anomaly baseline band
}
OVERVIEW_UID = "vigil-overview"
DASHBOARDS_DIR = "grafana/dashboards"
FOLDERS_FILE = "grafana/folders.json"

# What a dependant's dashboard and the overview read of a service: leaving out the rest keeps the
# Jsonnet input (and the cache key) small, so editing one service re-renders only what shows it.
_METRIC_KEYS = ("id", "title", "description", "unit", "grafana_unit", "direction", "record", "by", "thresholds",
                "panel_id", "dashboard_url")


def dependency_view(service: Service) -> dict[str, Any]:
    """A dependency as its dependants draw it: each key metric against its thresholds, without the
    trend and anomaly overlays (they stay on its own dashboard, one click away)."""
    return {"name": service["name"], "description": service["description"], "dashboard": service["dashboard"],
            "metrics": [{**{k: m[k] for k in _METRIC_KEYS}, "trend": None, "anomaly": None}  # type: ignore[literal-required]
                        for m in service["metrics"]]}


def overview_view(service: Service) -> dict[str, Any]:
    return {"name": service["name"], "description": service["description"], "tier": service["tier"],
            "customer_facing": service["customer_facing"], "dashboard": service["dashboard"],
            "slos": [slo["name"] for slo in service["slos"]]}


def overview_link(model: Model) -> dict[str, str]:
    return {"uid": OVERVIEW_UID, "title": "Service overview",
            "url": f"{model['settings']['grafana_url']}/d/{OVERVIEW_UID}/overview"}


def dashboard_path(uid: str) -> str:
    return f"{DASHBOARDS_DIR}/{uid}.json"


def service_view(service: Service) -> dict[str, Any]:
    """The service as its dashboard reads it: without the raw PromQL and the test fixtures, which
    it does not draw (a smaller Jsonnet input, and a cache key that ignores them)."""
    return {**service, "metrics": [{k: v for k, v in m.items() if k not in ("expr", "test")} for m in service["metrics"]],
            "slos": [{k: v for k, v in s.items() if k not in ("errors", "total", "test")} for s in service["slos"]]}


def render(model: Model, cache: Cache, alerts: dict[str, list[Alert]], report: CheckReport) -> Artefacts:
    """Every dashboard and the folder manifest, keyed by path under output/.

    `alerts` are the alerts each dashboard uid is deep-linked from. Each dashboard is checked
    (dashboard_checks.dashboard_problems) as it is rendered, with those alerts; the problems go to
    `report`, as the check stage's would.
    """
    from vigil.dashboard_checks import alert_panel_problems, dashboard_problems, record_dashboard_checks  # it imports us
    settings = model["settings"]
    overview = overview_link(model)
    by_name = {s["name"]: s for s in model["services"]}
    _check_uids(model)
    out: Artefacts = {}
    results: list[tuple[list[str], int]] = []
    todo: list[tuple[str, dict[str, Any]]] = []
    for service in model["services"]:
        uid = service["dashboard"]["uid"]
        job = {"service": service_view(service),
               "deps": [dependency_view(by_name[d]) for d in service["dependencies"] if d in by_name],
               "alerts": alerts.get(uid, [])}
        key = cache.key(["grafana", job, settings, PALETTE, overview])
        hit = cache.load(key)
        if hit is None:
            todo.append((key, job))
        else:
            out.update(hit["files"])
            results.append((hit["problems"], len(job["alerts"])))
    # Dashboards are large (~50 KB each) and Jsonnet's cost grows with its output: render the
    # missing ones on every core, a batch per Jsonnet evaluation.
    shared = {"settings": settings, "overview": overview}
    for (key, job), result in zip(todo, parallel_map(_render_chunk, [(job, shared) for _, job in todo])):
        cache.store(key, result)
        out.update(result["files"])
        results.append((result["problems"], len(job["alerts"])))

    services = [overview_view(s) for s in model["services"]]

    def both() -> Artefacts:
        doc = evaluate("overview.jsonnet", services=services, settings=settings, palette=PALETTE, overview=overview)
        return {dashboard_path(OVERVIEW_UID): to_json(doc["dashboard"]), FOLDERS_FILE: to_json(doc["folders"])}
    overview_files = cache.get_or_render(["grafana-overview", services, settings, PALETTE, overview], both)
    out.update(overview_files)
    rel = dashboard_path(OVERVIEW_UID)
    results.append((dashboard_problems(rel, json.loads(overview_files[rel]), alerts.get(OVERVIEW_UID, [])),
                    len(alerts.get(OVERVIEW_UID, []))))
    known = {s["dashboard"]["uid"] for s in model["services"]} | {OVERVIEW_UID}
    stray = [a for uid, group in sorted(alerts.items()) if uid not in known for a in group]
    record_dashboard_checks(report, len(results), sum(n for _, n in results) + len(stray),
                            [p for problems, _ in results for p in problems] + alert_panel_problems(stray, {}))
    return out


def _render_chunk(chunk: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Render and check a batch of dashboards in one Jsonnet evaluation (in a worker process)."""
    from vigil.dashboard_checks import dashboard_problems  # it imports us
    if not chunk:
        return []
    shared = chunk[0][1]
    docs = evaluate_each("grafana.jsonnet", [{"service": job["service"], "deps": job["deps"]} for job, _ in chunk],
                         palette=PALETTE, **shared)
    out = []
    for (job, _), doc in zip(chunk, docs):
        rel = dashboard_path(job["service"]["dashboard"]["uid"])
        out.append({"files": {rel: to_json(doc)},
                    "problems": dashboard_problems(rel, doc, job["alerts"])})
    return out


def _check_uids(model: Model) -> None:
    """Two dashboards (or a dashboard and a folder: older Grafana stores both in one table) with one
    uid would overwrite each other, in output/ and in Grafana."""
    uids = Counter([OVERVIEW_UID] + [s["dashboard"]["uid"] for s in model["services"]]
                   + sorted({s["dashboard"]["folder_uid"] for s in model["services"]}))
    clashes = sorted(uid for uid, n in uids.items() if n > 1)
    if clashes:
        raise RenderError(f"dashboard/folder uid used twice: {', '.join(clashes)} "
                          f"(`{OVERVIEW_UID}` is the overview's; rename the service or department)")
