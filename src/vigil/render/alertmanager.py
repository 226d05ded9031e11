"""Alertmanager: render the routing config and the cases that prove it (vigil.check.amtool runs them).

- `output/alertmanager/alertmanager.yaml` comes from generators/alertmanager.jsonnet.
- `output/alertmanager/routes.test.yaml` gives, for every service and severity (and alert kind),
  the labels its alerts really carry and the receivers that must get them. The receivers are
  worked out here, in Python, by applying the propagation policy to the alert's labels; the tree
  is built in Jsonnet from label matchers. Two independent derivations of the same policy, so a
  bug in either shows up as a failing case.
"""

from __future__ import annotations

from typing import Any

from vigil.amrefs import shaped
from vigil.cache import ContentCache
from vigil.layout import ALERTMANAGER_CONFIG as CONFIG
from vigil.layout import ROUTING_CASES as CASES
from vigil.model import Model, Service
from vigil.render.files import Files
from vigil.render.jsonnet import evaluate
from vigil.render.serialise import HEADER, Artefacts, to_yaml

SEVERITIES = ("critical", "warning", "info")


def owners(model: Model) -> list[str]:
    """The departments that own services: `notify: owner` gives each of them a route."""
    return sorted({s["owner"] for s in model["services"]})


def policy_receivers(departments: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """The receivers the propagation lines send an alert with these labels to, in the order of the
    lines (which is the order of the tree, and so of amtool's answer)."""
    out = []
    for policy in departments["propagation"]:
        if labels.get("severity") not in policy["severity"]:
            continue
        if any(labels.get(label) not in values for label, values in policy["when"].items()):
            continue
        for target in policy["notify"]:
            out.append(f"{labels['team'] if target == 'owner' else target}/{policy['channel']}")
    return out


def expected_receivers(departments: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Where the alert must go: the policy's receivers, or the catch-all when no line applies."""
    return policy_receivers(departments, labels) or [departments["catch_all"]["receiver"]]


def service_alerts(service: Service) -> list[dict[str, str]]:
    """The labels (alertname included) of every alert generators/prometheus.jsonnet gives the
    service. Worked out from the model, not by parsing the rendered rules (a thousand services'
    rules take many seconds to parse); tests/check/test_alertmanager.py proves the two agree."""

    def alert(name: str, severity: str, key_metric: str, kind: str, **extra: str) -> dict[str, str]:
        return {
            **service["labels"],
            "alertname": name,
            "severity": severity,
            "key_metric": key_metric,
            "kind": kind,
            **extra,
        }

    out = [alert(service["service_down"]["alert"], "critical", "up", "absent")]
    for m in service["metrics"]:
        out += [alert(t["alert"], t["severity"], m["id"], "threshold") for t in m["thresholds"]]
        if m["trend"]:
            out.append(alert(m["trend"]["alert"], "warning", m["id"], "trend"))
        if m["anomaly"]:
            out.append(alert(m["anomaly"]["alert"], "warning", m["id"], "anomaly"))
        if m["absent"]:
            out.append(alert(m["absent"]["alert"], "warning", m["id"], "absent"))
    for slo in service["slos"]:
        out += [
            alert(burn["alert"], burn["severity"], slo["name"], "slo_burn", slo=slo["name"]) for burn in slo["alerts"]
        ]
    return out


def service_cases(service: Service, departments: dict[str, Any]) -> list[dict[str, Any]]:
    """One case per severity and alert kind of the service (routes may match `kind`), with the
    labels of its first such alert by name. A severity none of its alerts has still gets a case,
    with the service's labels, so the file shows where such an alert would go."""
    alerts = sorted(service_alerts(service), key=lambda a: sorted(a.items()))
    cases = []
    for severity in SEVERITIES:
        by_kind: dict[str, dict[str, str]] = {}
        for labels in alerts:
            if labels["severity"] == severity:
                by_kind.setdefault(labels["kind"], labels)
        picked = [
            (f"{service['name']} {severity} {kind} ({labels['alertname']})", labels)
            for kind, labels in sorted(by_kind.items())
        ]
        if not picked:
            picked = [
                (f"{service['name']} {severity} (no such alert yet)", {**service["labels"], "severity": severity})
            ]
        for title, labels in picked:
            labels = dict(sorted(labels.items()))
            cases.append({"name": title, "labels": labels, "receivers": expected_receivers(departments, labels)})
    return cases


def render(model: Model, files: Files, parsed: dict[str, Any] | None = None) -> None:
    """alertmanager.yaml and routes.test.yaml, into `files`. The routing cases document also goes
    to `parsed` (when rendered, not remembered), so that the check does not parse its megabytes
    back."""
    departments, settings = model["departments"], model["settings"]

    def config() -> Artefacts:
        doc = shaped(evaluate("alertmanager.jsonnet", departments=departments, owners=owners(model), settings=settings))
        version = departments["alertmanager_version"]
        note = (
            f"# Written for Alertmanager {version} or later (alertmanager_version in departments.yaml).\n"
            "# ${NAME} references are resolved by `vigil deploy`; *_file paths are read by Alertmanager.\n"
        )
        return {CONFIG: HEADER + note + to_yaml(doc)[len(HEADER) :]}

    def cases() -> Artefacts:
        # The file is each service's cases in YAML, one service after the other: a rebuild after
        # one service changed works out and serialises that service's cases, not the 9000 others.
        parts = [_service_part(files.cache, s, departments) for s in model["services"]]
        doc = {"cases": [c for part in parts for c in part["cases"]]}
        if parsed is not None:
            parsed[CASES] = doc
        if not doc["cases"]:
            return {CASES: to_yaml(doc)}
        return {CASES: _CASES_START + "".join(part["yaml"] for part in parts)}

    files.remembered_or(["alertmanager", departments, owners(model), settings], config)
    files.remembered_or(["routes", departments, model["services"]], cases)


_CASES_START = HEADER + "cases:\n"


def _service_part(cache: ContentCache, service: Service, departments: dict[str, Any]) -> dict[str, Any]:
    """One service's routing cases and their lines of routes.test.yaml, remembered by its model."""

    def make() -> dict[str, Any]:
        cases = service_cases(service, departments)
        text = to_yaml({"cases": cases})
        assert not cases or text.startswith(_CASES_START)
        return {"cases": cases, "yaml": text[len(_CASES_START) :] if cases else ""}

    if cache.root is None:
        return make()
    part: dict[str, Any] = cache.get_or_compute(["route cases", departments, service], make)
    return part
