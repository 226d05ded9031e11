"""Timelines whose asserted values every rule engine computes alike.

The generated tests run under promtool 2.x, promtool 3.x and `vmalert-tool unittest`, and an
alert assertion compares the rendered annotations exactly. The engines agree on steady values but
not on values that are still moving:

- Prometheus 3 selects ranges left-open, `(t-w, t]`: a rate sees one increment fewer than under
  Prometheus 2 (and extrapolates), an `*_over_time` one sample fewer;
- vmalert persists recording rule results asynchronously, so an alert reads the record of the
  previous evaluation (a chain record → record → alert lags two evaluations); vmalert-tool does
  the same.

So a value shown in an annotation must be the same under every one of these variants: either the
series behind it are steady over every variant of its window, or it moves so slowly that the
variants round to the same four significant digits (Go's %.4g, which the humanize functions use).
This module simulates the variants and searches such timelines; testcases.py builds the cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vigil.model import Metric
from vigil.render.simulate import humanize, observed

# How many evaluations an engine can lag behind Prometheus 2 on a chain of two records.
LAG = 2


def same_text(fn: str, values: Iterable[float]) -> bool:
    """True when every value, and values a hair beyond the extremes, render to one text: float
    noise or an engine's variant cannot change the annotation."""
    vs = list(values)
    lo, hi = min(vs), max(vs)
    pad = 1e-7 * max(abs(lo), abs(hi))
    return len({humanize(fn, v) for v in (lo - pad, lo, hi, hi + pad)}) == 1


# ------------------------------------------------------------------ windows, as each engine reads them
def record_variants(metric: Metric, xs: list[float | None], k: int, n: int) -> list[float]:
    """The metric's record at step k as the engines compute it: the window of Prometheus 2 and the
    left-open window (one sample or increment fewer) of Prometheus 3 and VictoriaMetrics."""
    windowed = (
        isinstance(metric["test"], dict) or any(s["type"] == "counter" for s in metric["test"]) or "[" in metric["expr"]
    )
    sizes = (n, max(1, n - 1)) if windowed else (n,)
    return [observed(metric["test"], metric["expr"], xs, k, size) for size in sizes]


def predictions(
    metric: Metric,
    xs: list[float | None],
    k: int,
    n: int,
    tw: int,
    within: float,
    first: int,
    lags: Iterable[int] = range(LAG + 1),
) -> list[float]:
    """predict_linear(record[tw], within) at step k under every variant: the record's window, the
    trend window left-open, and the alert reading a record `lag` evaluations old."""
    out = []
    for lag in lags:
        j = k - lag
        windowed = len(record_variants(metric, xs, j, n))
        for variant in range(windowed):
            for span in (tw, tw - 1):
                pts = [(i - j, record_variants(metric, xs, i, n)[variant]) for i in range(max(first, j - span), j + 1)]
                out.append(_fit(pts, within))
    return out


def _fit(pts: list[tuple[int, float]], within: float) -> float:
    """Least squares through pts (step offset from the evaluation, value), read `within` steps on."""
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return my - slope * mx + slope * within


class _Sums:
    """Prefix sums of a timeline that only grows by appending, so that each window's mean costs
    O(1): the SLO planner asks for thousands of windows (a 3d window is 8640 steps at 30s)."""

    def __init__(self, xs: list[float | None]):
        self.xs = xs
        self.total = [0.0]
        self.count = [0]

    def mean(self, lo: int, hi: int) -> float | None:
        """The mean of the values in xs[lo:hi] (None: there are none)."""
        for x in self.xs[len(self.total) - 1 :]:
            self.total.append(self.total[-1] + (x or 0.0))
            self.count.append(self.count[-1] + (x is not None))
        n = self.count[hi] - self.count[lo]
        return (self.total[hi] - self.total[lo]) / n if n else None


_SUMS: dict[int, _Sums] = {}


