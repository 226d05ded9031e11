"""`vigil suggest thresholds`: warning, critical, `for` and anomaly sensitivity learned from history.

For each key metric of one service, the metric's expression (every recording rule it reads
expanded to raw series, as `vigil backtest` does) is evaluated over the range with range queries
at the catalog's evaluation interval, and the values of every series it returns are pooled. The
proposal, worked out on the metric's bad side (values above for `direction: above`, below for
`below`), assumes the range was normal operation:

- warning: just beyond the worst value the range reached, by a tenth of its distance from the
  median, and at least median + 8 robust standard deviations (1.4826 x the median absolute
  deviation): the range itself would not have warned, and a noisy metric gets room;
- warning `for`: how long the range's normal excursions last (the median time it spent beyond its
  own 99th percentile, per excursion), plus one evaluation interval: a blip as long as the usual
  ones does not page, one that outlasts them does;
- critical: twice as far from the median as the warning, `for` one evaluation interval: far
  beyond anything seen, it pages at once;
- anomaly sensitivity: the 99th percentile of |z| against the range's own mean and standard
  deviation (the baseline the anomaly alert would have seen), rounded up to 0.5, at least 3.

The constants were chosen on the Numenta Anomaly Benchmark (bench/detection.py, as NAB tunes its
detectors' thresholds on the corpus); the values for a series come from its own range only.
Numbers are rounded to three significant digits away from the normal range. The result is the
`metrics:` fragment of the service file, in the catalog's own notation (5%, 300ms, 512MiB).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from vigil import layout, units
from vigil.backtest.client import MAX_POINTS, BacktestAPI
from vigil.backtest.expand import Expander, records_of
from vigil.backtest.rules import chosen, rule_files
from vigil.backtest.timespec import format_time
from vigil.errors import NoDataError, VigilError
from vigil.model import Metric, Model
from vigil.render.cache import Cache

MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution times this is its standard deviation
WARNING_SIGMAS = 8.0
WARNING_MARGIN = 0.1  # beyond the worst value, as a share of its distance from the median
CRITICAL_FACTOR = 2.0  # the critical is this many times as far from the median as the warning
EDGE_QUANTILE = 0.99  # beyond it a value is on an excursion
SENSITIVITY_QUANTILE = 0.99
MIN_SENSITIVITY = 3.0


@dataclass(frozen=True)
class Suggestion:
    """One key metric's proposal and the statistics it came from (values in base units)."""

    metric: str
    unit: str
    direction: str
    expr: str  # the raw expression that was evaluated
    series: int
    samples: int
    median: float
    sigma: float  # robust: 1.4826 x MAD
    quantile: float  # the 99th percentile on the bad side: the edge of the normal range
    worst: float
    warning: float
    critical: float
    for_seconds: float  # the warning's
    critical_for_seconds: float
    excursion_seconds: float  # the median time an excursion beyond the 99th percentile lasted
    sensitivity: float

    def json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "unit": self.unit,
            "direction": self.direction,
            "expr": self.expr,
            "series": self.series,
            "samples": self.samples,
            "median": self.median,
            "sigma": self.sigma,
            "quantile_99": self.quantile,
            "worst": self.worst,
            "warning": self.warning,
            "critical": self.critical,
            "for_seconds": self.for_seconds,
            "critical_for_seconds": self.critical_for_seconds,
            "excursion_seconds": self.excursion_seconds,
            "anomaly_sensitivity": self.sensitivity,
        }


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between closest ranks (numpy's default)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def round_away(x: float, digits: int = 3) -> float:
    """x rounded up to `digits` significant digits (up: away from the normal range, on the bad side)."""
    if x == 0 or not math.isfinite(x):
        return x
    scale = 10 ** (math.floor(math.log10(abs(x))) - digits + 1)
    return round(math.ceil(round(x / scale, 9)) * scale, 12)


def robust_sigma(values: Sequence[float], median: float) -> float:
    """1.4826 x MAD; when more than half the values are equal (MAD 0), the spread of the rest."""
    mad = statistics.median(abs(v - median) for v in values)
    if mad > 0:
        return MAD_TO_SIGMA * mad
    spread = statistics.pstdev(values)
    if spread > 0:
        return spread
    return max(abs(median) * 0.01, 1e-9)  # a constant metric: a 1% band, not a zero-width one


def excursions(times: Sequence[float], beyond: Sequence[bool], step: float) -> list[float]:
    """How long (seconds, first to last point) each run of consecutive steps beyond lasted."""
    out: list[float] = []
    start: float | None = None
    previous: float | None = None
    for t, flag in zip(times, beyond):
        if flag and start is not None and previous is not None and t - previous <= step * 1.5:
            previous = t
            continue
        if start is not None and previous is not None:
            out.append(previous - start)
        start = previous = t if flag else None
    if start is not None and previous is not None:
        out.append(previous - start)
    return out


def suggest(
    metric: str,
    unit: str,
    direction: str,
    expr: str,
    series: Sequence[tuple[Sequence[float], Sequence[float]]],
    step: float,
) -> Suggestion:
    """The proposal for one metric from its series' (times, values) over the range."""
    sign = 1.0 if direction == "above" else -1.0
    bad = [sign * v for _, values in series for v in values if math.isfinite(v)]
    ordered = sorted(bad)
    median = statistics.median(ordered)
    sigma = robust_sigma(ordered, median)
    high = quantile(ordered, EDGE_QUANTILE)
    worst = ordered[-1]
    warning = round_away(max(worst + WARNING_MARGIN * (worst - median), median + WARNING_SIGMAS * sigma))
    critical = round_away(median + CRITICAL_FACTOR * (warning - median))
    runs = [d for times, values in series for d in excursions(times, [sign * v > high for v in values], step)]
    excursion = statistics.median(runs) if runs else 0.0
    for_seconds = math.ceil((excursion + step) / step) * step
    mean = statistics.fmean(bad)
    sd = statistics.pstdev(bad)
    z = sorted(abs(v - mean) / sd for v in bad) if sd > 0 else [0.0]
    sensitivity = max(MIN_SENSITIVITY, math.ceil(quantile(z, SENSITIVITY_QUANTILE) * 2) / 2)
    return Suggestion(
        metric=metric,
        unit=unit,
        direction=direction,
        expr=expr,
        series=len(series),
        samples=len(bad),
        median=sign * median,
        sigma=sigma,
        quantile=sign * high,
        worst=sign * worst,
        warning=sign * warning,
        critical=sign * critical,
        for_seconds=for_seconds,
        critical_for_seconds=step,
        excursion_seconds=excursion,
        sensitivity=sensitivity,
    )


def raw_expressions(model: Model, service: str) -> list[tuple[Metric, str]]:
    """Each key metric of the service with its expression expanded down to raw series."""
    sub = chosen(model, [service])
    files = rule_files(sub, Cache(None))
    default = model["settings"]["evaluation_interval_seconds"]
    expander = Expander(records_of(files, default))
    path = layout.rule_file(service)
    (svc,) = sub["services"]
    return [(m, expander.expand(m["expr"], path, f"{path}: key metric {m['id']}", default)) for m in svc["metrics"]]


def fetch(api: BacktestAPI, expr: str, start: float, end: float, step: float) -> list[tuple[list[float], list[float]]]:
    """The expression's series over [start, end], split so no query asks for more than MAX_POINTS steps."""
    by_labels: dict[tuple[tuple[str, str], ...], tuple[list[float], list[float]]] = {}
    first = math.ceil(start / step) * step
    while first <= end:
        last = min(end, first + (MAX_POINTS - 1) * step)
        for s in api.query_range_post(expr, first, last, step):
            times, values = by_labels.setdefault(tuple(sorted(s.labels.items())), ([], []))
            times.extend(s.times)
            values.extend(s.values)
        first = last + step
    return [by_labels[k] for k in sorted(by_labels)]


def suggest_service(
    model: Model, service: str, api: BacktestAPI, start: float, end: float, step: float | None = None
) -> list[Suggestion]:
    """A proposal for every key metric of the service, learned from [start, end] in the Prometheus."""
    if end <= start:
        raise VigilError("--to must be after --from")
    step = step or model["settings"]["evaluation_interval_seconds"]
    out = []
    empty = []
    for m, expr in raw_expressions(model, service):
        series = [(t, v) for t, v in fetch(api, expr, start, end, step) if any(math.isfinite(x) for x in v)]
        if not series:
            empty.append(f"{m['id']} ({expr})")
            continue
        out.append(suggest(m["id"], m["unit"], m["direction"], expr, series, step))
    if empty:
        raise NoDataError(
            f"service {service}: no data between {format_time(start)} and {format_time(end)} at {api.url} "
            f"for key metric(s) {'; '.join(empty)}"
        )
    if not out:
        raise NoDataError(f"service {service} has no key metric to learn thresholds for")
    return out


def _quantity(x: float, unit: str) -> str | float:
    text = units.format_quantity(x, unit)
    try:
        return float(text) if unit == "count" else text
    except ValueError:
        return text


def to_yaml(service: str, url: str, start: float, end: float, suggestions: Sequence[Suggestion]) -> str:
    """The `metrics:` fragment to paste into catalog/services/<service>.yaml, with where it came from."""
    lines = [
        f"# vigil suggest thresholds for {service}: learned from {url}",
        f"# over {format_time(start)} .. {format_time(end)}; assumes that range was normal operation.",
    ]
    metrics: dict[str, Any] = {}
    for s in suggestions:
        q = lambda x, u=s.unit: units.format_quantity(x, u)
        lines.append(
            f"# {s.metric}: {s.samples} samples of {s.series} series; median {q(s.median)}, robust sigma "
            f"{q(s.sigma)}, 99th percentile {q(s.quantile)}, worst {q(s.worst)}; excursions beyond the 99th "
            f"percentile last {units.format_duration(s.excursion_seconds)} (median)"
        )
        metrics[s.metric] = {
            "warning": _quantity(s.warning, s.unit),
            "critical": _quantity(s.critical, s.unit),
            "for": {
                "warning": units.format_duration(s.for_seconds),
                "critical": units.format_duration(s.critical_for_seconds),
            },
            "anomaly": {"sensitivity": s.sensitivity},
        }
    body = yaml.safe_dump({"metrics": metrics}, sort_keys=True, default_flow_style=False)
    return "\n".join(lines) + "\n" + body
