"""The timelines and assertions of the generated promtool tests (see testgen.py for the principle).

Each `*_case` function returns a Case (input series and assertions), or a string saying why the
case cannot be built (no fixture in the profile, say); `service_tests` packs them into the
service's test file. The simulations they rely on live in testgen.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from vigil.model import Burn, Metric, Service, Settings, Slo
from vigil.render import plans
from vigil.render.portable import LAG, BurnAlert, Condition, slo_plan, trend_plan
from vigil.render.simulate import (
    base_labels,
    humanize,
    memo,
    noise,
    observed,
    render_template,
    shape,
    synthesise,
    zscores,
)
from vigil.units import parse_duration

Rules = dict[tuple[str, str, str], dict[str, Any]]  # (key_metric, kind, severity) → alert rule


@dataclass
class Case:
    """One proof: input series over `length` steps, and assertions at chosen steps."""

    name: str
    series: list[dict[str, str]]
    asserts: list[dict[str, Any]]
    length: int

    @cached_property
    def metric_names(self) -> set[str]:
        return {s["series"].split("{", 1)[0] for s in self.series}


def index_rules(rules_doc: dict[str, Any]) -> Rules:
    out: Rules = {}
    for group in rules_doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                lab = rule["labels"]
                out[(lab["key_metric"], lab["kind"], lab["severity"])] = rule
    return out


def _steps(seconds: float, interval: float) -> int:
    return max(0, math.ceil(seconds / interval))


def _time(step: int, interval: float) -> str:
    seconds = int(step * interval)
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _expected(rule: dict[str, Any], series_labels: dict[str, str], value: float) -> dict[str, Any]:
    labels = {**series_labels, **rule["labels"]}
    return {
        "exp_labels": dict(sorted(labels.items())),
        "exp_annotations": {k: render_template(v, value, labels) for k, v in sorted(rule["annotations"].items())},
    }


def _record_labels(service: Service, metric: Metric) -> dict[str, str]:
    labels = dict(service["record_labels"])
    if "instance" in metric["by"]:
        labels["instance"] = base_labels(service)["instance"]
    for lab in metric["by"]:
        if lab != "instance" and lab in service["selector"]:
            labels[lab] = service["selector"][lab]
    return labels


# ------------------------------------------------------------------ values around a threshold
def short_of(t: float, metric: Metric) -> float:
    """Just on the good side of threshold t (5% of the way back)."""
    if metric["direction"] == "above":
        return t * 0.95 if t > 0 else (t if t == 0 else t * 1.05)
    good = 1.0 if metric["unit"] == "ratio" else (t * 2 if t > 0 else 1.0)
    return t + 0.05 * (good - t) if t != 0 else 0.0


def beyond(t: float, metric: Metric) -> float:
    """Clearly on the bad side of threshold t (10% past it, staying within 0..1 for ratios)."""
    if metric["direction"] == "above":
        v = t * 1.1 if t > 0 else t + 1
        return min(v, (t + 1) / 2) if metric["unit"] == "ratio" else v
    return t * 0.9 if t > 0 else t - 1


def pack(cases: list[Case], interval: float) -> list[dict[str, Any]]:
    """Put cases whose input series share no metric name into the same promtool test group.

    promtool evaluates every rule at every step of every group, so a service's test time is the sum
    of its groups' lengths: cases run side by side instead of one after another. Longest first, each
    case into the first group it does not disturb.
    """
    groups: list[tuple[list[Case], set[str]]] = []  # the cases, and the metric names they use
    for case in sorted(cases, key=lambda c: (-c.length, c.name)):
        for group, names in groups:
            if names.isdisjoint(case.metric_names):
                group.append(case)
                names |= case.metric_names
                break
        else:
            groups.append(([case], set(case.metric_names)))
    out = []
    for group, _ in groups:
        group.sort(key=lambda c: c.name)
        out.append(
            {
                "name": "; ".join(c.name for c in group),
                "interval": _time(1, interval),
                "input_series": [s for c in group for s in c.series],
                "alert_rule_test": [a for c in group for a in c.asserts],
            }
        )
    return out


def _crossed(metric: Metric, x: float) -> list[str]:
    """Severities whose threshold x is beyond."""
    above = metric["direction"] == "above"
    return [t["severity"] for t in metric["thresholds"] if (x > t["value"] if above else x < t["value"])]


def _assert(rule: dict[str, Any], step: int, interval: float, firing: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": _time(step, interval), "alertname": rule["alert"], "exp_alerts": firing}


def _case(
    name: str,
    fixture: Any,
    xs: Sequence[float | None],
    service: Service,
    interval: float,
    asserts: list[dict[str, Any]],
) -> Case:
    return Case(name, synthesise(fixture, xs, interval, base_labels(service)), asserts, len(xs))


def threshold_case(service: Service, metric: Metric, severity: str, rules: Rules, settings: Settings) -> Case:
    """Silent just short of the threshold; pending until `for` has passed; then firing."""
    interval = settings["evaluation_interval_seconds"]
    n = _steps(parse_duration(metric["window"]), interval)
    level = next(t for t in metric["thresholds"] if t["severity"] == severity)
    fors = {t["severity"]: _steps(t["for_seconds"], interval) for t in metric["thresholds"]}
    length = n + max(fors.values()) + 3
    lo, hi = short_of(level["value"], metric), beyond(level["value"], metric)
    labels = _record_labels(service, metric)
    rule = rules[(metric["id"], "threshold", severity)]

    def firing(severities: list[str], x: float) -> list[dict[str, Any]]:
        # Warning and critical share the alertname, so both are listed where both are crossed.
        return [_expected(rules[(metric["id"], "threshold", sev)], labels, x) for sev in severities]

    asserts = [
        _assert(rule, length - 1, interval, firing(_crossed(metric, lo), lo)),
        _assert(rule, 2 * length - 1, interval, firing(_crossed(metric, hi), hi)),
    ]
    pending = _pending_check(metric, severity, lo, hi, length, n, fors)
    if pending is not None:
        asserts.insert(1, _assert(rule, length + fors[severity] - 1, interval, firing(pending, hi)))
    name = (
        f"{metric['id']} {severity} {level['text']}: silent at {_fmt(metric, lo)}, "
        f"fires at {_fmt(metric, hi)} after {level['for']}"
    )
    return _case(name, metric["test"], [lo] * length + [hi] * length, service, interval, asserts)


def _pending_check(
    metric: Metric, severity: str, lo: float, hi: float, start: int, n: int, fors: dict[str, int]
) -> list[str] | None:
    """One step before `for` has passed since the value moved beyond the threshold, the alert is
    still pending. Returns the other severities firing at that step, or None when that cannot be
    known exactly (an alert firing while the windowed value is still moving)."""
    k = start + fors[severity] - 1
    if fors[severity] < 1:
        return None
    out = []
    for sev, f in fors.items():
        if sev == severity or sev not in _crossed(metric, hi):
            continue
        # LAG: vmalert reads the record an evaluation or two late (portable.py).
        if sev in _crossed(metric, lo) or start + n + f + LAG <= k:
            if k < start + n + LAG:
                return None  # firing, but its value is still between lo and hi on some engine
            out.append(sev)
        elif start + f <= k:
            return None  # may or may not have fired yet
    return out


def trend_case(service: Service, metric: Metric, rules: Rules, settings: Settings) -> Case | list[Case] | str:
    """Silent on a flat line just short of the first threshold; firing on a steady climb towards
    the critical threshold before it is reached."""
    if isinstance(metric["test"], dict):
        return "a histogram fixture cannot be ramped linearly"
    trend = metric["trend"]
    assert trend is not None
    interval = settings["evaluation_interval_seconds"]
    n = _steps(parse_duration(metric["window"]), interval)
    tw = _steps(parse_duration(trend["window"]), interval)
    tf = _steps(trend["for_seconds"], interval)
    within = trend["within_seconds"] / interval
    crit = next(t["value"] for t in metric["thresholds"] if t["severity"] == "critical")
    flat = short_of(metric["thresholds"][0]["value"], metric)
    windowed = any(s["type"] == "counter" for s in metric["test"]) or "[" in metric["expr"]
    # A plain gauge is flat from its first sample; a windowed value ramps up from zero while its
    # window fills, and that ramp must have left the trend window before the flat line is judged.
    flat_len = n + tw + tf + 3 if windowed else n + 3
    first = n if windowed else 0
    key = ("trend", shape(metric), interval)
    plan = memo(
        key,
        lambda: plans.trend_plan(key, lambda: trend_plan(metric, crit, flat, flat_len, first, n, tw, tf, within)),
    )
    if plan is None:
        return (
            f"no creep towards {_fmt(metric, crit)} keeps its prediction within {trend['within']} past it, "
            "the same on every engine, before reaching it"
        )
    rule = rules[(metric["id"], "trend", "warning")]
    fires = _assert(rule, plan.k, interval, [_expected(rule, _record_labels(service, metric), plan.predicted)])
    silent = f"{metric['id']} trend: silent flat at {_fmt(metric, flat)}"
    towards = f"fires on a climb towards {_fmt(metric, crit)} before reaching it"
    if plan.flat_len:
        return _case(
            f"{silent}, {towards}",
            metric["test"],
            plan.xs,
            service,
            interval,
            [_assert(rule, plan.flat_len - 1, interval, []), fires],
        )
    return [
        _case(
            silent, metric["test"], [flat] * flat_len, service, interval, [_assert(rule, flat_len - 1, interval, [])]
        ),
        _case(f"{metric['id']} trend: {towards}", metric["test"], plan.xs, service, interval, [fires]),
    ]


def anomaly_case(service: Service, metric: Metric, rules: Rules, settings: Settings) -> Case | str:
    """Silent on ordinary ±10% noise around a level; firing on a spike far outside it."""
    anomaly = metric["anomaly"]
    assert anomaly is not None
    interval = settings["evaluation_interval_seconds"]
    n = _steps(parse_duration(metric["window"]), interval)
    f = _steps(anomaly["for_seconds"], interval)
    skip = _steps(anomaly["skip_recent_seconds"], interval)
    every = _steps(parse_duration(settings["baseline_interval"]), interval) or 1
    level = _typical(metric)
    spike = level * 10 if metric["unit"] != "ratio" else min(0.99, level + 0.5)
    spike_len = n + f + 3

    def search() -> tuple[list[float | None], int, bool] | None:
        # Enough noise before the spike that the baseline (which leaves out the last `skip` steps)
        # has a few records; then the simulated alert must hold, with a 25% margin, for all of `for`.
        for history in range(n + skip + 2 * every, n + skip + 40 * every, every):
            xs: list[float | None] = [*(level * noise for noise in noise(history, n)), *([spike] * spike_len)]
            z = zscores(metric, xs, n, every, skip)
            if all(z[k] > 1.25 * anomaly["sensitivity"] for k in range(len(xs) - 1 - f - LAG, len(xs))):
                return xs, history, abs(z[history - 1]) < 0.8 * anomaly["sensitivity"]
        return None

    key = ("anomaly", shape(metric), interval, every)
    plan = memo(key, lambda: plans.anomaly_plan(key, search))
    if plan is None:
        return "no spike stands out of the simulated baseline"
    xs, history, quiet_before = plan
    k = len(xs) - 1
    rule = rules[(metric["id"], "anomaly", "warning")]
    value = observed(metric["test"], metric["expr"], xs, k, n)
    asserts = [_assert(rule, k, interval, [_expected(rule, _record_labels(service, metric), value)])]
    if quiet_before:
        asserts.insert(0, _assert(rule, history - 1, interval, []))
    name = f"{metric['id']} anomaly: silent on ±10% noise around {_fmt(metric, level)}, fires on a spike to {_fmt(metric, spike)}"
    return _case(name, metric["test"], xs, service, interval, asserts)


def _typical(metric: Metric) -> float:
    """An ordinary level for a metric: halfway to its first threshold, or a unit's usual value."""
    if metric["thresholds"]:
        return short_of(metric["thresholds"][0]["value"], metric) * (0.5 if metric["direction"] == "above" else 1)
    return {"ratio": 0.2, "seconds": 0.25, "bytes": 2.0**30, "bytes_per_second": 2.0**20}.get(metric["unit"], 100.0)


