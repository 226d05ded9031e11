"""What `vigil drill` aims at for each alert kind, the short timings it writes for that alert, and
the floor of its detection latency. Pure functions of the resolved model and of the demo
exporter's fault shapes (stack/demo_metrics.py); no network, no processes.

Kinds (`--kind`):

- **threshold** (the default): the key metric's threshold alert, critical first (or ServiceDown for
  `dead`). Written: `for: 5s` and a 15s rate window for that metric. Floor: scrape + evaluation +
  `for` + group_wait, plus, for a ramped fault (memory_leak), the time its ramp needs to reach the
  threshold.
- **trend**: the key metric's `predict_linear` alert. The drill compresses the alert's time axis:
  its regression window becomes 10s and its horizon (`within`) keeps the catalog's within/window
  ratio (checkout: 2h ahead from 1h → 20s ahead from 10s), `for: 5s`. A time-compressed alert fires
  on a time-compressed signal exactly when the original fires on the original, so the alert keeps
  its shape and its threshold. Floor: scrape + evaluation + projection + `for` + group_wait, where
  *projection* is the first moment the least-squares line through the window's samples (one per
  evaluation), extrapolated `within` ahead, crosses the critical threshold while the value itself
  has not (the alert's condition), computed on the exporter's ramp (demo_metrics.LEAK, linear in
  the fault's severity, which demo_exporter.Fault.severity ramps over `ramp` seconds). The
  samples are taken unlagged: the lag of scraping and evaluating is the scrape and evaluation
  parts. A longer ramp (a slower leak) or a shorter `within` moves the crossing later; the drill
  refuses a trend whose condition cannot hold for `for` before the value crosses the threshold.
- **slo**: the page (critical burn-rate alert) of the SLO whose SLI the fault breaks (error_spike →
  availability, latency → latency). Every page window is divided by SLO_SCALE (5m/1h and 30m/6h →
  2.5s/30s and 15s/3m), factors kept (factor × budget is the alert's threshold), `for: 5s`. Floor:
  scrape + evaluation + burn + `for` + group_wait, where *burn* is the time the error ratio of a
  clean window of length w needs to exceed factor × budget b once the bad share jumps from r0 to r1:
  w × (factor × b − r0) / (r1 − r0) (≈ factor × b × w / r1 when r0 is small), the longer of a pair's
  two windows, the quickest pair. The drill makes sure the windows are clean (run_drill waits until
  they hold no earlier fault).

Thresholds, factors and objectives are always the catalog's; only durations are shortened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import VigilError
from vigil.model import Metric, Model, Service, Slo
from vigil.render.alertmanager import service_alerts
from vigil.units import format_duration, format_quantity, parse_duration

KINDS = ("threshold", "trend", "slo")
FOR_S, GROUP_WAIT_S, WINDOW = 5.0, 1.0, "15s"
TREND_WINDOW_S = 10.0  # ten 1s samples: enough for a regression, short enough to see a ramp at once
SLO_SCALE = 120  # 6h → 3m: the page's longest window; the drill waits that long between runs
MIN_WINDOW_SCRAPES = 2.5  # every rate window holds at least two samples
RAMP_S = 30.0  # the drill's memory_leak climbs to full severity in 30s
# The key metric a fault shows in, by preference; `up` is the ServiceDown alert every service has.
FAULT_METRICS = {
    "error_spike": ("error_ratio", "failure_rate", "redelivery_rate", "hit_ratio", "deadlocks"),
    "latency": ("latency_p99", "replication_lag", "queue_ready"),
    "memory_leak": ("heap_usage", "memory_usage"),
    "dead": ("up",),
}
# The SLI a fault breaks in the demo's HTTP simulators (the profiles' SLI names).
FAULT_SLIS = {"error_spike": "availability", "latency": "latency"}
HTTP_PROFILES = ("http", "spring-http")


class DrillError(VigilError):
    """The drill could not run, or not every expected department was told in time."""

    exit_code = 9


@dataclass
class Target:
    kind: str  # threshold | trend | slo
    key: str  # the key metric id, the SLO name, or `up`
    labels: dict[str, str]  # the labels of the alert the drill waits for
    lookback: float = 0.0  # the longest window the alert reads (s): it must hold no earlier fault
    # The window reads a recording rule's own history (predict_linear over the record), which
    # begins when the deploy loads the rules: the window must not predate the deploy either.
    on_record: bool = False
    notes: list[str] = field(default_factory=list)


def _alerts(svc: Service) -> dict[tuple[str, str, str], dict[str, str]]:
    return {(a["key_metric"], a["severity"], a["kind"]): a for a in service_alerts(svc)}


def _metric(svc: Service, key: str) -> Metric:
    return next(m for m in svc["metrics"] if m["id"] == key)


def _slo(svc: Service, name: str) -> Slo:
    return next(s for s in svc["slos"] if s["name"] == name)


def _page(slo: Slo) -> Any:
    return next(a for a in slo["alerts"] if a["severity"] == "critical")


def _rate_window(m: Metric) -> float:
    """The metric's own window, when its expr reads one (`[5m]`); a gauge ratio reads none."""
    return parse_duration(m["window"]) if f"[{m['window']}]" in m["expr"] else 0.0


