"""`vigil postmortem draft`: the facts of an incident, read from Prometheus and Alertmanager.

- occurrence: the first step at which a key metric of the service or of a dependency left its
  normal range (postmortem_metrics.py);
- detection: each alert's pending and firing. *Observed* from the raw samples of `ALERTS` (the
  evaluations' own timestamps) when the service's rules were being evaluated in the window (its
  recorded series exist); otherwise *reconstructed* by evaluating the alerts over the window from
  raw series (the backtest), as they would have fired had the rules been deployed;
- propagation: who was told when. The departments and channels come from Alertmanager's
  /api/v2/alerts (`receivers`) where it still holds the alert, and from the routing policy (the
  routes matrix) for every alert; the time is always the firing time plus the department's
  group_wait, computed: Alertmanager keeps no record of when it notified;
- recovery: when the last alert resolved (or the window's end, said so, if one still fired).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil.backtest.client import BacktestAPI
from vigil.catalog.logs_url import link
from vigil.errors import VigilError
from vigil.model import Model, Service
from vigil.reports.postmortem_alerts import (
    AlertFacts,
    ToldFacts,
    alertmanager_receivers,
    observed_alerts,
    reconstructed_alerts,
    rules_evaluated,
    told,
)
from vigil.reports.postmortem_metrics import MetricFacts, read_service, step_for
from vigil.units import format_quantity, parse_duration

SEVERITY_ORDER = ("critical", "warning", "info")


@dataclass
class Draft:
    service: Service
    start: float
    end: float
    step: float
    metrics: list[MetricFacts]  # the service's, its dependencies', then connected services'
    alerts: list[AlertFacts]
    told: list[ToldFacts]
    detection_source: str  # observed | reconstructed
    dependencies_involved: list[str]
    connected: dict[str, list[str]]  # involved dependency → other services that use it
    occurred: float
    occurred_note: str
    detected: float
    detected_by: str
    resolved: float
    resolved_note: str
    slo_burn_at: float | None
    slo_burn_what: str
    symptom_at: float | None
    symptom_what: str
    logs_url: str
    notes: list[str] = field(default_factory=list)
    alertmanager_seen: bool = False

    @property
    def name(self) -> str:
        return self.service["name"]

    @property
    def first_alert(self) -> AlertFacts | None:
        fired = [a for a in self.alerts if a.fired_at is not None and a.service == self.name]
        fired = fired or [a for a in self.alerts if a.fired_at is not None]
        return min(fired, key=lambda a: (a.fired_at, SEVERITY_ORDER.index(a.severity), a.alert), default=None)

    @property
    def severity(self) -> str:
        fired = {a.severity for a in self.alerts if a.fired_at is not None}
        return next((s for s in SEVERITY_ORDER if s in fired), "warning")

    def anomalous(self, services: set[str] | None = None) -> list[MetricFacts]:
        scope = services or {self.name, *self.service["dependencies"]}
        found = [m for m in self.metrics if m.anomalous and m.service in scope]
        return sorted(found, key=lambda m: (m.left_at or 0.0, m.service, m.metric["id"]))

    def json(self) -> dict[str, Any]:
        first = self.first_alert
        return {
            "service": self.name,
            "owner": self.service["owner"],
            "window": {"from": rfc3339(self.start), "to": rfc3339(self.end)},
            "severity": self.severity,
            "occurred": rfc3339(self.occurred),
            "occurred_note": self.occurred_note,
            "detected": rfc3339(self.detected),
            "detected_by": self.detected_by,
            "detection_source": self.detection_source,
            "alert": first.alert if first else None,
            "alerts": [
                {
                    "service": a.service,
                    "alert": a.alert,
                    "severity": a.severity,
                    "key_metric": a.key_metric,
                    "pending": rfc3339(a.pending_at) if a.pending_at is not None else None,
                    "firing": rfc3339(a.fired_at) if a.fired_at is not None else None,
                    "resolved": rfc3339(a.resolved_at) if a.resolved_at is not None else None,
                    "source": a.source,
                    "lead_seconds": None if a.fired_at is None else round(a.fired_at - self.occurred, 3),
                }
                for a in self.alerts
            ],
            "told": [
                {
                    "department": t.department,
                    "channel": t.channel,
                    "at": rfc3339(t.at),
                    "alert": t.alert,
                    "severity": t.severity,
                    "how": t.how,
                }
                for t in self.told
            ],
            "resolved": rfc3339(self.resolved),
            "resolved_note": self.resolved_note,
            "slo_burn_started": rfc3339(self.slo_burn_at) if self.slo_burn_at is not None else None,
            "slo_burn": self.slo_burn_what,
            "customer_symptom": rfc3339(self.symptom_at) if self.symptom_at is not None else None,
            "minutes_before_customer": minutes_before_customer(self),
            "anomalous_metrics": [
                {
                    "service": m.service,
                    "key_metric": m.metric["id"],
                    "peak": peak_text(m),
                    "at": rfc3339(m.worst_at) if m.worst_at is not None else None,
                    "left_normal_at": rfc3339(m.left_at) if m.left_at is not None else None,
                    "why": m.why,
                }
                for m in self.anomalous()
            ],
            "dependencies_involved": self.dependencies_involved,
            "connected_services": self.connected,
            "logs_url": self.logs_url or None,
            "notes": self.notes,
        }


def rfc3339(t: float) -> str:
    """UTC with milliseconds: the drill's events are a second apart."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def peak_text(m: MetricFacts) -> str:
    return "" if m.worst is None or math.isnan(m.worst) else format_quantity(round(m.worst, 6), m.metric["unit"])


