"""The alerting rules a backtest evaluates: rendered from the model, with their group's interval,
their `for` and `keep_firing_for`, and their expression expanded down to raw series (expand.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from vigil import layout, units
from vigil.backtest.anomaly_form import single_pass
from vigil.backtest.expand import Expander, records_of
from vigil.errors import BacktestError
from vigil.model import Model
from vigil.render import prometheus
from vigil.render.cache import Cache
from vigil.render.files import Files

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class AlertRule:
    service: str
    alert: str
    severity: str
    kind: str
    file: str  # the rule file it is rendered into (vigil.layout.rule_file)
    group: str
    interval: float  # seconds between evaluations of its group
    for_seconds: float
    keep_firing_for_seconds: float
    expr: str  # as deployed
    raw_expr: str  # what the backtest evaluates: every recording rule it reads expanded

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.alert, self.severity)


def chosen(model: Model, services: Sequence[str]) -> Model:
    """The model with only the named services (all when none is named)."""
    if not services:
        return model
    known = {s["name"] for s in model["services"]}
    unknown = sorted(set(services) - known)
    if unknown:
        have = sorted(known)
        listed = ", ".join(have[:10]) + (f" and {len(have) - 10} more" if len(have) > 10 else "")
        raise BacktestError(f"no service {', '.join(unknown)} in the catalog (it has {listed})")
    return {**model, "services": [s for s in model["services"] if s["name"] in set(services)]}


def rule_files(model: Model, cache: Cache) -> dict[str, Any]:
    """Each service's rule file, rendered as `vigil build` renders it, parsed."""
    files = Files(cache)
    prometheus.render_all(model, cache, files)
    return {
        layout.rule_file(s["name"]): yaml.load(files[layout.rule_file(s["name"])], Loader=_LOADER)
        for s in model["services"]
    }


def alert_rules(model: Model, files: dict[str, Any]) -> tuple[list[AlertRule], list[str]]:
    """Every alerting rule of the files, expanded, sorted by service, alert and severity; and notes."""
    default = model["settings"]["evaluation_interval_seconds"]
    expander = Expander(records_of(files, default))
    out = []
    for path, doc in sorted(files.items()):
        service = layout.service_of_rule_file(path)
        for group in (doc or {}).get("groups") or []:
            interval = units.parse_duration(group.get("interval") or default)
            for rule in group.get("rules") or []:
                if "alert" not in rule:
                    continue
                labels = rule.get("labels") or {}
                # The anomaly condition in a form that reads its baselines half as often (anomaly_form.py).
                evaluated = single_pass(rule["expr"]) if labels.get("kind") == "anomaly" else rule["expr"]
                where = f"{path}: group {group['name']}: alert {rule['alert']} ({labels.get('severity', '')})"
                out.append(
                    AlertRule(
                        service=labels.get("service", service),
                        alert=rule["alert"],
                        severity=labels.get("severity", ""),
                        kind=labels.get("kind", ""),
                        file=path,
                        group=group["name"],
                        interval=interval,
                        for_seconds=units.parse_duration(rule.get("for") or 0),
                        keep_firing_for_seconds=units.parse_duration(rule.get("keep_firing_for") or 0),
                        expr=rule["expr"],
                        raw_expr=expander.expand(evaluated, path, where, interval),
                    )
                )
    return sorted(out, key=lambda r: (r.key, r.file, r.group)), sorted(set(expander.notes))
