"""Stage 3, resolve: build the one normalised model that every generator reads.

Profiles are merged with service overrides, units are parsed into numbers, selectors are rendered,
defaults are applied, names and ids (recording rules, alert names, dashboard uids, panel ids) are
fixed here once so that every generator agrees on them. Input has passed validation.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from functools import cache
from typing import Any

import yaml

from vigil import promql, units
from vigil.catalog import memo, postmortems
from vigil.catalog.kubernetes import resolve_kubernetes
from vigil.catalog.load import Document
from vigil.catalog.memo import CatalogCache
from vigil.catalog.profiles import Field, profile_refs, service_metrics, service_slis
from vigil.catalog.validate import Validated
from vigil.model import (
    Absent,
    Anomaly,
    Burn,
    BurnWindow,
    Dashboard,
    Metric,
    Model,
    Service,
    Settings,
    Slo,
    SloRecords,
    Threshold,
    Trend,
)

GRAFANA_UNITS = {
    "ratio": "percentunit",
    "seconds": "s",
    "bytes": "bytes",
    "bytes_per_second": "Bps",
    "per_second": "ops",
    "count": "short",
}
HUMANIZE = {
    "ratio": "humanizePercentage",
    "seconds": "humanizeDuration",
    "bytes": "humanize1024",
    "bytes_per_second": "humanize1024",
    "per_second": "humanize",
    "count": "humanize",
}
# SLO recording rules, as Sloth names them (level:metric:operation); an SLO's series are told apart
# by their `service` and `slo` labels.
SLO_ERROR_RECORD = "slo:sli_error:ratio_rate"  # + the window
SLO_RECORDS = {
    "objective": "slo:objective:ratio",
    "budget": "slo:error_budget:ratio",
    "burn_rate": "slo:burn_rate:ratio_rate1h",
    "remaining": "slo:error_budget:remaining_ratio",
}
# The dashboard header's panels; key-metric and SLO panels take the ids after them, so that the
# deep links of a service's alerts keep working when the header changes.
HEADER_PANELS = {
    "critical_alerts": 1,
    "warning_alerts": 2,
    "about": 3,
    "firing": 4,
    "attainment": 5,
    "budget": 6,
    "burn_rate": 7,
}
PANELS_PER_SERVICE_HEADER = 10  # ids below this are the header's (room to grow)


@cache
def defaults() -> dict[str, Any]:
    return yaml.safe_load(importlib.resources.files("vigil").joinpath("defaults.yaml").read_text())


def camel(name: str) -> str:
    """checkout-api / error_ratio → CheckoutApi / ErrorRatio."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def render_selector(selector: dict[str, str]) -> str:
    return promql.matchers(selector)


def dashboard_uid(name: str) -> str:
    """A stable uid of at most 40 characters of [a-z0-9-], derived from the name."""
    uid = "vigil-" + re.sub(r"[^a-z0-9-]", "-", name.lower())
    if len(uid) <= 40:
        return uid
    return uid[:31] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def folder_uid(department: str) -> str:
    """The Grafana folder of a department. Derived like dashboard uids, but with a `dept-` prefix:
    older Grafana keeps folders and dashboards in one table, so a department named like a service
    must not take the service dashboard's uid."""
    return dashboard_uid(f"dept-{department}")


def le_matcher(seconds: float) -> str:
    """The `le` matcher for a bucket boundary. Go clients write 1 as "1", Python clients as "1.0";
    match both so a latency SLO works whichever client exports the histogram."""
    text = units.promql_number(seconds)
    if "." not in text and "e" not in text:
        return f'le=~"{text}|{text}.0"'
    return f'le="{text}"'


def _duration(value: Any) -> tuple[str, float]:
    seconds = units.parse_duration(value)
    return units.format_duration(seconds), seconds


