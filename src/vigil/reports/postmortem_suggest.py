"""`vigil postmortem suggest`: threshold and `for` changes that would have detected an incident
earlier, each backtested over a look-back window (docs/postmortems.md, "Thresholds that learn").

For the postmortem's key metrics (its `anomalous_metrics`, and the metric of the alert that fired),
the metric's own history over the incident (occurred → resolved) says which level it had reached
and when. From that come, per threshold alert:

- a shorter `for` (the same threshold, held half as long);
- a lower threshold (higher for `direction: below`): the level the metric held, all the way, over
  the `for` before the halfway point between the fault and its detection, rounded to two
  significant digits on the safe side, so the alert would have fired by then;
- both.

Each candidate is a modified model (never a modified file), rendered and backtested by the same
engine as `vigil backtest` (vigil.backtest: the alert expanded to raw series, evaluated at its
group's interval with its `for`) over the look-back window. Kept are the candidates that detect the
incident earlier than it was detected (by the current alert, or as the postmortem says), each with
what it would have cost: its firings over the window against the current alert's. The YAML to paste
carries `because: <postmortem id>`; the catalog is never written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from vigil import units
from vigil.backtest.client import BacktestAPI
from vigil.backtest.evaluate import Window, evaluate
from vigil.backtest.rules import AlertRule, alert_rules, rule_files
from vigil.backtest.state import Firing
from vigil.backtest.timespec import format_time
from vigil.catalog.postmortems import parse_time
from vigil.catalog.schema import did_you_mean
from vigil.errors import NoDataError
from vigil.model import Metric, Model, Postmortem, Service, Threshold
from vigil.render.cache import Cache

# `for` values an SRE writes; a shorter `for` is the largest of these at most half the current one.
FOR_LADDER = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class Target:
    service: str
    metric: str  # key metric id


@dataclass
class Suggestion:
    service: str
    metric: str
    severity: str
    alert: str
    threshold: tuple[str, str] | None  # (current, proposed), catalog notation; None: unchanged
    for_: tuple[str, str] | None
    current_detected: float | None  # when the current alert fired in the incident (None: it did not)
    proposed_detected: float
    current_firings: int  # over the look-back window
    proposed_firings: int
    minutes_earlier: float  # than the incident was detected (by the current alert or as the postmortem says)
    file: str  # the service file to paste into
    yaml: str

    def json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "key_metric": self.metric,
            "severity": self.severity,
            "alert": self.alert,
            "change": {
                "threshold": None if self.threshold is None else {"from": self.threshold[0], "to": self.threshold[1]},
                "for": None if self.for_ is None else {"from": self.for_[0], "to": self.for_[1]},
            },
            "current": {"detected": _time(self.current_detected), "firings": self.current_firings},
            "proposed": {"detected": _time(self.proposed_detected), "firings": self.proposed_firings},
            "minutes_earlier": self.minutes_earlier,
            "extra_firings": self.proposed_firings - self.current_firings,
            "file": self.file,
            "yaml": self.yaml,
        }


@dataclass
class Report:
    postmortem: Postmortem
    window: Window
    suggestions: list[Suggestion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        pm = self.postmortem
        return {
            "postmortem": pm["id"],
            "incident": {
                "service": pm["service"],
                "occurred": pm["occurred"],
                "detected": pm["detected"],
                "resolved": pm["resolved"],
                "detected_by": pm["detected_by"],
                "alert": pm["alert"],
            },
            "window": {"from": format_time(self.window.start), "to": format_time(self.window.end)},
            "suggestions": [s.json() for s in self.suggestions],
            "notes": self.notes,
        }


def lookback(pm: Postmortem, seconds: float, to: float | None = None) -> Window:
    """The backtest window: `seconds` back from `to` (default: the incident's end), and always
    the incident with an hour before it, so that its detection is in the window."""
    end = parse_time(pm["resolved"]).timestamp() if to is None else to
    occurred = parse_time(pm["occurred"]).timestamp()
    if end < occurred:
        raise ValueError(f"--to {format_time(end)} is before the incident ({pm['occurred']})")
    return Window(min(end - seconds, occurred - 3600), end)


def _time(t: float | None) -> str | None:
    return None if t is None else format_time(t)


def find(model: Model, ref: str) -> Postmortem:
    """The postmortem named by id or by its file's path; ValueError with a suggestion otherwise."""
    known = {pm["id"]: pm for pm in model.get("postmortems") or []}
    pid = ref.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".md")
    if pid not in known:
        where = did_you_mean(pid, sorted(known)) if known else " (there are no postmortems beside the catalog)"
        raise ValueError(f"no postmortem '{pid}'{where}")
    return known[pid]