def minutes_before_customer(d: Draft) -> float | None:
    """Minutes from detection to the first customer-facing symptom (negative: the customer first)."""
    if d.detected_by != "alert" or d.symptom_at is None:
        return None
    return round((d.symptom_at - d.detected) / 60, 2)


# --- the customer ------------------------------------------------------------------------------------


def slo_burn_start(
    api: BacktestAPI, services: list[Service], start: float, end: float, step: float
) -> tuple[float | None, str]:
    """When a customer-facing service's SLI error ratio, over its SLO's shortest window, began to
    exceed the error budget (a burn rate above 1): the first step above after one below it. An SLO
    that burns from the window's first step on is only named (its burn began before the window)."""
    found: list[tuple[float, str]] = []
    already: list[str] = []
    for svc in services:
        if not svc["customer_facing"]:
            continue
        for slo in svc["slos"]:
            window = min(slo["windows"], key=parse_duration)
            expr = f"({slo['errors']}) / ({slo['total']})".replace("$window", window)
            what = f"{svc['name']} {slo['name']} SLO ({slo['objective_text']}) over {window}"
            for series in api.query_range(expr, start, end, step):
                above = [v > slo["budget"] for v in series.values]
                rising = [t for t, a, b in zip(series.times[1:], above, above[1:]) if b and not a]
                if rising:
                    found.append((rising[0], what))
                elif above and above[0]:
                    already.append(what)
    if found:
        return min(found)
    return None, ("already burning when the window began: " + ", ".join(sorted(set(already)))) if already else ""


# --- the whole -----------------------------------------------------------------------------------------


