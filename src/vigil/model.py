"""The resolved model: the one plain, JSON-serialisable input of every generator.

Numbers are already parsed (`5%` → 0.05) and pre-formatted for PromQL (`promql`) and for people
(`text`), so the Jsonnet generators only concatenate strings: no float formatting, no defaults, no
validation. Every name is decided here, once: alert names, recording-rule names, panel ids and
dashboard uids; the generators and the Python that reasons about alerts (routing cases, the drill,
reports) read them from the model. tests/testdata/out-*/model.json shows examples.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# `for` is a Python keyword, hence the functional TypedDict syntax where it is a key.
Threshold = TypedDict(
    "Threshold",
    {
        "severity": str,  # warning | critical
        "value": float,  # base units
        "promql": str,  # the number as PromQL text
        "text": str,  # catalog notation: 5%, 300ms, 512MiB
        "for": str,  # Prometheus duration
        "for_seconds": float,
        "keep_firing_for": str,  # hysteresis, Prometheus duration: "0s" when off
        "keep_firing_for_seconds": float,
        "alert": str,  # alert name
    },
)

Trend = TypedDict(
    "Trend",
    {
        "within": str,
        "within_seconds": int,
        "window": str,
        "for": str,
        "for_seconds": float,
        "record": str,  # recording rule holding the prediction
        "alert": str,
    },
)

Anomaly = TypedDict(
    "Anomaly",
    {
        "sensitivity": float,
        "sensitivity_promql": str,
        "baseline": str,
        "skip_recent": str,
        "skip_recent_seconds": float,
        "for": str,
        "for_seconds": float,
        "keep_firing_for": str,  # hysteresis: "0s" when off
        "keep_firing_for_seconds": float,
        "avg_record": str,
        "stddev_record": str,
        "alert": str,
    },
)

Absent = TypedDict("Absent", {"for": str, "for_seconds": float, "alert": str})


class Metric(TypedDict):
    id: str  # key_metric label value
    camel: str  # CamelCase id, for alert names
    title: str
    description: str
    profile: str  # the profile it came from, or "service" for the service's own
    unit: str
    grafana_unit: str
    humanize: str  # Go template function for $value in annotations
    direction: str  # above | below
    comparator: str  # > or <
    expr: str  # PromQL with selector and window substituted
    record: str  # recording rule name, level:metric:operation
    by: list[str]
    window: str
    thresholds: list[Threshold]  # warning first, then critical
    trend: Trend | None
    anomaly: Anomaly | None
    absent: Absent | None
    panel_id: int
    dashboard_url: str
    runbook_url: str
    test: Any  # the profile's fixture (docs/profiles.md), or None
    because: NotRequired[str]  # the postmortem id that motivated the service's override, when given


class BurnWindow(TypedDict):
    short: str
    long: str
    factor: float
    promql: str  # factor × budget, as PromQL text


Burn = TypedDict("Burn", {"severity": str, "for": str, "for_seconds": float, "windows": list[BurnWindow], "alert": str})


class SloRecords(TypedDict):
    error_ratio: dict[str, str]  # window (and the period) → recording rule of the error ratio over it
    objective: str
    budget: str
    burn_rate: str  # the 1h burn rate
    remaining: str  # error budget left over the period


class Slo(TypedDict):
    name: str
    camel: str
    sli: str
    profile: str
    description: str
    objective: float
    objective_promql: str
    objective_text: str
    budget: float
    budget_promql: str
    threshold: float | None
    errors: str  # PromQL with $window still in it (one rule per window)
    total: str
    windows: list[str]  # windows that get an sli_error recording rule
    period: str
    alerts: list[Burn]  # page (critical), ticket (warning)
    records: SloRecords
    panel_id: int
    dashboard_url: str
    runbook_url: str
    test: Any
    because: NotRequired[str]  # the postmortem id that motivated the objective, when given


class Dashboard(TypedDict):
    uid: str
    title: str
    folder: str  # department id
    folder_title: str
    folder_uid: str  # Grafana folder uid of the department (see resolve.folder_uid)
    url: str
    # Panel ids of the header (alerts, about, firing table, SLO attainment, budget, burn rate),
    # and the first id free for rows and dependency panels, after every key-metric and SLO panel.
    panels: dict[str, int]


class Service(TypedDict):
    name: str
    camel: str
    description: str
    owner: str
    owner_name: str
    tier: int
    customer_facing: bool
    selector: dict[str, str]
    selector_promql: str
    profiles: list[str]
    dependencies: list[str]
    runbook_url: str
    labels: dict[str, str]  # labels every alert of this service carries
    record_labels: dict[str, str]  # labels every recording rule of this service carries
    dashboard: Dashboard
    service_down: Absent
    metrics: list[Metric]
    slos: list[Slo]


class Settings(TypedDict):
    grafana_url: str
    datasource_uid: str
    evaluation_interval: str
    evaluation_interval_seconds: float
    scrape_interval: str
    scrape_interval_seconds: float
    baseline_interval: str
    runbook_base_url: str
    extra_labels: dict[str, str]
    postmortems_url: NotRequired[str]  # where output/postmortems/index.html is published, if set
    logs_url: NotRequired[str]  # the log search of a service and window (catalog/logs_url.py)


class Postmortem(TypedDict):
    """One postmortem beside the catalog (docs/postmortems.md), times in UTC."""

    id: str
    file: str
    title: str
    service: str
    owner: str  # the service's owner department
    severity: str
    status: str
    occurred: str
    detected: str
    resolved: str
    time_to_detect_seconds: float  # detected - occurred
    time_to_recover_seconds: float  # resolved - occurred
    detected_by: str  # alert | customer | person
    alert: str
    told: list[dict[str, str]]  # department, channel, at
    departments: list[str]  # the owner and every department told
    anomalous_metrics: list[dict[str, str]]  # service, key_metric, peak, at
    dependencies_involved: list[str]
    tags: list[str]
    authors: list[str]
    body: str  # the Markdown after the front matter
    images: dict[str, str]  # its local images (img/x.png) → data: URL


class Model(TypedDict):
    version: int
    settings: Settings
    departments: dict[str, Any]  # departments.yaml, normalised (see resolve_departments)
    services: list[Service]
    kubernetes: NotRequired[dict[str, Any]]  # vigil.yaml's kubernetes:, defaults applied (catalog/kubernetes.py)
    postmortems: NotRequired[list[Postmortem]]  # only when there are any, newest first