def targets(model: Model, pm: Postmortem) -> tuple[list[Target], list[str]]:
    """The key metrics to tune: the anomalous ones, and the one whose alert fired; notes on the rest."""
    services = {s["name"]: s for s in model["services"]}
    wanted = [Target(m["service"], m["key_metric"]) for m in pm["anomalous_metrics"]]
    owner = services.get(pm["service"])
    if pm["alert"] and owner is not None:
        wanted += [Target(pm["service"], m["id"]) for m in owner["metrics"] if _alerts_of(m) & {pm["alert"]}]
    if not wanted and owner is not None:
        wanted = [Target(pm["service"], m["id"]) for m in owner["metrics"] if m["thresholds"]]
    out, notes = [], []
    for t in dict.fromkeys(wanted):
        metric = _metric(services[t.service], t.metric) if t.service in services else None
        if metric is None:
            notes.append(f"{t.service} {t.metric}: an SLO; suggestions change key-metric thresholds only")
        elif not metric["thresholds"]:
            notes.append(f"{t.service} {t.metric}: no threshold alert to tune (trend and anomaly alerts are not)")
        else:
            out.append(t)
    return out, notes


def _alerts_of(metric: Metric) -> set[str]:
    return {t["alert"] for t in metric["thresholds"]}


def _metric(service: Service, mid: str) -> Metric | None:
    return next((m for m in service["metrics"] if m["id"] == mid), None)


def nice(x: float, direction: str) -> float | None:
    """x rounded to two significant digits, down for `above` (up for `below`), so that a threshold
    there is crossed by a metric that held x; strictly, as alerts compare with > and <. None when
    no such threshold means anything (a metric at zero, or below it)."""
    if x <= 0:
        return None
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    k = round(x / step, 9)
    n = (math.floor if direction == "above" else math.ceil)(k)
    if n == k:
        n += -1 if direction == "above" else 1
    return round(n * step, 12) if n > 0 else None


def _beyond(a: float, b: float, direction: str) -> bool:
    """a is worse than b for a metric where `direction` is worse."""
    return a > b if direction == "above" else a < b


def shorter_for(seconds: float, interval: float) -> float | None:
    """The largest `for` of FOR_LADDER at most half of `seconds`, or one evaluation interval."""
    fits = [f for f in FOR_LADDER if f <= seconds / 2]
    if fits:
        return max(fits)
    return interval if interval < seconds else None


def _levels(api: BacktestAPI, metric: Metric, window: Window, step: float) -> dict[int, float]:
    """The metric at each evaluation (ms) of the window: its worst series (max, or min when lower is worse)."""
    agg = "max" if metric["direction"] == "above" else "min"
    first, last = window.evaluations(step)
    series = api.query_range_post(f"{agg}({metric['expr']})", first / 1000, last / 1000, step)
    if not series:
        return {}
    return {round(t * 1000): v for t, v in zip(series[0].times, series[0].values) if not math.isnan(v)}


def _held(levels: dict[int, float], start: int, end: int, step: int, direction: str) -> float | None:
    """The level the metric held at every evaluation from start to end (ms); None on a gap."""
    seen = [levels.get(t) for t in range(start, end + 1, step)]
    if not seen or any(v is None for v in seen):
        return None
    values = [v for v in seen if v is not None]
    return min(values) if direction == "above" else max(values)