def gather(
    model: Model,
    service: str,
    start: float,
    end: float,
    prometheus: str,
    alertmanager: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Draft:
    if end <= start:
        raise VigilError("--to must be after --from")
    by_name = {s["name"]: s for s in model["services"]}
    if service not in by_name:
        raise VigilError(f"no service {service} in the catalog")
    svc = by_name[service]
    settings = model["settings"]
    step = step_for(settings["scrape_interval_seconds"], settings["evaluation_interval_seconds"], start, end)
    api = BacktestAPI(prometheus)
    notes: list[str] = []

    progress("reading the key metrics ...")
    scope = [service, *svc["dependencies"]]
    metrics = [m for name in scope for m in read_service(api, by_name[name], start, end, step)]
    involved = sorted({m.service for m in metrics if m.anomalous and m.service != service})
    connected = {
        dep: sorted(s["name"] for s in model["services"] if dep in s["dependencies"] and s["name"] != service)
        for dep in involved
    }
    for name in sorted({n for names in connected.values() for n in names} - set(scope)):
        metrics += read_service(api, by_name[name], start, end, step)
    notes += [f"{m.service} {m.metric['id']}: Prometheus refused its query: {m.error}" for m in metrics if m.error]

    alert_scope = [service, *involved]
    if rules_evaluated(api, svc, start, end):
        progress("reading ALERTS ...")
        alerts = observed_alerts(api, model, alert_scope, start, end, settings["evaluation_interval_seconds"])
        source = "observed"
    else:
        progress("no recorded series of the service in the window: evaluating its alerts over it (backtest) ...")
        alerts = reconstructed_alerts(api, model, alert_scope, start, end)
        source = "reconstructed"
        notes.append(
            "the service's rules were not being evaluated in this window (none of its recorded series exist), "
            "so detection is reconstructed: each alert evaluated over the window from raw series (vigil backtest)"
        )
    from_am = alertmanager_receivers(alertmanager, alert_scope) if alertmanager else None
    told_facts = told(model, alerts, from_am)

    fired = [a for a in alerts if a.fired_at is not None]
    anomalous = [m for m in metrics if m.anomalous and m.service in scope]
    first_metric = min(anomalous, key=lambda m: m.onset or 0.0, default=None)
    detected_at = min((a.fired_at for a in fired if a.fired_at is not None), default=None)
    symptoms = [
        (m.crossed[m.metric["thresholds"][0]["severity"]], f"{m.service} {m.metric['id']}")
        for m in metrics
        if m.customer_symptom and by_name[m.service]["customer_facing"] and m.metric["thresholds"]
        if m.metric["thresholds"][0]["severity"] in m.crossed
    ]
    symptom_at, symptom_what = min(symptoms) if symptoms else (None, "")
    burn_at, burn_what = slo_burn_start(api, [by_name[n] for n in [service, *involved]], start, end, step)

    if first_metric is not None and first_metric.onset is not None and first_metric.left_at is not None:
        occurred = first_metric.onset
        occurred_note = (
            f"{first_metric.service} {first_metric.metric['id']} began to move "
            f"(extrapolated back to its level before), then was {first_metric.why} at {rfc3339(first_metric.left_at)}"
        )
    else:
        occurred = min([t for t in (detected_at, start) if t is not None])
        occurred_note = "no key metric left its normal range in the window: occurrence set to the window's start"
    if detected_at is not None:
        detected, detected_by = max(detected_at, occurred), "alert"
    elif symptom_at is not None:
        detected, detected_by = max(symptom_at, occurred), "customer"
    else:
        detected, detected_by = end, "person"
        notes.append("no alert fired in the window: who noticed, and when, is for a person to fill in")
    open_alerts = [a for a in fired if a.resolved_at is None]
    if fired and not open_alerts:
        resolved = max(a.resolved_at for a in fired if a.resolved_at is not None)
        resolved_note = "the last alert resolved"
    else:
        resolved = end
        resolved_note = (
            "still firing at the window's end: " + ", ".join(sorted({a.alert for a in open_alerts}))
            if open_alerts
            else "no alert fired: set to the window's end"
        )
    resolved = max(resolved, detected)
    template = settings.get("logs_url", "")
    return Draft(
        svc,
        start,
        end,
        step,
        metrics,
        alerts,
        told_facts,
        source,
        involved,
        connected,
        occurred,
        occurred_note,
        detected,
        detected_by,
        resolved,
        resolved_note,
        burn_at,
        burn_what,
        symptom_at,
        symptom_what,
        link(template, service, svc["owner"], start, end) if template else "",
        notes,
        alertmanager_seen=from_am is not None,
    )