def resolve_settings(raw: dict[str, Any] | None) -> Settings:
    d = defaults()
    raw = raw or {}
    get = lambda k: raw.get(k, d[k])
    ev, ev_s = _duration(get("evaluation_interval"))
    sc, sc_s = _duration(get("scrape_interval"))
    settings = Settings(
        grafana_url=str(get("grafana_url")).rstrip("/"),
        datasource_uid=str(get("datasource_uid")),
        evaluation_interval=ev,
        evaluation_interval_seconds=ev_s,
        scrape_interval=sc,
        scrape_interval_seconds=sc_s,
        baseline_interval=_duration(d["baseline_interval"])[0],
        runbook_base_url=str(get("runbook_base_url")).rstrip("/"),
        extra_labels={k: str(v) for k, v in sorted((get("extra_labels") or {}).items())},
    )
    if raw.get("postmortems_url"):  # only when set: the model of a catalog without it is unchanged
        settings["postmortems_url"] = str(raw["postmortems_url"])
    if raw.get("logs_url"):  # only when set: models (and their goldens) without it stay as they were
        settings["logs_url"] = str(raw["logs_url"])
    return settings


def _fors(value: Any, setting: str = "for") -> dict[str, tuple[str, float]]:
    """A `for` or `keep_firing_for` per severity: one duration for both, or {warning, critical}
    with defaults.yaml's metric setting for a severity left out."""
    if isinstance(value, dict):
        base = defaults()["metric"][setting]
        return {lvl: _duration(value.get(lvl, base)) for lvl in ("warning", "critical")}
    return {lvl: _duration(value) for lvl in ("warning", "critical")}


def _expr(template: str, selector: str, window: str) -> str:
    return " ".join(template.replace("$selector", selector).replace("$window", window).split())


def anomaly_settings(spec: dict[str, Any], record: str, name: str) -> Anomaly:
    """A key metric's anomaly alert from its settings (defaults.yaml's merged with the catalog's), its
    record and its CamelCase name; `vigil suggest` resolves one for a metric that has none yet."""
    baseline, _ = _duration(spec["baseline"])
    af, af_s = _duration(spec["for"])
    skip, skip_s = _duration(spec["skip_recent"])
    keep, keep_s = _duration(spec["keep_firing_for"])
    return {
        "sensitivity": float(spec["sensitivity"]),
        "sensitivity_promql": units.promql_number(float(spec["sensitivity"])),
        "baseline": baseline,
        "skip_recent": skip,
        "skip_recent_seconds": skip_s,
        "for": af,
        "for_seconds": af_s,
        "keep_firing_for": keep,
        "keep_firing_for_seconds": keep_s,
        "avg_record": f"{record}_avg_over_time{baseline}",
        "stddev_record": f"{record}_stddev_over_time{baseline}",
        "alert": f"{name}Anomaly",
    }


def resolve_metric(
    mid: str,
    fields: dict[str, Field],
    profile: str,
    service: dict[str, Any],
    panel_id: int,
    dash_url: str,
    runbook: str,
) -> Metric:
    v = {k: f.value for k, f in fields.items()}
    d = defaults()
    unit = v.get("unit", d["metric"]["unit"])
    direction = v.get("direction", d["metric"]["direction"])
    window, _ = _duration(v.get("window", d["metric"]["window"]))
    by = list(v.get("by") or [])
    template = v["expr"]
    operation = v.get("operation") or {"ratio": "ratio", "seconds": "seconds", "bytes": "bytes"}.get(unit, "value")
    if "$window" in template:
        operation += window
    level = "_".join(["service", *by])
    record = f"{level}:{mid}:{operation}"
    name = camel(mid)
    suffix = "High" if direction == "above" else "Low"
    fors = _fors(v.get("for", d["metric"]["for"]))
    keeps = _fors(v.get("keep_firing_for", d["metric"]["keep_firing_for"]), "keep_firing_for")
    thresholds: list[Threshold] = []
    for lvl in ("warning", "critical"):
        if lvl in v:
            x = units.parse_quantity(v[lvl], unit)
            thresholds.append(
                {
                    "severity": lvl,
                    "value": x,
                    "promql": units.promql_number(x),
                    "text": units.format_quantity(x, unit),
                    "for": fors[lvl][0],
                    "for_seconds": fors[lvl][1],
                    "keep_firing_for": keeps[lvl][0],
                    "keep_firing_for_seconds": keeps[lvl][1],
                    "alert": name + suffix,
                }
            )
    trend: Trend | None = None
    if v.get("trend"):
        t = {**d["trend"], **v["trend"]}
        within, within_s = _duration(t["within"])
        tw, _ = _duration(t["window"])
        tf, tf_s = _duration(t["for"])
        trend = {
            "within": within,
            "within_seconds": int(within_s),
            "window": tw,
            "for": tf,
            "for_seconds": tf_s,
            "record": f"{level}:{mid}:predict_linear{within}",
            "alert": f"{name}Trending{suffix}",
        }
    anomaly = anomaly_settings({**d["anomaly"], **v["anomaly"]}, record, name) if v.get("anomaly") else None
    absent: Absent | None = None
    if v.get("absent"):
        spec = v["absent"] if isinstance(v["absent"], dict) else {}
        af, af_s = _duration(spec.get("for", d["absent"]["for"]))
        absent = {"for": af, "for_seconds": af_s, "alert": f"{name}Absent"}
    metric = Metric(
        id=mid,
        camel=name,
        title=v.get("title", mid.replace("_", " ").capitalize()),
        description=" ".join(str(v.get("description", "")).split()),
        profile=profile,
        unit=unit,
        grafana_unit=GRAFANA_UNITS[unit],
        humanize=HUMANIZE[unit],
        direction=direction,
        comparator=">" if direction == "above" else "<",
        expr=_expr(template, service["_selector"], window),
        record=record,
        by=by,
        window=window,
        thresholds=thresholds,
        trend=trend,
        anomaly=anomaly,
        absent=absent,
        panel_id=panel_id,
        dashboard_url=f"{dash_url}?viewPanel={panel_id}",
        runbook_url=f"{runbook}#{mid}",
        test=v.get("test"),
    )
    if "because" in v:  # only when set: a catalog without `because:` resolves as before
        metric["because"] = v["because"]
    return metric


