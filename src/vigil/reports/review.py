"""`vigil review`: the semantic difference between the catalog at a git revision and the work tree.

A one-line threshold edit changes hundreds of lines of output/; a reviewer needs the effect instead:
which alerts change and how (threshold, `for`, severity, kind, expression), who is told about what
(the `vigil routes` matrix), which dashboard panels and threshold steps change, and what the SLOs
promise (objective, window, error budget in minutes). Both catalogs are compiled and rendered by
the same stages as `vigil build` (without its checks), and the models and artefacts are compared,
never their text.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import yaml

from vigil.build import BuildReport, compile_catalog, render_model
from vigil.check.dashboards import flat_panels
from vigil.errors import CatalogError
from vigil.layout import DASHBOARDS_DIR, RULES_DIR
from vigil.model import Model, Service
from vigil.render.alertmanager import SEVERITIES
from vigil.render.cache import Cache
from vigil.render.dashboards import OVERVIEW_UID
from vigil.reports import catalog_at_revision, routes
from vigil.units import format_quantity, parse_duration

KINDS = ("service", "alert", "route", "slo", "dashboard")  # the order a reviewer reads them in
CHANGES = ("added", "removed", "changed")
OVERVIEW = ""  # the `service` of the overview dashboard's records: it belongs to none

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Fields = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One thing that differs. `before` is None when added, `after` None when removed; otherwise
    both hold the same fields and `fields` names those that differ.

    Alert records keep the whole alert (its `expr` among them), so a later stage, such as a
    backtest of each changed alert, can work from the record alone."""

    service: str
    kind: str  # one of KINDS
    name: str
    change: str  # one of CHANGES
    before: Fields | None
    after: Fields | None

    @property
    def fields(self) -> list[str]:
        if self.before is None or self.after is None:
            return []
        return [k for k in sorted(self.before.keys() | self.after.keys()) if self.before.get(k) != self.after.get(k)]

    def sort_key(self) -> tuple[Any, ...]:
        some = self.after if self.after is not None else self.before or {}
        return (
            self.service,
            KINDS.index(self.kind),
            self.name,
            _severity_rank(some.get("severity")),
            CHANGES.index(self.change),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "kind": self.kind,
            "name": self.name,
            "change": self.change,
            "before": self.before,
            "after": self.after,
            "fields": self.fields,
        }