def absent_case(service: Service, metric: Metric, rules: Rules, settings: Settings) -> Case:
    """Silent while the metric has data; firing once it has had none for `for`."""
    absent = metric["absent"]
    assert absent is not None
    interval = settings["evaluation_interval_seconds"]
    n = _steps(parse_duration(metric["window"]), interval)
    f = _steps(absent["for_seconds"], interval)
    gone_after = max(n, _steps(300, interval)) + 1  # data lingers for the 5m lookback or the window
    length = n + 3
    xs: list[float | None] = [_typical(metric)] * length + [None] * (gone_after + f + 3)
    rule = rules[(metric["id"], "absent", "warning")]
    asserts = [
        _assert(rule, length - 1, interval, []),
        _assert(rule, len(xs) - 1, interval, [_expected(rule, {"service": service["name"]}, 1)]),
    ]
    return _case(
        f"{metric['id']} absent: fires {absent['for']} after its series stop",
        metric["test"],
        xs,
        service,
        interval,
        asserts,
    )


def service_down_case(service: Service, rules: Rules, settings: Settings) -> Case:
    """ServiceDown: silent while a target is up, firing when every target is down."""
    interval = settings["evaluation_interval_seconds"]
    length = _steps(service["service_down"]["for_seconds"], interval) + 3
    rule = rules[("up", "absent", "critical")]
    asserts = [
        _assert(rule, length - 1, interval, []),
        _assert(rule, 2 * length - 1, interval, [_expected(rule, {}, 1)]),
    ]
    fixture = [{"series": "up", "type": "gauge", "value": [0, 1]}]
    return _case(
        f"ServiceDown: fires when every target is down for {service['service_down']['for']}",
        fixture,
        [1.0] * length + [0.0] * length,
        service,
        interval,
        asserts,
    )


