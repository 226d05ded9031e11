"""Stage 4 for Grafana: a dashboard per service, the overview, and the folder manifest.

- `grafana/dashboards/<uid>.json`: one per service (generators/grafana.jsonnet), plus the overview
  (generators/overview.jsonnet);
- `grafana/folders.json`: the folder of each department (uid, title) and the dashboards it holds,
  for the deploy step (Grafana's dashboard JSON has no field for its folder).

Each service dashboard is one Jsonnet evaluation, cached by content hash like the Prometheus rules;
its key includes the dependencies it draws, so a change to redis-cache re-renders its dependants.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from vigil.errors import RenderError
from vigil.layout import FOLDERS_FILE
from vigil.layout import dashboard_file as dashboard_path
from vigil.model import Model, Service
from vigil.render.cache import Cache
from vigil.render.files import Files
from vigil.render.jsonnet import evaluate, evaluate_each, parallel_map
from vigil.render.serialise import Artefacts, to_json

# Grafana's named colours, by meaning. The generators colour threshold steps with these and
# vigil.check.dashboards checks that a step has its alert's severity colour: one definition for both.
PALETTE: dict[str, str] = {
    "critical": "red",
    "warning": "orange",
    "ok": "green",
    "trend": "purple",   # the predict_linear projection
    "band": "blue",      # the anomaly baseline band
}
OVERVIEW_UID = "vigil-overview"

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
            "slos": [slo["name"] for slo in service["slos"]],
            # The least budget left among its SLOs: every SLO's `remaining` record has one name.
            "budget_record": service["slos"][0]["records"]["remaining"] if service["slos"] else None}


def overview_link(model: Model) -> dict[str, str]:
    return {"uid": OVERVIEW_UID, "title": "Service overview",
            "url": f"{model['settings']['grafana_url']}/d/{OVERVIEW_UID}/overview"}


def service_view(service: Service) -> dict[str, Any]:
    """The service as its dashboard reads it: without the raw PromQL and the test fixtures, which
    it does not draw (a smaller Jsonnet input, and a cache key that ignores them)."""
    return {**service, "metrics": [{k: v for k, v in m.items() if k not in ("expr", "test")} for m in service["metrics"]],
            "slos": [{k: v for k, v in s.items() if k not in ("errors", "total", "test")} for s in service["slos"]]}


def render(model: Model, cache: Cache, files: Files) -> None:
    """Every dashboard and the folder manifest, into `files`."""
    settings = model["settings"]
    overview = overview_link(model)
    by_name = {s["name"]: s for s in model["services"]}
    _check_uids(model)
    todo: list[tuple[str, dict[str, Any]]] = []
    for service in model["services"]:
        job = {"service": service_view(service),
               "deps": [dependency_view(by_name[d]) for d in service["dependencies"] if d in by_name]}
        key = cache.key(["grafana", job, settings, PALETTE, overview])
        hit = cache.load(key)
        if hit is None or not files.add_remembered(hit):
            todo.append((key, job))
    # Dashboards are large (~50 KB each) and Jsonnet's cost grows with its output: render the
    # missing ones on every core, a batch per Jsonnet evaluation.
    shared = {"settings": settings, "overview": overview}
    for (key, _), rendered in zip(todo, parallel_map(_render_chunk, [(job, shared) for _, job in todo])):
        cache.store(key, files.add(rendered))

    services = [overview_view(s) for s in model["services"]]

    def both() -> Artefacts:
        doc = evaluate("overview.jsonnet", services=services, settings=settings, palette=PALETTE, overview=overview)
        return {dashboard_path(OVERVIEW_UID): to_json(doc["dashboard"]), FOLDERS_FILE: to_json(doc["folders"])}
    files.remembered_or(["grafana-overview", services, settings, PALETTE, overview], both)


def _render_chunk(chunk: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Artefacts]:
    """Render a batch of dashboards in one Jsonnet evaluation (in a worker process)."""
    if not chunk:
        return []
    shared = chunk[0][1]
    docs = evaluate_each("grafana.jsonnet", [job for job, _ in chunk], palette=PALETTE, **shared)
    return [{dashboard_path(job["service"]["dashboard"]["uid"]): to_json(doc)} for (job, _), doc in zip(chunk, docs)]


def _check_uids(model: Model) -> None:
    """Two dashboards (or a dashboard and a folder: older Grafana stores both in one table) with one
    uid would overwrite each other, in output/ and in Grafana."""
    uids = Counter([OVERVIEW_UID] + [s["dashboard"]["uid"] for s in model["services"]]
                   + sorted({s["dashboard"]["folder_uid"] for s in model["services"]}))
    clashes = sorted(uid for uid, n in uids.items() if n > 1)
    if clashes:
        raise RenderError(f"dashboard/folder uid used twice: {', '.join(clashes)} "
                          f"(`{OVERVIEW_UID}` is the overview's; rename the service or department)")