@dataclass
class Review:
    base: str  # the revision compared against
    changes: list[Change] = field(default_factory=list)
    # Services present on one side only: their records are listed under them, summarised.
    added_services: list[str] = field(default_factory=list)
    removed_services: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The two resolved models compared (the base's has no services when REV had no catalog), for
    # what is computed from them later: `vigil review --backtest` (reports/review_backtest.py).
    head_model: Any = field(default=None, repr=False)
    base_model: Any = field(default=None, repr=False)
    # (service, alert, severity) → the backtest of that changed or added alert, side by side.
    backtest: dict[tuple[str, str, str], Any] | None = None


def _severity_rank(severity: Any) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass
class Snapshot:
    """What a reviewer compares, from one catalog's model and artefacts; each map is keyed by the
    identity of the thing, its values are the fields compared."""

    services: dict[str, Fields] = field(default_factory=dict)
    alerts: dict[tuple[str, str, str], Fields] = field(default_factory=dict)  # (service, alertname, severity)
    # (service, severity, alert kind) → who is told
    routes: dict[tuple[str, str, str], tuple[routes.Told, ...]] = field(default_factory=dict)
    slos: dict[tuple[str, str], Fields] = field(default_factory=dict)  # (service, slo name)
    dashboards: dict[str, Fields] = field(default_factory=dict)  # uid
    panels: dict[tuple[str, str], Fields] = field(default_factory=dict)  # (uid, panel title)
    dashboard_service: dict[str, str] = field(default_factory=dict)  # uid → service
    model: Any = field(default=None, repr=False)  # the model it was taken from


def _alert_threshold(model_service: Service, labels: dict[str, str]) -> str | None:
    """The alert's threshold as the catalog writes it (`> 2%`), from the model's key metric or SLO:
    the rendered expression holds it only as a PromQL number."""
    kind, key = labels.get("kind"), labels.get("key_metric")
    if kind == "slo_burn":
        slo = next((s for s in model_service["slos"] if s["name"] == key), None)
        return f"objective {slo['objective_text']} over {slo['period']}" if slo else None
    metric = next((m for m in model_service["metrics"] if m["id"] == key), None)
    if metric is None:
        return None
    if kind == "threshold":
        return next(
            (
                f"{metric['comparator']} {t['text']}"
                for t in metric["thresholds"]
                if t["severity"] == labels.get("severity")
            ),
            None,
        )
    if kind == "trend" and metric["trend"]:
        critical = next((t["text"] for t in metric["thresholds"] if t["severity"] == "critical"), "?")
        return f"{metric['comparator']} {critical} within {metric['trend']['within']}"
    if kind == "anomaly" and metric["anomaly"]:
        a = metric["anomaly"]
        return f"{a['sensitivity_promql']}σ from its {a['baseline']} baseline"
    return None


def _seconds(value: float | None) -> str | None:
    """A latency SLO's threshold (seconds, as resolve parses it) in catalog notation: 500ms."""
    return None if value is None else format_quantity(value, "seconds")


def _told(t: routes.Told) -> Fields:
    return {"receiver": t.receiver, "via": t.via, "hours": t.hours}


def _steps(panel: dict[str, Any]) -> list[str]:
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    return [f"{s.get('color')} {'base' if s.get('value') is None else format(s['value'], 'g')}" for s in steps]


def snapshot(model: Model, artefacts: Mapping[str, str]) -> Snapshot:
    snap = Snapshot(model=model)
    by_name = {s["name"]: s for s in model["services"]}
    folders: dict[str, str] = {}
    for s in model["services"]:
        snap.services[s["name"]] = {
            "owner": s["owner"],
            "tier": s["tier"],
            "customer_facing": s["customer_facing"],
            "selector": s["selector_promql"],
            "profiles": list(s["profiles"]),
            "dependencies": list(s["dependencies"]),
            "runbook_url": s["runbook_url"],
        }
        for slo in s["slos"]:
            minutes = (1 - slo["objective"]) * parse_duration(slo["period"]) / 60
            snap.slos[(s["name"], slo["name"])] = {
                "objective": slo["objective_text"],
                "window": slo["period"],
                "threshold": _seconds(slo["threshold"]),
                "budget_minutes": round(minutes, 2),
            }
            if "because" in slo:
                snap.slos[(s["name"], slo["name"])]["because"] = slo["because"]
        snap.dashboard_service[s["dashboard"]["uid"]] = s["name"]
        folders[s["dashboard"]["uid"]] = s["dashboard"]["folder"]
    snap.dashboard_service[OVERVIEW_UID] = OVERVIEW
    for path, text in sorted(artefacts.items()):
        if path.startswith(RULES_DIR + "/"):
            for group in (yaml.load(text, Loader=_Loader) or {}).get("groups", []):
                for rule in group.get("rules", []):
                    if "alert" in rule:
                        labels = rule.get("labels", {})
                        service = labels.get("service", "")
                        snap.alerts[(service, rule["alert"], labels.get("severity", ""))] = {
                            "severity": labels.get("severity"),
                            "kind": labels.get("kind"),
                            "key_metric": labels.get("key_metric"),
                            "for": rule.get("for", "0s"),
                            "threshold": _alert_threshold(by_name[service], labels) if service in by_name else None,
                            "expr": rule["expr"],
                        }
                        if "postmortem" in rule.get("annotations", {}):  # `because:` (absent otherwise)
                            snap.alerts[(service, rule["alert"], labels.get("severity", ""))]["because"] = rule[
                                "annotations"
                            ]["postmortem"]
        elif path.startswith(DASHBOARDS_DIR + "/"):
            doc = orjson.loads(text)
            uid = doc["uid"]
            folder = folders.get(uid)
            snap.dashboards[uid] = {"title": doc.get("title"), "folder": folder}
            seen: dict[str, int] = {}
            for panel in flat_panels(doc):
                title = panel.get("title") or f"({panel.get('type')} panel)"
                seen[title] = seen.get(title, 0) + 1
                # Panel ids move when a metric is added before them: titles identify a panel.
                name = title if seen[title] == 1 else f"{title} #{seen[title]}"
                snap.panels[(uid, name)] = {"type": panel.get("type"), "thresholds": _steps(panel)}
    for row in routes.matrix(model) if model["services"] else []:
        # A row holds several alert kinds when routing does not depend on them: one entry per kind,
        # so a policy line that starts matching on `kind` changes only the kinds it affects.
        for kind in row.kinds.split(",") if row.kinds else routes.KINDS:
            snap.routes[(row.service, row.severity, kind)] = row.told
    return snap


def _diff_maps(before: dict[Any, Any], after: dict[Any, Any]) -> list[tuple[Any, Any, Any]]:
    """(key, old or None, new or None) for every key whose value differs, in key order."""
    return [
        (k, before.get(k), after.get(k))
        for k in sorted(before.keys() | after.keys(), key=str)
        if before.get(k) != after.get(k)
    ]


def _change(old: Any, new: Any) -> str:
    return "added" if old is None else "removed" if new is None else "changed"


def _alert_changes(before: Snapshot, after: Snapshot) -> list[Change]:
    out: list[Change] = []
    diffs = _diff_maps(before.alerts, after.alerts)
    # An alert whose only warning threshold became a critical one is the same alert with a new
    # severity: pair the lone removal and addition of one alert name in one service.
    gone = [(k, old) for k, old, new in diffs if new is None]
    new_ = [(k, new) for k, old, new in diffs if old is None]
    paired: set[Any] = set()
    for (service, alert, _), old in gone:
        same_old = [k for k, _ in gone if k[:2] == (service, alert)]
        same_new = [(k, v) for k, v in new_ if k[:2] == (service, alert)]
        if len(same_old) == 1 and len(same_new) == 1:
            ((new_key, new_value),) = same_new
            paired |= {same_old[0], new_key}
            out.append(Change(service, "alert", alert, "changed", old, new_value))
    for key, old, new in diffs:
        if key not in paired:
            service, alert, _ = key
            out.append(Change(service, "alert", alert, _change(old, new), old, new))
    return out


def _route_changes(before: Snapshot, after: Snapshot) -> list[Change]:
    """Changed matrix rows, with the alert kinds that share the same change grouped into one."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for (service, severity, kind), old, new in _diff_maps(before.routes, after.routes):
        groups.setdefault((service, severity, old, new), []).append(kind)
    out = []
    for (service, severity, old, new), kinds in groups.items():
        shown = ",".join(sorted(kinds, key=routes.KINDS.index))
        name = severity if len(kinds) == len(routes.KINDS) else f"{severity} ({shown})"
        out.append(
            Change(
                service,
                "route",
                name,
                _change(old, new),
                None if old is None else {"severity": severity, "told": [_told(t) for t in old]},
                None if new is None else {"severity": severity, "told": [_told(t) for t in new]},
            )
        )
    return out


def _dashboard_changes(before: Snapshot, after: Snapshot) -> list[Change]:
    def service_of(uid: str) -> str:
        return after.dashboard_service.get(uid, before.dashboard_service.get(uid, OVERVIEW))

    out = [
        Change(service_of(uid), "dashboard", uid, _change(old, new), old, new)
        for uid, old, new in _diff_maps(before.dashboards, after.dashboards)
    ]
    # A dashboard added or removed as a whole is one record; its panels are not listed one by one.
    whole = {c.name for c in out if c.change != "changed"}
    out += [
        Change(service_of(uid), "dashboard", f"{uid} / {title}", _change(old, new), old, new)
        for (uid, title), old, new in _diff_maps(before.panels, after.panels)
        if uid not in whole
    ]
    return out


def diff(before: Snapshot, after: Snapshot) -> list[Change]:
    changes = [
        Change(name, "service", name, _change(old, new), old, new)
        for name, old, new in _diff_maps(before.services, after.services)
    ]
    changes += _alert_changes(before, after)
    changes += _route_changes(before, after)
    changes += [
        Change(service, "slo", name, _change(old, new), old, new)
        for (service, name), old, new in _diff_maps(before.slos, after.slos)
    ]
    changes += _dashboard_changes(before, after)
    return sorted(changes, key=Change.sort_key)


def compile_snapshot(
    catalog: Path, label: str | None = None, cache_dir: Path | None = None
) -> tuple[Snapshot, list[str]]:
    """Compile and render a catalog as `vigil build` does, without the checks (promtool and amtool
    prove the artefacts; a review only compares them). `label` prefixes the file names in its errors.
    With `cache_dir` (vigil build's cache), services rendered before are not rendered again."""
    report = BuildReport()
    try:
        _, model = compile_catalog(catalog, report)
    except CatalogError as e:
        if label is None:
            raise
        # The files are in a temporary copy: name them as `git show` would (REV:path).
        raise CatalogError([replace(p, file=label + p.file) for p in e.problems]) from e
    rendered = render_model(model, Cache(cache_dir), report)
    return snapshot(model, rendered.files), report.warnings


def review(catalog: Path, base: str, cache_dir: Path | None = None) -> Review:
    """The changes from the catalog at git revision `base` to the catalog on disk."""
    revision = catalog_at_revision.resolve(catalog, base)
    after, warnings = compile_snapshot(catalog, cache_dir=cache_dir)
    with tempfile.TemporaryDirectory(prefix="vigil-review-") as tmp:
        old_dir = catalog_at_revision.extract(catalog, revision, Path(tmp))
        # Problems name files relative to the catalog's parent; say where that is in REV.
        parent = PurePosixPath(revision.prefix).parent.as_posix()
        label = f"{base}:" + ("" if parent == "." else parent + "/")
        before = Snapshot() if old_dir is None else compile_snapshot(old_dir, label, cache_dir)[0]
    changes = diff(before, after)
    return Review(
        base=base,
        changes=changes,
        added_services=sorted(after.services.keys() - before.services.keys()),
        removed_services=sorted(before.services.keys() - after.services.keys()),
        warnings=warnings,
        head_model=after.model,
        base_model=before.model if before.model is not None else {**after.model, "services": []},
    )