def slo_case(service: Service, slo: Slo, rules: Rules, settings: Settings) -> Case | str:
    """A few steps at half the budget rate, then a steady burn well past the page factor (capped
    below a 100% error ratio): the page fires first, on its first condition, while the ticket is
    still pending; later page and ticket fire together.

    Each alert's value (its first matching condition's short-window ratio) is asserted where that
    short window holds nothing but the burn, so every engine shows the same number (see
    portable.py), while the other conditions' short windows still hold some of the calm steps: a
    broken first condition that a later one masks shows another value and fails the test.
    """
    if not slo["test"]:
        return "its SLI has no test fixture"
    interval = settings["evaluation_interval_seconds"]
    page = next(a for a in slo["alerts"] if a["severity"] == "critical")
    ticket = next(a for a in slo["alerts"] if a["severity"] == "warning")
    page_ratio = max(w["factor"] for w in page["windows"]) * slo["budget"]
    if page_ratio >= 1:
        return f"a {slo['objective_text']} objective can never burn fast enough to page"
    burns = [min(2 * page_ratio, (page_ratio + 1) / 2)] + [page_ratio + f * (1 - page_ratio) for f in (0.7, 0.9)]
    rule_page = rules[(slo["name"], "slo_burn", "critical")]
    rule_ticket = rules[(slo["name"], "slo_burn", "warning")]
    fn = "humanizePercentage"
    key = ("slo", slo["budget"], json.dumps([page, ticket], sort_keys=True), interval)
    plan = memo(
        key,
        lambda: plans.slo_plan(  # remembered across builds too: the planning takes a while
            key,
            lambda: slo_plan(
                slo["budget"],
                _burn_alert(page, slo["budget"], interval),
                _burn_alert(ticket, slo["budget"], interval),
                burns,
                fn,
            ),
        ),
    )
    if plan is None:
        return "no burn pages before the ticket fires, the same on every engine"
    labels = {**service["record_labels"], "slo": slo["name"]}
    asserts = [
        _assert(rule_page, plan.page_alone, interval, [_expected(rule_page, labels, plan.burn)]),
        _assert(
            rule_page,
            plan.both,
            interval,
            [_expected(rule_page, labels, plan.burn), _expected(rule_ticket, labels, plan.burn)],
        ),
    ]
    name = (
        f"SLO {slo['name']} {slo['objective_text']}: a {plan.burn / slo['budget']:.3g}x burn pages at once, "
        f"the ticket after its {ticket['for']}"
    )
    return _case(name, slo["test"], plan.xs, service, interval, asserts)


