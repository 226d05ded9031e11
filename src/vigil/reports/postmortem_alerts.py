"""The alerts of a postmortem draft: each alert's pending, firing and resolution, observed in
`ALERTS` or reconstructed by the backtest, and who was told when (postmortem_draft.py's module doc
says how sure each is)."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from vigil.backtest.client import BacktestAPI
from vigil.backtest.evaluate import Window
from vigil.backtest.run import backtest_model
from vigil.errors import VigilError
from vigil.model import Model, Service
from vigil.render.alertmanager import expected_receivers
from vigil.units import parse_duration


@dataclass
class AlertFacts:
    service: str
    alert: str
    severity: str
    kind: str
    key_metric: str
    pending_at: float | None
    fired_at: float | None
    resolved_at: float | None  # None: still firing at the window's end
    source: str  # observed (ALERTS) | reconstructed (backtest)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ToldFacts:
    department: str
    channel: str
    at: float
    alert: str
    severity: str
    how: str  # how we know: see the module doc


# --- detection ---------------------------------------------------------------------------------------


def rules_evaluated(api: BacktestAPI, svc: Service, start: float, end: float) -> bool:
    """Were the service's rules evaluated in the window? Its recorded series were written then."""
    records = [m["record"] for m in svc["metrics"]] + [s["records"]["burn_rate"] for s in svc["slos"]]
    if not records:
        return False
    selector = f'{{__name__="{records[0]}",service="{svc["name"]}"}}'
    # Counted by Prometheus: a week at a 1s evaluation interval is 600,000 samples not to fetch.
    return bool(api.query(f"count_over_time({selector}[{max(round((end - start) * 1000), 1)}ms])", end))


def _key_metrics(model: Model) -> dict[tuple[str, str], str]:
    """(service, alert) → key metric id (or SLO name), as the model names them."""
    out = {}
    for s in model["services"]:
        out[(s["name"], s["service_down"]["alert"])] = "up"
        for m in s["metrics"]:
            for a in [
                *(t["alert"] for t in m["thresholds"]),
                *(x["alert"] for x in (m["trend"], m["anomaly"], m["absent"]) if x),
            ]:
                out[(s["name"], a)] = m["id"]
        for slo in s["slos"]:
            for burn in slo["alerts"]:
                out[(s["name"], burn["alert"])] = slo["name"]
    return out


def observed_alerts(
    api: BacktestAPI, model: Model, services: list[str], start: float, end: float, interval: float
) -> list[AlertFacts]:
    """Each alert's pending, firing and resolution from the samples of ALERTS in the window. A
    firing series that stops before the window's end resolved at the evaluation after its last.
    An alert that fired twice in the window is one entry, from its first pending to its last firing."""
    names = "|".join(sorted(services))
    metrics = _key_metrics(model)
    runs: dict[tuple[tuple[str, str], ...], dict[str, list[float]]] = {}
    for s in api.samples(f'ALERTS{{service=~"{names}"}}', start, end):
        labels = {k: v for k, v in s.labels.items() if k not in ("__name__", "alertstate")}
        runs.setdefault(tuple(sorted(labels.items())), {})[s.labels.get("alertstate", "")] = s.times
    out = []
    for key, states in sorted(runs.items()):
        labels = dict(key)
        pending, firing = states.get("pending", []), states.get("firing", [])
        last = max(pending + firing)
        resolved = last + interval if firing and last + interval <= end else None
        out.append(
            AlertFacts(
                labels.get("service", ""),
                labels.get("alertname", ""),
                labels.get("severity", ""),
                labels.get("kind", ""),
                metrics.get((labels.get("service", ""), labels.get("alertname", "")), labels.get("key_metric", "")),
                min(pending + firing),
                min(firing) if firing else None,
                resolved if firing else None,
                "observed",
                labels,
            )
        )
    return out


def reconstructed_alerts(
    api: BacktestAPI, model: Model, services: list[str], start: float, end: float
) -> list[AlertFacts]:
    """The alerts evaluated over the window from raw series (vigil backtest)."""
    by_name = {s["name"]: s for s in model["services"]}
    metrics = _key_metrics(model)
    result = backtest_model(model, api, Window(start, end), services)
    out = []
    for r in result.results:
        rule = r.rule
        for f in r.firings:
            labels = {
                **by_name[rule.service]["labels"],
                **dict(f.labels),
                "alertname": rule.alert,
                "severity": rule.severity,
                "kind": rule.kind,
            }
            out.append(
                AlertFacts(
                    rule.service,
                    rule.alert,
                    rule.severity,
                    rule.kind,
                    metrics.get((rule.service, rule.alert), ""),
                    f.active_at / 1000,
                    f.fired_at / 1000,
                    None if f.resolved_at is None else f.resolved_at / 1000,
                    "reconstructed",
                    labels,
                )
            )
    return out


# --- propagation -------------------------------------------------------------------------------------


def alertmanager_receivers(url: str, services: list[str]) -> dict[tuple[str, str, str], list[str]]:
    """(service, alertname, severity) → receivers, of the alerts Alertmanager still holds."""
    try:
        got = requests.get(url.rstrip("/") + "/api/v2/alerts", timeout=10)
        got.raise_for_status()
    except requests.RequestException as e:
        raise VigilError(f"Alertmanager at {url} cannot be read: {e}") from e
    out: dict[tuple[str, str, str], list[str]] = {}
    for a in got.json():
        lab = a.get("labels", {})
        if lab.get("service") in services:
            key = (lab["service"], lab.get("alertname", ""), lab.get("severity", ""))
            out.setdefault(key, [])
            out[key] = sorted(set(out[key]) | {r["name"] for r in a.get("receivers", [])})
    return out


def told(
    model: Model, alerts: list[AlertFacts], from_am: dict[tuple[str, str, str], list[str]] | None
) -> list[ToldFacts]:
    """The first time each department channel was told, over every alert that fired."""
    deps = model["departments"]
    wait = {d["id"]: parse_duration(d["group_wait"]) for d in deps["departments"]}
    first: dict[tuple[str, str], ToldFacts] = {}
    for a in sorted((a for a in alerts if a.fired_at is not None), key=lambda a: (a.fired_at, a.alert)):
        assert a.fired_at is not None
        seen = (from_am or {}).get((a.service, a.alert, a.severity))
        receivers = seen if seen else expected_receivers(deps, a.labels)
        how = (
            "receivers observed in Alertmanager; time = firing + group_wait (computed)"
            if seen
            else "receivers from the routing policy; time = firing + group_wait (computed)"
        )
        for r in receivers:
            dept, _, channel = r.partition("/")
            t = ToldFacts(dept, channel, a.fired_at + wait.get(dept, 0.0), a.alert, a.severity, how)
            if (dept, channel) not in first or t.at < first[(dept, channel)].at:
                first[(dept, channel)] = t
    return sorted(first.values(), key=lambda t: (t.at, t.department, t.channel))
