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
- critical: twice as far from the median as the warning, with the warning's `for`: a spike shorter
  than the range's usual excursions is noise however tall it is (a critical that paged on one
  evaluation cost NAB's spiky series dozens of false pages);
- keep_firing_for (both thresholds): the anomaly alert's default (2h): a metric that crosses again
  within it is still in the same incident and pages once (on NAB, +0.9 over none, bench/replica.py);
- anomaly sensitivity: the anomaly alert as it would be deployed (the metric's anomaly settings,
  else the defaults: its baseline, skip_recent, `for` and keep_firing_for) is replayed over the
  range, its z-score queried once and vigil's backtest state machine run for each candidate
  sensitivity (3, 3.5, ... 10); the proposal is the lowest that would have paged at most twice
  in the range. (The z-score against the range's own mean, used before, ignored the baseline's
  lag and `for`: it proposed 3.5 to 9.5 where 3 paged rarely, and scored 46.2 where this scores 50.)

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
from typing import Any, cast

import yaml

from vigil import layout, promql, units
from vigil.backtest.client import MAX_POINTS, BacktestAPI
from vigil.backtest.expand import Expander, records_of
from vigil.backtest.rules import chosen, rule_files
from vigil.backtest.state import replay
from vigil.backtest.timespec import format_time
from vigil.catalog.resolve import anomaly_settings, defaults
from vigil.errors import NoDataError, VigilError
from vigil.model import Anomaly, Metric, Model
from vigil.render.cache import Cache

MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution times this is its standard deviation
WARNING_SIGMAS = 8.0
WARNING_MARGIN = 0.1  # beyond the worst value, as a share of its distance from the median
CRITICAL_FACTOR = 2.0  # the critical is this many times as far from the median as the warning
EDGE_QUANTILE = 0.99  # beyond it a value is on an excursion
SENSITIVITIES = (3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0)  # the candidates, lowest first
RANGE_PAGES = 2  # the most times the proposed anomaly alert may have paged in the (normal) range
GUARD = "1e-09"  # the anomaly alert's flat-baseline guard (stddev above |avg| x this), as rendered


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
    keep_firing_for_seconds: float  # both thresholds'
    excursion_seconds: float  # the median time an excursion beyond the 99th percentile lasted
    sensitivity: float
    anomaly_pages: int | None  # how often the anomaly alert would have paged in the range at it (None: no z-score)

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
            "keep_firing_for_seconds": self.keep_firing_for_seconds,
            "excursion_seconds": self.excursion_seconds,
            "anomaly_sensitivity": self.sensitivity,
            "anomaly_pages": self.anomaly_pages,
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
    sensitivity: tuple[float, int | None] = (SENSITIVITIES[0], None),
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
        critical_for_seconds=for_seconds,
        keep_firing_for_seconds=units.parse_duration(defaults()["anomaly"]["keep_firing_for"]),
        excursion_seconds=excursion,
        sensitivity=sensitivity[0],
        anomaly_pages=sensitivity[1],
    )


def anomaly_of(metric: Metric) -> Anomaly:
    """The metric's anomaly alert as it would be deployed: its own settings, else the defaults."""
    if metric["anomaly"]:
        return metric["anomaly"]
    spec = {**defaults()["anomaly"], "sensitivity": SENSITIVITIES[0]}
    return anomaly_settings(spec, metric["record"], metric["camel"])


@dataclass(frozen=True)
class Expressions:
    """One key metric's expressions, every recording rule expanded down to raw series."""

    metric: Metric
    value: str  # the metric itself
    zscore: str  # |value - baseline avg| / baseline stddev, as the anomaly alert would compute it
    anomaly: Anomaly