def slo_calm_case(service: Service, slo: Slo, rules: Rules, settings: Settings) -> Case | None:
    """Half the budget rate for longer than the ticket's `for`: neither page nor ticket fires."""
    if not slo["test"]:
        return None
    interval = settings["evaluation_interval_seconds"]
    length = max(_steps(a["for_seconds"], interval) for a in slo["alerts"]) + 3
    rule = rules[(slo["name"], "slo_burn", "critical")]
    return _case(
        f"SLO {slo['name']} {slo['objective_text']}: silent at 0.5x burn",
        slo["test"],
        [0.5 * slo["budget"]] * length,
        service,
        interval,
        [_assert(rule, length - 1, interval, [])],
    )


def _burn_alert(alert: Burn, budget: float, interval: float) -> BurnAlert:
    return BurnAlert(
        tuple(
            Condition(
                _steps(parse_duration(w["short"]), interval),
                _steps(parse_duration(w["long"]), interval),
                w["factor"] * budget,
            )
            for w in alert["windows"]
        ),
        _steps(alert["for_seconds"], interval),
    )


def service_tests(
    service: Service, settings: Settings, rules_doc: dict[str, Any], rule_file: str
) -> tuple[dict[str, Any], list[str]]:
    """The promtool test file of one service, and the cases that could not be generated (why)."""
    rules = index_rules(rules_doc)
    cases: list[Case] = [service_down_case(service, rules, settings)]
    skipped: list[str] = []

    def add(what: str, make: Callable[[], Case | list[Case] | str]) -> None:
        result = make()
        if isinstance(result, str):
            skipped.append(f"{service['name']}: {what}: no test, {result}")
        else:
            cases.extend(result if isinstance(result, list) else [result])

    for m in service["metrics"]:
        if m["test"] is None:
            if m["thresholds"] or m["trend"] or m["anomaly"] or m["absent"]:
                skipped.append(f"{service['name']}: {m['id']}: no test, its profile gives no `test:` fixture")
            continue
        for t in m["thresholds"]:
            add(
                f"{m['id']} {t['severity']}",
                partial(threshold_case, service, m, t["severity"], rules, settings),
            )
        if m["trend"]:
            add(f"{m['id']} trend", partial(trend_case, service, m, rules, settings))
        if m["anomaly"]:
            add(f"{m['id']} anomaly", partial(anomaly_case, service, m, rules, settings))
        if m["absent"]:
            add(f"{m['id']} absent", partial(absent_case, service, m, rules, settings))
    for slo in service["slos"]:
        add(f"SLO {slo['name']}", partial(slo_case, service, slo, rules, settings))
        calm = slo_calm_case(service, slo, rules, settings)
        if calm is not None:
            cases.append(calm)
    doc = {
        "rule_files": [rule_file],
        "evaluation_interval": settings["evaluation_interval"],
        "tests": pack(cases, settings["evaluation_interval_seconds"]),
    }
    return doc, skipped


def _fmt(metric: Metric, x: float) -> str:
    return humanize(metric["humanize"], x)