def _sums(xs: list[float | None]) -> _Sums:
    found = _SUMS.get(id(xs))
    if found is None or found.xs is not xs:
        if len(_SUMS) > 64:  # the planner works on a few timelines at a time
            _SUMS.clear()
        found = _SUMS[id(xs)] = _Sums(xs)
    return found


def sli_variants(xs: list[float | None], k: int, n: int) -> list[float]:
    """An SLI error ratio over n steps at step k under every variant: errors/total of the rates,
    which for a fixture linear in x is the mean of x over the increments in the window (or over
    all data, when there is less)."""
    out = []
    sums = _sums(xs)
    for lag in range(2):  # the SLO alerts read records of the raw series: one evaluation of lag
        for size in (n, n - 1):
            j = k - lag
            lo, hi = max(1, j - size + 1), min(j + 1, len(xs))
            mean = sums.mean(lo, hi) if lo < hi else None
            if mean is not None:
                out.append(mean)
    return out


# ------------------------------------------------------------------ trend
@dataclass(frozen=True)
class TrendPlan:
    xs: list[float | None]
    k: int  # the step at which the alert is asserted firing
    predicted: float  # the value its annotation shows
    flat_len: int  # steps of flat line before the climb (0: none, a case of its own shows it)


def trend_plan(
    metric: Metric, crit: float, flat: float, flat_len: int, first: int, n: int, tw: int, tf: int, within: float
) -> TrendPlan | None:
    """A slow creep that stays short of crit while its prediction is past crit for all of `for`
    (after the flat line just short of the first threshold and a short climb, for a windowed record).

    Every engine fits the same straight line through the creep; its slope is small enough that
    reading that line one or two evaluations late does not change the four digits the annotation
    shows.
    """
    up = metric["direction"] == "above"
    sign = 1.0 if up else -1.0
    beyond: Callable[[float], bool] = (lambda v: v > crit) if up else (lambda v: v < crit)
    room = within - tf - n - 4  # steps of creep the prediction looks ahead beyond `for`
    if room <= 0:
        return None
    windowed = len(record_variants(metric, [flat] * (n + 2), n + 1, n)) > 1
    scale = abs(crit) or abs(crit - flat)
    # A plain gauge's record is x itself: a creep from the first sample puts every record on one
    # line, whatever the trend window, and the flat line is shown silent by a case of its own.
    # A windowed record only joins the line once its window is full: the creep follows the flat
    # line and a short climb, and lasts longer than the record's and the trend's windows, so
    # that the fit shown sees the creep alone (the fits read during `for` may still see the
    # climb: a steeper fit, a prediction further past crit).
    creeps = [tf + LAG + 6] if not windowed else [n + tw + extra + LAG + 4 for extra in (0, tf)]
    for creep, eps in ((c, e) for c in creeps for e in (2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5)):
        gap = eps * scale  # how far x still is from crit at the assertion
        slope = sign * 1.5 * gap / room  # the prediction is past crit for all of `for`
        end = crit - sign * gap
        start = end - slope * creep
        if not windowed:
            xs: list[float | None] = [start + slope * i for i in range(creep + 1)]
        elif (start - flat) * sign <= 0:
            return None  # the creep would start below the flat line: no climb left to show
        else:
            climb = max(3, n)
            xs = [  # one display, not list + list: a list[float] sum is not a list[float | None]
                *([flat] * flat_len),
                *(flat + (start - flat) * (i + 1) / climb for i in range(climb)),
                *(start + slope * (i + 1) for i in range(creep)),
            ]
        k = len(xs) - 1
        held = all(
            beyond(p) for j in range(k - tf - LAG - 1, k + 1) for p in predictions(metric, xs, j, n, tw, within, first)
        )
        short = not any(beyond(v) for v in record_variants(metric, xs, k, n))
        shown = predictions(metric, xs, k, n, tw, within, first)
        if held and short and same_text(metric["humanize"], shown):
            return TrendPlan(
                xs, k, predictions(metric, xs, k, n, tw, within, first, lags=(0,))[0], flat_len if windowed else 0
            )
    return None