def detection(firings: Sequence[Firing], occurred: float, resolved: float) -> float | None:
    """When an alert first fired during the incident (an alert already firing at `occurred` counts then)."""
    out = [
        max(f.fired_at / 1000, occurred)
        for f in firings
        if f.fired_at / 1000 <= resolved and (f.resolved_at is None or f.resolved_at / 1000 > occurred)
    ]
    return min(out) if out else None


def _changed(service: Service, mid: str, severity: str, value: float | None, for_s: float | None) -> Service:
    """The service with one threshold of one metric changed (a copy; the model is left alone)."""
    metrics = []
    for m in service["metrics"]:
        if m["id"] == mid:
            thresholds: list[Threshold] = []
            for t in m["thresholds"]:
                if t["severity"] == severity:
                    t = t.copy()
                    if value is not None:
                        t["value"], t["promql"] = value, units.promql_number(value)
                        t["text"] = units.format_quantity(value, m["unit"])
                    if for_s is not None:
                        t["for"], t["for_seconds"] = units.format_duration(for_s), for_s
                thresholds.append(t)
            m = {**m, "thresholds": thresholds}
        metrics.append(m)
    return {**service, "metrics": metrics}


def _rule(model: Model, service: Service, alert: str, severity: str, cache: Cache) -> AlertRule:
    sub: Model = {**model, "services": [service]}
    sub.pop("postmortems", None)
    rules, _ = alert_rules(sub, rule_files(sub, cache))
    return next(r for r in rules if r.key == (service["name"], alert, severity))


def paste(
    override: dict[str, Any], metric: Metric, severity: str, value: float | None, for_s: float | None, pid: str
) -> str:
    """The YAML of the metric's entry in the service file, the change made and `because:` set."""
    entry = dict(override)
    if value is not None:
        entry[severity] = units.format_quantity(value, metric["unit"])
    if for_s is not None:
        fors = {t["severity"]: t["for"] for t in metric["thresholds"]}
        fors[severity] = units.format_duration(for_s)
        entry["for"] = next(iter(fors.values())) if len(set(fors.values())) == 1 else fors
    entry["because"] = pid
    return yaml.safe_dump({"metrics": {metric["id"]: entry}}, sort_keys=False, default_flow_style=None, width=1000)


Overrides = dict[str, tuple[str, dict[str, Any]]]  # service → (its file, its `metrics:` mapping)


def suggest(
    model: Model,
    overrides: Overrides,
    pm: Postmortem,
    api: BacktestAPI,
    window: Window,
    cache: Cache | None = None,
) -> Report:
    """Candidates for each target's thresholds, backtested; those that detect earlier, with their cost."""
    cache = cache or Cache(None)
    occurred, resolved = parse_time(pm["occurred"]).timestamp(), parse_time(pm["resolved"]).timestamp()
    reported = parse_time(pm["detected"]).timestamp()
    report = Report(pm, window)
    found, report.notes = targets(model, pm)
    services = {s["name"]: s for s in model["services"]}
    incident = Window(occurred - 3600, resolved)  # an hour before: the `for` a crossing needs to fire
    with_data = 0
    for target in found:
        service = services[target.service]
        metric = _metric(service, target.metric)
        assert metric is not None
        interval = model["settings"]["evaluation_interval_seconds"]
        levels = _levels(api, metric, incident, interval)
        if not any(occurred * 1000 <= t <= resolved * 1000 for t in levels):
            report.notes.append(
                f"{target.service} {target.metric}: no data in Prometheus between {pm['occurred']} and {pm['resolved']}"
            )
            continue
        with_data += 1
        for threshold in metric["thresholds"]:
            report.suggestions += _for_threshold(
                Context(model, overrides, pm, api, window, cache, (occurred, reported, resolved), report.notes),
                service,
                metric,
                threshold,
                Levels(levels, round(interval * 1000)),
            )
    if found and not with_data:
        raise NoDataError(
            f"{pm['id']}: none of its key metrics ({', '.join(f'{t.service} {t.metric}' for t in found)}) has "
            f"data in {api.url} between {pm['occurred']} and {pm['resolved']}; "
            "point --prometheus at the one that keeps that history"
        )
    report.notes = list(dict.fromkeys(report.notes))  # a candidate per `for` may say the same
    report.suggestions.sort(
        key=lambda s: (-s.minutes_earlier, s.proposed_firings - s.current_firings, s.service, s.metric, s.severity)
    )
    return report


