"""The Prometheus target: per service, its rule file (Jsonnet) and its promtool test file.

Services are independent, so they are rendered in parallel worker processes (one per core), and
each service's files are cached by a hash of its model: an incremental build renders only the
services whose model changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vigil import layout
from vigil.model import Model, Service, Settings
from vigil.render import plans
from vigil.render.cache import Cache
from vigil.render.files import Files
from vigil.render.jsonnet import evaluate_each, parallel_map
from vigil.render.serialise import to_yaml
from vigil.render.unittests import service_tests

Alert = tuple[str, dict[str, Any]]  # (the rule file it is in, the alert rule)


def rule_alerts(path: str, doc: Any) -> list[Alert]:
    """The alerting rules of one rule file document, with the file they are in."""
    return [(path, r) for g in (doc or {}).get("groups") or [] for r in g.get("rules") or [] if "alert" in r]


def alert_view(rule: dict[str, Any]) -> dict[str, Any]:
    """What the alert ↔ panel check reads of an alert (the build hands it these, in memory)."""
    return {
        "alert": rule["alert"],
        "expr": rule["expr"],
        "labels": {k: rule["labels"][k] for k in ("severity", "kind") if k in rule["labels"]},
        "annotations": {k: v for k, v in rule.get("annotations", {}).items() if k == "dashboard_url"},
    }


_DASHBOARD_PATH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^/?#]*)?[^?#]*?/d/([^/?#]+)")


def linked_uid(rule: dict[str, Any]) -> str | None:
    """The uid of the dashboard an alert's dashboard_url opens (/d/<uid>/ in the URL's path)."""
    found = _DASHBOARD_PATH.match(rule.get("annotations", {}).get("dashboard_url", ""))
    return found.group(1) if found else None


def _lean(service: Service) -> dict[str, Any]:
    """The service without its test fixtures: the generator needs none, and its input shrinks.
    Plain JSON for the generator, no longer a Service: its metrics and SLOs lack `test`."""
    return {
        **service,
        "metrics": [{k: v for k, v in m.items() if k != "test"} for m in service["metrics"]],
        "slos": [{k: v for k, v in s.items() if k != "test"} for s in service["slos"]],
    }


def render_services(services: list[Service], settings: Settings) -> list[dict[str, Any]]:
    """[{"files": {path: text}, "warnings": [...]}] for each service, in order."""
    all_rules = evaluate_each("prometheus.jsonnet", [{"service": _lean(s)} for s in services], settings=settings)
    out = []
    for service, rules in zip(services, all_rules):
        name = service["name"]
        tests, skipped = service_tests(service, settings, rules, layout.rule_file_from_test().format(service=name))
        rel = layout.rule_file(name)
        out.append(
            {
                "files": {rel: to_yaml(rules), layout.test_file(name): to_yaml(tests)},
                "warnings": skipped,
                # What the alert ↔ panel check reads of the alerts, so it need not parse them back.
                "alerts": [(rel, alert_view(rule)) for _, rule in rule_alerts(rel, rules)],
            }
        )
    return out


def _render_chunk(chunk: list[tuple[Service, Settings, Path | None]]) -> list[dict[str, Any]]:
    if not chunk:
        return []
    plans.remember_in(chunk[0][2])  # in a worker process too
    return render_services([service for service, _, _ in chunk], chunk[0][1])


def render_all(model: Model, cache: Cache, files: Files, workers: int | None = None) -> tuple[list[str], list[Alert]]:
    """The rule and test files (into `files`), the build's warnings, and every alert (with its
    rule file)."""
    settings = model["settings"]
    results: dict[str, dict[str, Any]] = {}
    todo: list[Service] = []
    keys: dict[str, str] = {}
    for service in model["services"]:
        keys[service["name"]] = key = cache.key(["prometheus", service, settings])
        hit = cache.load(key)
        if hit is None or not files.add_remembered(hit["files"]):
            todo.append(service)
        else:
            results[service["name"]] = hit
    fresh = parallel_map(_render_chunk, [(s, settings, cache.root) for s in todo], workers)
    for service, result in zip(todo, fresh):
        result["files"] = files.add(result["files"])
        cache.store(keys[service["name"]], result)
        results[service["name"]] = result
    warnings: list[str] = []
    alerts: list[Alert] = []
    for name in sorted(results):
        warnings += results[name]["warnings"]
        alerts += [(path, rule) for path, rule in results[name]["alerts"]]  # tuples again after the JSON cache
    return warnings, alerts