def raw_expressions(model: Model, service: str) -> list[Expressions]:
    """Each key metric of the service with its value and anomaly z-score expanded down to raw series.

    Every metric is given its anomaly alert (as deployed, anomaly_of) before the rules are rendered,
    so that the baseline records exist to be expanded even for a metric without one yet."""
    sub = chosen(model, [service])
    (svc,) = sub["services"]
    with_anomaly = [cast(Metric, {**m, "anomaly": anomaly_of(m)}) for m in svc["metrics"]]
    sub = cast(Model, {**sub, "services": [{**svc, "metrics": with_anomaly}]})
    files = rule_files(sub, Cache(None))
    default = model["settings"]["evaluation_interval_seconds"]
    expander = Expander(records_of(files, default))
    path = layout.rule_file(service)
    out = []
    for m in with_anomaly:
        a = m["anomaly"]
        assert a is not None
        value, avg, sd = (promql.series(r, service) for r in (m["record"], a["avg_record"], a["stddev_record"]))
        where = f"{path}: key metric {m['id']}"
        out.append(
            Expressions(
                metric=m,
                value=expander.expand(m["expr"], path, where, default),
                zscore=expander.expand(f"abs({value} - {avg}) / ({sd} > abs({avg}) * {GUARD})", path, where, default),
                anomaly=a,
            )
        )
    return out


def sensitivity(api: BacktestAPI, e: Expressions, start: float, end: float, step: float) -> tuple[float, int | None]:
    """The anomaly sensitivity for one metric over [start, end]: its z-score queried once, then
    lowest_sensitivity; (lowest, None) without a z-score (a range shorter than skip_recent has no
    baseline yet)."""
    series = [(times, values) for times, values in fetch(api, e.zscore, start, end, step) if times]
    if not series:
        return SENSITIVITIES[0], None
    return lowest_sensitivity(series, step, e.anomaly["for_seconds"], e.anomaly["keep_firing_for_seconds"])


def lowest_sensitivity(
    series: Sequence[tuple[Sequence[float], Sequence[float]]],
    step: float,
    hold: float,
    keep: float,
    most: int = RANGE_PAGES,
) -> tuple[float, int]:
    """The lowest candidate at which an alert on `z > sensitivity` with this `for` (hold) and
    keep_firing_for would have paged at most `most` times over the series' (times, z-scores),
    and how often it would have."""
    ms = int(step * 1000)
    last = max(round(t * 1000) for times, _ in series for t in times)
    pages = 0
    for candidate in SENSITIVITIES:
        pages = 0
        for times, values in series:
            present = [round(t * 1000) for t, z in zip(times, values) if z > candidate]
            pages += len(replay((), present, ms, hold, keep, last))
        if pages <= most:
            return candidate, pages
    return SENSITIVITIES[-1], pages


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
    for e in raw_expressions(model, service):
        m = e.metric
        series = [(t, v) for t, v in fetch(api, e.value, start, end, step) if any(math.isfinite(x) for x in v)]
        if not series:
            empty.append(f"{m['id']} ({e.value})")
            continue
        chosen_sensitivity = sensitivity(api, e, start, end, step)
        out.append(suggest(m["id"], m["unit"], m["direction"], e.value, series, step, chosen_sensitivity))
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
            f"percentile last {units.format_duration(s.excursion_seconds)} (median); "
            + (
                f"anomaly alert at sensitivity {s.sensitivity:g} would have paged {s.anomaly_pages} time(s)"
                if s.anomaly_pages is not None
                else "no anomaly baseline yet in this range (shorter than skip_recent): default sensitivity"
            )
        )
        metrics[s.metric] = {
            "warning": _quantity(s.warning, s.unit),
            "critical": _quantity(s.critical, s.unit),
            "for": {
                "warning": units.format_duration(s.for_seconds),
                "critical": units.format_duration(s.critical_for_seconds),
            },
            "keep_firing_for": units.format_duration(s.keep_firing_for_seconds),
            "anomaly": {"sensitivity": s.sensitivity},
        }
    body = yaml.safe_dump({"metrics": metrics}, sort_keys=True, default_flow_style=False)
    return "\n".join(lines) + "\n" + body