def pick(model: Model, service: str, fault: str, kind: str = "threshold") -> tuple[Service, Target]:
    """The service and the alert of `kind` that `fault` should raise on it."""
    services = {s["name"]: s for s in model["services"]}
    if service not in services:
        raise DrillError(f"no service {service} in the catalog ({', '.join(sorted(services))})")
    if kind not in KINDS:
        raise DrillError(f"unknown alert kind {kind}; choose one of {', '.join(KINDS)}")
    svc = services[service]
    alerts = _alerts(svc)
    if kind == "slo":
        sli = FAULT_SLIS.get(fault)
        slo = next((s for s in svc["slos"] if s["sli"] == sli), None)
        if sli is None:
            raise DrillError(
                f"{fault} breaks no SLI of the demo exporter (error_spike → availability, latency → latency)"
            )
        if slo is None or (slo["name"], "critical", "slo_burn") not in alerts:
            raise DrillError(f"{service} has no SLO on the {sli} SLI, which is what {fault} breaks")
        windows = [parse_duration(w[k]) for w in _page(slo)["windows"] for k in ("short", "long")]
        return svc, Target(kind, slo["name"], alerts[(slo["name"], "critical", "slo_burn")], max(windows))
    for key in FAULT_METRICS[fault]:
        if kind == "threshold" and key == "up":
            return svc, Target(kind, key, alerts[("up", "critical", "absent")])
        metric = next((m for m in svc["metrics"] if m["id"] == key), None)
        if metric is None:
            continue
        if kind == "trend" and (key, "warning", "trend") in alerts:
            lookback = parse_duration(metric["trend"]["window"]) + _rate_window(metric)  # type: ignore[index]
            return svc, Target(kind, key, alerts[(key, "warning", "trend")], lookback, on_record=True)
        for severity in ("critical", "warning"):
            if kind == "threshold" and (key, severity, "threshold") in alerts:
                return svc, Target(kind, key, alerts[(key, severity, "threshold")], _rate_window(metric))
    raise DrillError(
        f"{service} has no {kind} alert on a key metric that {fault} shows in "
        f"(looked for {', '.join(FAULT_METRICS[fault])})"
    )


# --- the short timings ------------------------------------------------------------------------------


def overrides(kind: str, key: str, source: Service | None, scrape: float = 1.0) -> dict[str, Any]:
    """The fields the drill catalog writes for the drilled alert: into `metrics.<key>` for the
    threshold and trend kinds, into the SLO entry named `key` for the slo kind. `source` is the
    service resolved from the original catalog (the trend and slo timings scale its own)."""
    if kind == "threshold":
        return {"for": f"{FOR_S:g}s", "window": WINDOW}
    assert source is not None, "the trend and slo kinds scale the catalog's own timings"
    if kind == "trend":
        trend = _metric(source, key)["trend"]
        assert trend is not None
        ratio = trend["within_seconds"] / parse_duration(trend["window"])
        return {
            "trend": {
                "within": format_duration(TREND_WINDOW_S * ratio),
                "window": format_duration(TREND_WINDOW_S),
                "for": f"{FOR_S:g}s",
            }
        }
    least = MIN_WINDOW_SCRAPES * scrape

    def short(w: str) -> str:
        return format_duration(max(parse_duration(w) / SLO_SCALE, least))

    windows = [
        {"short": short(w["short"]), "long": short(w["long"]), "factor": w["factor"]}
        for w in _page(_slo(source, key))["windows"]
    ]
    return {"page": {"for": f"{FOR_S:g}s", "windows": windows}}