def resolve_slo(
    slo: dict[str, Any],
    sli: tuple[str, dict[str, Field]],
    service: dict[str, Any],
    panel_id: int,
    dash_url: str,
    runbook: str,
) -> Slo:
    d = defaults()["slo"]
    profile, fields = sli
    objective = units.parse_quantity(slo["objective"], "ratio")
    budget = 1 - objective
    threshold = units.parse_quantity(slo["threshold"], "seconds") if "threshold" in slo else None
    le = le_matcher(threshold) if threshold is not None else ""
    fill = lambda text: " ".join(text.replace("$selector", service["_selector"]).replace("$le", le).split())
    alerts: list[Burn] = []
    # The generators read the 5m ratio (30-day attainment) and the 1h ratio (the burn-rate record)
    # whatever windows the alerts use, so those two are always recorded.
    windows: set[str] = {"5m", "1h"}
    for severity, key in (("critical", "page"), ("warning", "ticket")):
        # An SLO may set its own `for` and windows per alert (slos[].page / .ticket); the rest are vigil's.
        spec = {**d[key], **(slo.get(key) or {})}
        burn_windows: list[BurnWindow] = []
        for w in spec["windows"]:
            short, long = _duration(w["short"])[0], _duration(w["long"])[0]
            windows.update((short, long))
            burn_windows.append(
                {
                    "short": short,
                    "long": long,
                    "factor": float(w["factor"]),
                    "promql": units.promql_number(round(w["factor"] * budget, 12)),
                }
            )
        f, f_s = _duration(spec["for"])
        alerts.append(
            {
                "severity": severity,
                "for": f,
                "for_seconds": f_s,
                "windows": burn_windows,
                "alert": camel(slo["name"]) + "ErrorBudgetBurn",
            }
        )
    test = fields["test"].value if "test" in fields else None
    if test and threshold is not None:
        test = [{**s, "series": s["series"].replace("$threshold", units.promql_number(threshold))} for s in test]
    name = slo["name"]
    period = _duration(d["period"])[0]
    records = SloRecords(
        error_ratio={w: SLO_ERROR_RECORD + w for w in sorted({*windows, period}, key=units.parse_duration)},
        objective=SLO_RECORDS["objective"],
        budget=SLO_RECORDS["budget"],
        burn_rate=SLO_RECORDS["burn_rate"],
        remaining=SLO_RECORDS["remaining"],
    )
    description = slo.get("description") or str(fields["description"].value if "description" in fields else name)
    out = Slo(
        name=name,
        camel=camel(name),
        sli=slo.get("sli", name),
        profile=profile,
        description=" ".join(
            description.replace("$threshold", units.format_quantity(threshold or 0, "seconds")).split()
        ),
        objective=objective,
        objective_promql=units.promql_number(round(objective, 12)),
        objective_text=units.format_quantity(objective, "ratio"),
        budget=round(budget, 12),
        budget_promql=units.promql_number(round(budget, 12)),
        threshold=threshold,
        errors=fill(fields["errors"].value),
        total=fill(fields["total"].value),
        windows=sorted(windows, key=units.parse_duration),
        period=period,
        alerts=alerts,
        records=records,
        panel_id=panel_id,
        dashboard_url=f"{dash_url}?viewPanel={panel_id}",
        runbook_url=f"{runbook}#{name}",
        test=test,
    )
    if "because" in slo:
        out["because"] = slo["because"]
    return out


