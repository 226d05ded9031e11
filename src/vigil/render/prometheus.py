"""The Prometheus target: per service, its rule file (Jsonnet) and its promtool test file.

Services are independent, so they are rendered in parallel worker processes (one per core), and
each service's files are cached by a hash of its model: an incremental build renders only the
services whose model changed.
"""

from __future__ import annotations

from typing import Any

from vigil import render
from vigil.dashboard_checks import Alert, alert_view, rule_alerts
from vigil.model import Model, Service, Settings
from vigil.render import Artefacts, Cache
from vigil.testcases import service_tests

def _lean(service: Service) -> Service:
    """The service without its test fixtures: the generator needs none, and its input shrinks."""
    return {**service, "metrics": [{k: v for k, v in m.items() if k != "test"} for m in service["metrics"]],  # type: ignore[typeddict-item]
            "slos": [{k: v for k, v in s.items() if k != "test"} for s in service["slos"]]}


def render_services(services: list[Service], settings: Settings) -> list[dict[str, Any]]:
    """[{"files": {path: text}, "warnings": [...]}] for each service, in order."""
    all_rules = render.evaluate_each("prometheus.jsonnet", [{"service": _lean(s)} for s in services], settings=settings)
    out = []
    for service, rules in zip(services, all_rules):
        name = service["name"]
        tests, skipped = service_tests(service, settings, rules, f"../rules/{name}.yaml")
        rel = f"prometheus/rules/{name}.yaml"
        out.append({"files": {rel: render.to_yaml(rules), f"prometheus/tests/{name}.test.yaml": render.to_yaml(tests)},
                    "warnings": skipped,
                    # What the dashboard checks read of the alerts (they run as dashboards render).
                    "alerts": [(rel, alert_view(rule)) for _, rule in rule_alerts(rel, rules)]})
    return out


def _render_chunk(chunk: list[tuple[Service, Settings]]) -> list[dict[str, Any]]:
    return render_services([service for service, _ in chunk], chunk[0][1]) if chunk else []


def render_all(model: Model, cache: Cache, workers: int | None = None) -> tuple[Artefacts, list[str], list[Alert]]:
    """The rule and test files, the build's warnings, and every alert (with its rule file)."""
    settings = model["settings"]
    results: dict[str, dict[str, Any]] = {}
    todo: list[Service] = []
    keys: dict[str, str] = {}
    for service in model["services"]:
        keys[service["name"]] = key = cache.key(["prometheus", service, settings])
        hit = cache.load(key)
        if hit is None:
            todo.append(service)
        else:
            results[service["name"]] = hit
    fresh = render.parallel_map(_render_chunk, [(s, settings) for s in todo], workers)
    for service, result in zip(todo, fresh):
        cache.store(keys[service["name"]], result)
        results[service["name"]] = result
    artefacts: Artefacts = {}
    warnings: list[str] = []
    alerts: list[Alert] = []
    for name in sorted(results):
        artefacts.update(results[name]["files"])
        warnings += results[name]["warnings"]
        alerts += [(path, rule) for path, rule in results[name]["alerts"]]   # tuples again after the JSON cache
    return artefacts, warnings, alerts