# --- the floor --------------------------------------------------------------------------------------


def floor_parts(svc: Service, target: Target, fault: str, settings: Any, ramp: float = RAMP_S) -> dict[str, float]:
    """The parts of the floor before group_wait (which depends on the department), from the drill
    catalog's resolved model. Appends to target.notes how each derived part was computed."""
    parts = {
        "scrape": float(settings["scrape_interval_seconds"]),
        "evaluation": float(settings["evaluation_interval_seconds"]),
    }
    if target.key == "up":
        return {**parts, "for": float(svc["service_down"]["for_seconds"])}
    if target.kind == "slo":
        slo = _slo(svc, target.key)
        seconds, note = burn_time(slo, fault)
        target.notes.append(note)
        return {**parts, "burn": seconds, "for": float(_page(slo)["for_seconds"])}
    metric = _metric(svc, target.key)
    shape = _shape(metric, fault, ramp)
    if target.kind == "trend":
        if shape is None:
            raise DrillError(
                f"the demo exporter has no ramp for {metric['id']} (profile {metric['profile']}) under "
                f"{fault}; a trend drill derives its floor from one (demo_metrics.LEAK)"
            )
        seconds, note = projection_time(metric, shape, ramp, settings)
        target.notes.append(note)
        return {**parts, "projection": seconds, "for": float(metric["trend"]["for_seconds"])}  # type: ignore[index]
    threshold = next(t for t in metric["thresholds"] if t["severity"] == target.labels["severity"])
    out = dict(parts)
    if shape is not None and fault == "memory_leak":
        crossed = _first(lambda t: _beyond(shape(t), threshold["value"], metric), ramp * 2)
        if crossed is None:
            raise DrillError(f"{fault} never takes {metric['id']} beyond {threshold['text']} on the demo exporter")
        out["ramp"] = round(crossed, 2)
        target.notes.append(
            f"ramp: {metric['id']} {_ramp_text(metric, shape, ramp)}; reaches {threshold['text']} at +{crossed:.1f}s"
        )
    return {**out, "for": float(threshold["for_seconds"])}


def _shape(metric: Metric, fault: str, ramp: float) -> Callable[[float], float] | None:
    """The metric's value t seconds after the fault began, as the demo exporter plays it."""
    from vigil.stack.demo_exporter import Fault
    from vigil.stack.demo_metrics import LEAK, leaked

    # A profile included with a prefix (`host_memory_usage`) keeps the profile's id as the suffix.
    id_ = next((k for k in LEAK.get(metric["profile"], {}) if metric["id"].endswith(k)), None)
    if fault != "memory_leak" or id_ is None:
        return None
    curve = Fault(fault, 0.0, ramp)
    return lambda t: leaked(metric["profile"], id_, curve.severity(t))


def _ramp_text(metric: Metric, shape: Callable[[float], float], ramp: float) -> str:
    return (
        f"ramps {format_quantity(shape(0), metric['unit'])} → {format_quantity(shape(ramp), metric['unit'])} "
        f"over {ramp:g}s (demo exporter)"
    )


def _beyond(value: float, threshold: float, metric: Metric) -> bool:
    return value > threshold if metric["direction"] == "above" else value < threshold


def _first(cond: Callable[[float], bool], until: float, step: float = 0.01) -> float | None:
    n = 0
    while n * step <= until:
        if cond(n * step):
            return n * step
        n += 1
    return None


