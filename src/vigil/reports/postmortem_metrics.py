"""The key metrics of an incident's window, as a postmortem draft reads them from Prometheus.

Each key metric's expression (raw series, as the model writes it) is queried over the window and
over a stretch of the same length just before it (its "before"). A metric *left its normal range*
at the first step where it was past its warning threshold, outside its anomaly band, or projected
past its critical threshold by its trend:

- the anomaly band is the before stretch's mean ± the catalog's sensitivity × its standard
  deviation (not the live 7d baseline, which backfilled or older history rarely has recorded);
- the trend is predict_linear's least-squares line over the trend's window, `within` ahead,
  computed here over the fetched points.

Where a metric returns several series (`by:`), the worst one at each step counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vigil.model import Metric, Service
from vigil.prometheus_api import PrometheusAPI, QueryError, Series
from vigil.units import parse_duration

MAX_POINTS = 10000  # per query: Prometheus refuses more than 11,000
# Where the before stretch has no spread (a steady gauge), the band is this share of its mean wide:
# otherwise any wiggle would be an "anomaly".
MIN_SPREAD = 0.01
# Words in a key metric's id that make it a connection failure point of middleware.
CONNECTION_WORDS = ("connection", "pool", "circuit", "queue", "evict", "client", "consumer", "redeliver", "lag")


@dataclass
class MetricFacts:
    service: str
    metric: Metric
    times: list[float] = field(default_factory=list)  # the window, unix seconds
    values: list[float] = field(default_factory=list)  # the worst series at each step
    before: float | None = None  # the median of the before stretch
    worst: float | None = None
    worst_at: float | None = None
    after: float | None = None  # the last value of the window
    band: tuple[float, float] | None = None
    left_at: float | None = None  # first step outside its normal range
    onset: float | None = None  # when the excursion that left it began (see onset())
    why: str = ""  # past warning 0.5% | outside its anomaly band | trending past critical 90%
    crossed: dict[str, float] = field(default_factory=dict)  # severity → first step past that threshold
    error: str = ""  # a query Prometheus refused

    @property
    def anomalous(self) -> bool:
        return self.left_at is not None

    @property
    def connection_point(self) -> bool:
        return any(w in self.metric["id"] for w in CONNECTION_WORDS)

    @property
    def customer_symptom(self) -> bool:
        """An error ratio or a latency: what a customer of the service sees."""
        return self.metric["id"].startswith(("error_ratio", "latency"))

    def moved(self) -> float | None:
        """How far the worst value is from the before, as a share of the before (None: unknown)."""
        if self.before is None or self.worst is None:
            return None
        return abs(self.worst - self.before) / (abs(self.before) or 1.0)


def step_for(settings_scrape: float, settings_eval: float, start: float, end: float) -> float:
    """A quarter of the finer of the scrape and evaluation intervals, so the draft places events
    within an interval, but never more than MAX_POINTS points per query."""
    return max(min(settings_scrape, settings_eval) / 4, (end - start) / MAX_POINTS, 0.05)


def _worst(series: list[Series], above: bool) -> tuple[np.ndarray, np.ndarray]:
    by_time: dict[float, float] = {}
    for s in series:
        for t, v in zip(s.times, s.values):
            if math.isnan(v):
                continue
            have = by_time.get(t)
            by_time[t] = v if have is None else (max(have, v) if above else min(have, v))
    times = sorted(by_time)
    return np.array(times, dtype=float), np.array([by_time[t] for t in times], dtype=float)


def projection(times: np.ndarray, values: np.ndarray, window: float, ahead: float) -> np.ndarray:
    """predict_linear(x[window], ahead) at each point: the least-squares line of the points in the
    trailing window, evaluated `ahead` seconds later (NaN with fewer than two points)."""
    out = np.full(len(times), np.nan)
    if len(times) < 2:
        return out
    t0 = times[0]
    t = times - t0
    cs = [np.concatenate(([0.0], np.cumsum(a))) for a in (np.ones_like(t), t, values, t * t, t * values)]
    lo = np.searchsorted(times, times - window, side="left")
    hi = np.arange(1, len(times) + 1)
    n, st, sv, stt, stv = (c[hi] - c[lo] for c in cs)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = n * stt - st * st
        slope = (n * stv - st * sv) / denom
        intercept = (sv - slope * st) / n
        out = intercept + slope * (t + ahead)
    out[(n < 2) | (denom == 0)] = np.nan
    return out


def first_lasting(times: np.ndarray, mask: np.ndarray, hold: float) -> float | None:
    """The start of the first run of True that lasts `hold` seconds, or reaches the last point."""
    start: float | None = None
    for t, hit in zip(times.tolist(), mask.tolist()):
        if not hit:
            start = None
            continue
        start = t if start is None else start
        if t - start >= hold:
            return start
    return start


def _past(values: np.ndarray, threshold: float, above: bool) -> np.ndarray:
    return values > threshold if above else values < threshold


def read(api: PrometheusAPI, service: Service, metric: Metric, start: float, end: float, step: float) -> MetricFacts:
    facts = MetricFacts(service["name"], metric)
    above = metric["direction"] == "above"
    span = end - start
    # The band also needs the series to have existed for one rate window before the before stretch:
    # rate() over a window a new series does not fill yet climbs for that long (a young stack).
    settle = parse_duration(metric["window"])
    try:
        series = api.query_range(metric["expr"], start - span - settle, end, step)
    except QueryError as e:
        facts.error = str(e)
        return facts
    times, values = _worst(series, above)
    inside = times >= start
    settled = len(values[times < start - span]) >= 0.8 * settle / step
    before_v = values[~inside & (times >= start - span)]
    times_w, values_w = times[inside], values[inside]
    facts.times, facts.values = times_w.tolist(), values_w.tolist()
    if len(before_v):
        facts.before = float(np.median(before_v))
    if not len(values_w):
        return facts
    i = int(np.argmax(values_w) if above else np.argmin(values_w))
    facts.worst, facts.worst_at, facts.after = float(values_w[i]), float(times_w[i]), float(values_w[-1])

    # A crossing counts once it lasts the alert's `for` (at most a quarter of the window): a blip
    # of noise is not where an incident began, just as it would not have fired the alert.
    def first(mask: np.ndarray, hold: float) -> float | None:
        return first_lasting(times_w, mask, min(hold, span / 4))

    reasons: list[tuple[float, str]] = []
    for th in metric["thresholds"]:
        at = first(_past(values_w, th["value"], above), th["for_seconds"])
        if at is not None:
            facts.crossed[th["severity"]] = at
            if th is metric["thresholds"][0]:
                reasons.append((at, f"past {th['severity']} {th['text']}"))
    anomaly = metric["anomaly"]
    # The band needs a before stretch that was scraped most of the time, of a settled series: a
    # young stack's first minutes (counters just born, rate windows not yet full) are no normal.
    if anomaly and settled and len(before_v) >= 0.8 * span / step:
        mid = float(np.median(before_v))
        spread = 1.4826 * float(np.median(np.abs(before_v - mid)))  # the MAD, as a standard deviation
        width = anomaly["sensitivity"] * max(spread, MIN_SPREAD * abs(mid))
        facts.band = (mid - width, mid + width)
        # Only in the metric's direction, as its anomaly alert: a quiet error ratio is no incident.
        at = first(values_w > facts.band[1] if above else values_w < facts.band[0], anomaly["for_seconds"])
        if at is not None:
            reasons.append((at, f"outside its anomaly band (before: {_band_text(facts.band)})"))
    trend = metric["trend"]
    if trend and metric["thresholds"]:
        target = metric["thresholds"][-1]
        projected = projection(times, values, parse_duration(trend["window"]), trend["within_seconds"])[inside]
        at = first(
            _past(projected, target["value"], above) & ~_past(values_w, target["value"], above), trend["for_seconds"]
        )
        if at is not None:
            reasons.append((at, f"trending past {target['severity']} {target['text']} within {trend['within']}"))
    if reasons:
        facts.left_at, facts.why = min(reasons)
        level = facts.before if facts.before is not None else float(values_w[0])
        facts.onset = onset(times_w, values_w, int(np.searchsorted(times_w, facts.left_at)), level, above, settle)
    return facts


def onset(times: np.ndarray, values: np.ndarray, c: int, level: float, above: bool, settle: float) -> float:
    """When the excursion that left the normal range at index c began: the line through the change
    that brought values[c] and the next two (each scrape changes a value; a rate over a window rises
    linearly after a step), extrapolated back to the level before. No later than the change itself,
    no earlier than the last point at that level or one rate window before the change (a step shows
    within one window), whichever is earlier: a slow climb can take longer than a window."""
    k0 = next((i for i in range(c, 0, -1) if values[i] != values[i - 1]), 0)
    changes = [k0] + [i for i in range(k0 + 1, len(values)) if values[i] != values[i - 1]][:2]
    first = float(times[k0])
    if k0 == 0 or len(changes) < 2:
        return first
    slope, intercept = np.polyfit(times[changes] - first, values[changes], 1)
    if slope == 0 or (slope > 0) != above:
        return first
    j = c - 1
    while j > 0 and (values[j] > level if above else values[j] < level):
        j -= 1
    lowest = min(first - settle, float(times[max(j, 0)]))
    return float(min(max(first + (level - intercept) / slope, lowest), first))


def _band_text(band: tuple[float, float]) -> str:
    return f"{band[0]:.4g} – {band[1]:.4g}"


def read_service(api: PrometheusAPI, service: Service, start: float, end: float, step: float) -> list[MetricFacts]:
    return [read(api, service, m, start, end, step) for m in service["metrics"]]