@dataclass(frozen=True)
class Context:
    """What every candidate of one postmortem is evaluated against."""

    model: Model
    overrides: Overrides
    pm: Postmortem
    api: BacktestAPI
    window: Window
    cache: Cache
    times: tuple[float, float, float]  # occurred, detected, resolved (unix seconds)
    notes: list[str]


@dataclass(frozen=True)
class Levels:
    at: dict[int, float]  # evaluation (ms) → the metric's worst series
    step: int  # ms


def _for_threshold(
    ctx: Context, service: Service, metric: Metric, threshold: Threshold, levels: Levels
) -> list[Suggestion]:
    occurred, reported, resolved = ctx.times
    severity, alert, direction = threshold["severity"], threshold["alert"], metric["direction"]
    what = f"{service['name']} {metric['id']} {severity}"
    current_rule = _rule(ctx.model, service, alert, severity, ctx.cache)
    (current,) = evaluate(ctx.api, [current_rule], ctx.window)
    now = detection(current, occurred, resolved)
    goal = min(reported, now) if now is not None else reported
    # Fire by halfway between the fault and its detection: earlier than that, the level to catch is
    # close to normal and pages every day; later, the gain is not worth a change.
    by = math.floor((occurred + (goal - occurred) / 2) * 1000 / levels.step) * levels.step
    warning = next((t["value"] for t in metric["thresholds"] if t["severity"] == "warning"), None)
    candidates: list[tuple[float | None, float | None]] = []
    short = shorter_for(threshold["for_seconds"], current_rule.interval)
    for for_s in [None, short] if short is not None else [None]:
        hold = threshold["for_seconds"] if for_s is None else for_s
        level = _held(levels.at, by - round(hold * 1000), by, levels.step, direction)
        value = None if level is None else nice(level, direction)
        if value is not None and not _beyond(threshold["value"], value, direction):
            value = None  # the metric had not reached the current threshold by then: only `for` can help
        if (
            value is not None
            and severity == "critical"
            and warning is not None
            and not _beyond(value, warning, direction)
        ):
            ctx.notes.append(
                f"{what}: {units.format_quantity(value, metric['unit'])} would pass the warning threshold; "
                "see the warning suggestion instead"
            )
            value = None
        if value is not None:
            candidates.append((value, for_s))
        if for_s is not None:
            candidates.append((None, for_s))
    out = []
    file, own = ctx.overrides.get(service["name"], ("", {}))
    for value, for_s in dict.fromkeys(candidates):
        rule = _rule(ctx.model, _changed(service, metric["id"], severity, value, for_s), alert, severity, ctx.cache)
        (firings,) = evaluate(ctx.api, [rule], ctx.window)
        when = detection(firings, occurred, resolved)
        if when is None or when >= goal:
            continue
        out.append(
            Suggestion(
                service=service["name"],
                metric=metric["id"],
                severity=severity,
                alert=alert,
                threshold=None if value is None else (threshold["text"], units.format_quantity(value, metric["unit"])),
                for_=None if for_s is None else (threshold["for"], units.format_duration(for_s)),
                current_detected=now,
                proposed_detected=when,
                current_firings=len(current),
                proposed_firings=len(firings),
                minutes_earlier=round((goal - when) / 60, 2),
                file=file,
                yaml=paste(own.get(metric["id"]) or {}, metric, severity, value, for_s, ctx.pm["id"]),
            )
        )
    if not out:
        ctx.notes.append(f"{what}: no lower threshold or shorter `for` would have fired before {format_time(goal)}")
    return out


def overrides_of(services: Iterable[Any]) -> Overrides:
    """From the validated catalog's service documents: each service's file and `metrics:` mapping."""
    return {d.data["name"]: (d.file, d.data.get("metrics") or {}) for d in services}