def predict(shape: Callable[[float], float], t: float, window: float, within: float, step: float) -> float:
    """predict_linear(v[window], within) evaluated at t, as Prometheus computes it: the least-squares
    line through the samples the range holds (one per `step`, the evaluation interval at which the
    record is written: t, t − step, ... down to t − window exclusive, as Prometheus 3 selects; 2.x
    also keeps the one at exactly t − window, which only slows the line), evaluated `within` after
    t. The samples are the signal itself, unlagged: scrape and evaluation lag are floor parts."""
    xs = [t - i * step for i in range(max(round(window / step), 2))]
    ys = [shape(x) for x in xs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my + slope * (t + within - mx)


def projection_time(metric: Metric, shape: Callable[[float], float], ramp: float, settings: Any) -> tuple[float, str]:
    """When the trend alert's condition starts to hold: projection beyond critical, value not yet."""
    trend = metric["trend"]
    assert trend is not None
    critical = next(t for t in metric["thresholds"] if t["severity"] == "critical")
    window, within = parse_duration(trend["window"]), float(trend["within_seconds"])
    step = float(settings["evaluation_interval_seconds"])

    def holds(t: float) -> bool:
        return _beyond(predict(shape, t, window, within, step), critical["value"], metric) and not _beyond(
            shape(t), critical["value"], metric
        )

    start = _first(holds, ramp + window, step=0.05)
    if start is None:
        raise DrillError(
            f"the trend alert of {metric['id']} never fires on the demo's ramp: "
            f"{_ramp_text(metric, shape, ramp)}, projected {trend['within']} ahead from {trend['window']}"
        )
    end = _first(lambda t: not holds(start + t), ramp + window, step=0.05)
    held = end if end is not None else float("inf")
    need = trend["for_seconds"] + settings["scrape_interval_seconds"] + settings["evaluation_interval_seconds"]
    if held < need:
        raise DrillError(
            f"the trend alert of {metric['id']} cannot fire: its condition holds {held:.1f}s "
            f"(the value crosses {critical['text']} first), less than for + scrape + evaluation ({need:g}s)"
        )
    lasts = f"{held:.1f}s, until the value itself crosses" if end is not None else "past the end of the ramp"
    note = (
        f"projection: {metric['id']} {_ramp_text(metric, shape, ramp)}; predict_linear over {trend['window']}, "
        f"{trend['within']} ahead (one sample per {step:g}s), first exceeds {critical['text']} at +{start:.2f}s; "
        f"the condition then holds {lasts}"
    )
    return round(start, 2), note


def bad_share(slo: Slo, fault: str, severity: float) -> float:
    """The share of requests the SLO's SLI counts as bad at this fault severity (demo exporter)."""
    from vigil.stack.demo_metrics import error_share, share_slower_than

    if slo["profile"] not in HTTP_PROFILES or FAULT_SLIS.get(fault) != slo["sli"]:
        raise DrillError(f"the demo exporter does not show {fault} in the {slo['sli']} SLI of profile {slo['profile']}")
    if slo["sli"] == "latency":
        return share_slower_than(float(slo["threshold"] or 0.0), severity)
    return error_share(severity)


def burn_time(slo: Slo, fault: str) -> tuple[float, str]:
    """Seconds until the quickest window pair of the page burns beyond its factor (clean windows)."""
    r0, r1, budget = bad_share(slo, fault, 0.0), bad_share(slo, fault, 1.0), slo["budget"]

    def accrue(window: str, factor: float) -> float:
        need = factor * budget
        if need <= r0:
            return 0.0
        return parse_duration(window) * (need - r0) / (r1 - r0) if need < r1 else float("inf")

    pairs = [(max(accrue(w["short"], w["factor"]), accrue(w["long"], w["factor"])), w) for w in _page(slo)["windows"]]
    seconds, w = min(pairs, key=lambda p: p[0])
    if seconds == float("inf"):
        raise DrillError(
            f"{fault} ({format_quantity(r1, 'ratio')} bad) can never burn {slo['name']}'s budget "
            f"{format_quantity(budget, 'ratio')} fast enough to page"
        )
    pct = lambda x: format_quantity(x, "ratio")
    others = "; ".join(
        f"{o['short']}/{o['long']} at {o['factor']:g}× would need {s:.2f}s" for s, o in pairs if o is not w
    )
    note = (
        f"burn: {slo['sli']} bad share {pct(r0)} → {pct(r1)} ({fault}, demo exporter), budget {pct(budget)}; "
        f"the {w['short']}/{w['long']} pair at {w['factor']:g}× needs {w['long']} × ({w['factor']:g} × {pct(budget)} − "
        f"{pct(r0)}) / ({pct(r1)} − {pct(r0)}) = {seconds:.2f}s in its long window" + (f" ({others})" if others else "")
    )
    return round(seconds, 2), note