# ------------------------------------------------------------------ SLO burn
@dataclass(frozen=True)
class Condition:
    short: int  # steps
    long: int
    threshold: float


@dataclass(frozen=True)
class BurnAlert:
    conditions: tuple[Condition, ...]
    for_steps: int


@dataclass(frozen=True)
class SloPlan:
    xs: list[float | None]
    page_alone: int  # step at which the page fires and the ticket is still pending
    both: int  # step at which both fire, each on its first condition
    burn: float


def _holds(xs: list[float | None], k: int, cond: Condition, margin: float) -> bool | None:
    """True/False when every engine variant agrees that the condition holds/fails at k with a
    margin, None when they might not."""
    shorts, longs = sli_variants(xs, k, cond.short), sli_variants(xs, k, cond.long)
    if len(shorts) < 4 or len(longs) < 4:
        return None  # no rate yet on some engine
    if all(v > cond.threshold * (1 + margin) for v in shorts + longs):
        return True
    if any(v < cond.threshold * (1 - margin) for v in shorts) or any(v < cond.threshold * (1 - margin) for v in longs):
        return False
    return None


def _firing(xs: list[float | None], k: int, alert: BurnAlert) -> bool:
    """Surely firing at k: its first condition surely held for all of `for` and a lag."""
    return all(_holds(xs, j, alert.conditions[0], 0.02) is True for j in range(k - alert.for_steps - LAG, k + 1))


def _not_firing(xs: list[float | None], k: int, alert: BurnAlert) -> bool:
    """Surely not firing at k: some step within the last `for` (less a margin) had every
    condition surely failing."""
    return any(
        all(_holds(xs, j, c, 0.02) is False for c in alert.conditions) for j in range(k - alert.for_steps + 2, k + 1)
    )


def _steady(xs: list[float | None], k: int, steps: int) -> bool:
    """x is constant over every variant of a window of `steps` increments ending at k."""
    if k - steps - LAG < 1:
        return False  # the window reaches back before the first increment
    return len(set(xs[k - steps - LAG : k + 1])) == 1


def slo_plan(budget: float, page: BurnAlert, ticket: BurnAlert, burns: list[float], fn: str) -> SloPlan | None:
    """Half the budget rate for a few steps, then a steady burn: the page fires on its first
    condition while the ticket is still pending (its `for` is longer), and later both fire once
    the ticket's first short window holds nothing but the burn.

    At both checks the value shown is a short window full of the burn, the same under every engine.
    The few calm steps keep the other conditions' short windows below the burn, so a broken first
    condition that a later one masks shows a different value, and the test fails.
    """
    calm = 0.5 * budget
    for burn in burns:
        for calm_len in range(30, 1, -1):
            xs: list[float | None] = [calm] * calm_len
            page_at = None
            while len(xs) < calm_len + 4 * ticket.for_steps + page.conditions[0].short + LAG + 4:
                xs.append(burn)
                k = len(xs) - 1
                if _steady(xs, k, page.conditions[0].short) and _firing(xs, k, page) and _not_firing(xs, k, ticket):
                    page_at = k
                    break
            if page_at is None or not _distinct(xs, page_at, page, burn, fn):
                continue
            both = calm_len + ticket.conditions[0].short + LAG + 2
            xs = xs + [burn] * (both + 1 - len(xs))
            if _firing(xs, both, page) and _firing(xs, both, ticket) and _steady(xs, both, ticket.conditions[0].short):
                return SloPlan(xs, page_at, both, burn)
    return None


def _distinct(xs: list[float | None], k: int, alert: BurnAlert, burn: float, fn: str) -> bool:
    """The other conditions' short windows show a different text than the burn."""
    shown = humanize(fn, burn)
    return all(humanize(fn, v) != shown for c in alert.conditions[1:] for v in sli_variants(xs, k, c.short))
