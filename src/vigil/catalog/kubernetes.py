"""The `kubernetes:` settings of vigil.yaml: validate what the JSON Schema cannot, and resolve defaults.

The schema checks each setting's own syntax. What it cannot see is the rest of the catalog that
becomes Kubernetes names and labels once the output is on: service names and owner ids become label
values (and the service name a ConfigMap name, through the dashboard uid), and a department's folder
title becomes the path the Grafana sidecar writes the dashboard under. Those are checked here, with
the file and line that would otherwise produce a broken object.

Defaults follow kube-prometheus-stack (chart 88.x): its Prometheus selects PrometheusRules labelled
`release: <release>`, its Grafana sidecar dashboards labelled `grafana_dashboard: "1"`, and its
Alertmanager reads Secret `alertmanager-<fullname>-alertmanager`.
"""

from __future__ import annotations

from typing import Any

from vigil import kube_names
from vigil.catalog.load import Document
from vigil.errors import Problem

CHART = "kube-prometheus-stack"
DEFAULT_RELEASE = CHART
DEFAULT_DASHBOARD_LABELS = {"grafana_dashboard": "1"}
DEFAULT_FOLDER_ANNOTATION = "grafana_folder"
MANAGED_BY = {"app.kubernetes.io/managed-by": "vigil"}


def chart_fullname(release: str) -> str:
    """kube-prometheus-stack's `fullname` (_helpers.tpl): the release alone if it contains the chart
    name, else `<release>-kube-prometheus-stack`; truncated to 26 characters, one trailing '-' cut."""
    name = release if CHART in release else f"{release}-{CHART}"
    return name[:26].removesuffix("-")


def default_alertmanager(release: str) -> str:
    """The Alertmanager resource kube-prometheus-stack creates for a release (without
    cleanPrometheusOperatorObjectNames): release `monitoring` → monitoring-kube-prometheus-alertmanager."""
    return f"{chart_fullname(release)}-alertmanager"


def resolve_kubernetes(raw: dict[str, Any]) -> dict[str, Any]:
    """The settings with every default applied (input has passed validation)."""
    release = raw.get("release", DEFAULT_RELEASE)
    alertmanager = raw.get("alertmanager", default_alertmanager(release))
    return {
        "namespace": raw["namespace"],
        "release": release,
        "alertmanager": alertmanager,
        "alertmanager_secret": f"alertmanager-{alertmanager}",   # the operator's default configSecret
        "rule_labels": dict(sorted(raw.get("rule_labels", {"release": release}).items())),
        "dashboard_labels": dict(sorted(raw.get("dashboard_labels", DEFAULT_DASHBOARD_LABELS).items())),
        "folder_annotation": raw.get("folder_annotation", DEFAULT_FOLDER_ANNOTATION),
        "labels": dict(sorted({**MANAGED_BY, **(raw.get("labels") or {})}.items())),
        "overview": bool(raw.get("overview", True)),
    }


def check(settings: Document, departments: Document | None, services: list[Document]) -> list[Problem]:
    """Every part of a schema-valid catalog that cannot be expressed as Kubernetes objects."""
    problems: list[Problem] = []
    conf = settings.data["kubernetes"]
    for key in ("labels", "rule_labels", "dashboard_labels"):
        for label in conf.get(key) or {}:
            found = kube_names.key_problem(label)
            if found:
                problems.append(settings.problem(("kubernetes", key, label), found))
    resolved = resolve_kubernetes(conf)
    found = kube_names.name_problem(resolved["alertmanager_secret"], "the Alertmanager Secret's name")
    if found:
        problems.append(settings.problem(("kubernetes", "alertmanager"), found))
    for doc in services:
        # The service name is a label value (vigil.dev/service) and, through its dashboard uid, a
        # ConfigMap name; the schema already keeps it to 63 characters of [a-z0-9-].
        found = kube_names.label_value_problem(doc.data["name"], "a service name with kubernetes: on (it becomes a label value)")
        if found:
            problems.append(doc.problem(("name",), found))
    if departments is None:
        return problems
    owners = {doc.data["owner"] for doc in services}
    for i, dept in enumerate(departments.data.get("departments") or []):
        if dept["id"] not in owners:
            continue
        found = kube_names.label_value_problem(dept["id"], "the id of a department that owns services (it becomes the vigil.dev/team label)")
        if found:
            problems.append(departments.problem(("departments", i, "id"), found))
        title = str(dept.get("name", dept["id"]))
        if "/" in title or title in (".", ".."):
            # The sidecar writes the dashboard under <folder annotation value>/, a path.
            problems.append(departments.problem(("departments", i, "name"),
                f"{title!r} is a department's dashboard folder, and the Grafana sidecar reads the folder "
                "annotation as a directory path: leave out '/' (and '.' or '..' as the whole name)"))
    return problems