def resolve_service(
    doc_data: dict[str, Any],
    merged: dict[str, Any],
    slis: dict[str, Any],
    settings: Settings,
    depts: dict[str, dict[str, Any]],
) -> Service:
    data = dict(doc_data)
    selector = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in sorted(data["selector"].items())}
    data["_selector"] = render_selector(selector)
    name = data["name"]
    uid = dashboard_uid(name)
    dash_url = f"{settings['grafana_url']}/d/{uid}/{name}"
    runbook = data.get("runbook") or f"{settings['runbook_base_url']}/{name}"
    profiles = [p for _, p, _ in profile_refs(data)]
    order = {p: i for i, p in enumerate(profiles)}
    # Panel ids are stable: header panels first, then metrics in profile order, then SLOs.
    items = sorted(
        (
            (src.profile or "service", mid, src)
            for mid, src in merged.items()
            if "enabled" not in src.fields or src.fields["enabled"].value is not False
        ),
        key=lambda t: (order.get(t[0], len(order)), t[1]),
    )
    metrics = [
        resolve_metric(mid, src.fields, prof, data, PANELS_PER_SERVICE_HEADER + i, dash_url, runbook)
        for i, (prof, mid, src) in enumerate(items)
    ]
    first_slo = PANELS_PER_SERVICE_HEADER + len(metrics)
    slos = [
        resolve_slo(slo, slis[slo.get("sli", slo["name"])], data, first_slo + i, dash_url, runbook)
        for i, slo in enumerate(data.get("slos") or [])
    ]
    owner = depts[data["owner"]]
    tier = int(data.get("tier", 2))
    customer_facing = bool(data.get("customer_facing", False))
    labels = {
        **settings["extra_labels"],
        **{k: str(v) for k, v in sorted((data.get("labels") or {}).items())},
        "service": name,
        "team": data["owner"],
        "tier": str(tier),
        "customer_facing": str(customer_facing).lower(),
    }
    down_for, down_s = _duration(defaults()["service_down"]["for"])
    return Service(
        name=name,
        camel=camel(name),
        description=" ".join(str(data.get("description", name)).split()),
        owner=data["owner"],
        owner_name=owner.get("name", data["owner"]),
        tier=tier,
        customer_facing=customer_facing,
        selector=selector,
        selector_promql=data["_selector"],
        profiles=profiles,
        dependencies=sorted(data.get("dependencies") or []),
        runbook_url=runbook,
        labels=dict(sorted(labels.items())),
        record_labels=dict(sorted({**settings["extra_labels"], "service": name}.items())),
        dashboard=Dashboard(
            uid=uid,
            title=name,
            folder=data["owner"],
            folder_title=owner.get("name", data["owner"]),
            folder_uid=folder_uid(data["owner"]),
            url=dash_url,
            panels={**HEADER_PANELS, "first_free": PANELS_PER_SERVICE_HEADER + len(metrics) + len(slos)},
        ),
        service_down=Absent(**{"for": down_for, "for_seconds": down_s, "alert": "ServiceDown"}),
        metrics=metrics,
        slos=slos,
    )


def resolve_departments(data: dict[str, Any]) -> dict[str, Any]:
    """departments.yaml as the Alertmanager generator reads it: defaults applied, every shorthand
    expanded to its long form, receivers named `<department>/<channel>`, the catch-all chosen."""
    from vigil.catalog.departments import DEFAULT_VERSION, catch_all

    as_list = lambda x: x if isinstance(x, list) else ([] if x is None else [x])
    base = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h", **(data.get("defaults") or {})}
    timings = {k: _duration(v)[0] for k, v in base.items()}

    def interval(spec: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k != "times"}
        if "times" in spec:
            out["times"] = [dict(zip(("start_time", "end_time"), t.split("-"))) for t in spec["times"]]
        return out

    departments, needs_smtp = [], bool(data.get("smtp"))
    for dept in data["departments"]:
        channels = []
        for name in sorted(dept["channels"]):
            [(kind, conf)] = dept["channels"][name].items()
            needs_smtp = needs_smtp or (kind == "email" and not {"smarthost", "from"} <= set(conf))
            # Resolved notifications on by default: "it is over" is news to every department.
            channels.append(
                {
                    "name": name,
                    "receiver": f"{dept['id']}/{name}",
                    "kind": kind,
                    "config": {"send_resolved": True, **conf},
                }
            )
        departments.append(
            {
                "id": dept["id"],
                "name": dept.get("name", dept["id"]),
                "role": dept["role"],
                "channels": channels,
                "active_hours": as_list(dept.get("active_hours")),
                **{k: _duration(dept.get(k, timings[k]))[0] for k in timings},
            }
        )
    # Alertmanager needs a mail server for email; without one in the catalog it comes from the
    # deploy environment, like any other ${ENV} reference.
    smtp = (
        {"smarthost": "${SMTP_SMARTHOST}", "from": "${SMTP_FROM}", **(data.get("smtp") or {})} if needs_smtp else None
    )
    propagation = []
    for p in data.get("propagation") or []:
        when = p.get("when") or {}
        propagation.append(
            {
                "notify": as_list(p["notify"]),
                "channel": p["channel"],
                "severity": as_list(p.get("severity")) or ["critical", "warning", "info"],
                "when": {k: [str(x).lower() for x in as_list(when[k])] for k in sorted(when)},
            }
        )
    dept_id, channel = catch_all(data) or ("", "")
    return {
        "alertmanager_version": str(data.get("alertmanager_version", DEFAULT_VERSION)),
        "defaults": timings,
        "smtp": smtp,
        "time_intervals": {
            name: [interval(s) for s in as_list(spec)]
            for name, spec in sorted((data.get("time_intervals") or {}).items())
        },
        "departments": sorted(departments, key=lambda d: d["id"]),
        "propagation": propagation,
        "catch_all": {"department": dept_id, "channel": channel, "receiver": f"{dept_id}/{channel}"},
    }


def resolve(validated: Validated, cache: CatalogCache | None = None) -> Model:
    """The model of a validated catalog. With a cache, a service resolved before, in the same
    settings, departments and profiles, is not resolved again."""
    raw = validated.raw
    settings = resolve_settings(raw.settings.data if raw.settings else None)
    assert raw.departments is not None
    depts = {d["id"]: d for d in raw.departments.data["departments"]}
    # Besides the service itself, resolution reads the settings, the departments and the profiles
    # (the built-in ones are part of the cache's salt, the catalog's own are here).
    around = memo.context(settings, raw.departments.data, [d.data for d in raw.profiles])
    services = []
    for doc in sorted(raw.services, key=lambda d: d.data["name"]):

        def one(doc: Document = doc) -> Service:
            merged = service_metrics(doc, validated.profiles)
            slis = service_slis(doc, validated.profiles)
            return resolve_service(doc.data, merged, slis, settings, depts)

        services.append(cache.get_or_compute(["resolve", around, memo.doc_state(doc)], one) if cache else one())
    model = Model(
        version=1, settings=settings, departments=resolve_departments(raw.departments.data), services=services
    )
    if raw.settings and "kubernetes" in raw.settings.data:
        # Only when asked for: a catalog without it keeps its model (and golden files) unchanged.
        model["kubernetes"] = resolve_kubernetes(raw.settings.data["kubernetes"])
    if raw.postmortems:
        model["postmortems"] = postmortems.resolve(raw.postmortems, {s["name"]: s["owner"] for s in services})
    return model
