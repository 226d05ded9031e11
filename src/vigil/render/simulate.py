"""Generated `promtool test rules` cases: proof that every alert fires when it should, and not before.

For each key metric the profile's fixture (docs/profiles.md) says which raw series produce a value
`x`. A test group plays a timeline of `x` through those series, and asserts at chosen instants which
alerts of one alertname are firing, with their exact labels and annotations:

- threshold: silent just short of the threshold, then firing once `x` sits beyond it for `for`;
- trend: silent on a flat line close to the threshold, firing on a steady climb before the
  critical value is reached;
- anomaly: silent on ordinary noise, firing on a spike;
- absent: silent while the data flows, firing after it stops;
- SLO burn: silent at half the budget rate; on a fast burn the page, then page and ticket.

Expected annotation values come from a small simulation of what the recording rule sees
(`observed`), at moments where every engine sees the same (portable.py). Go's humanize functions
are reproduced exactly (`humanize`), so a wrong threshold, label or annotation in a generated rule
makes promtool fail.

All cases of one service share one test file; each case is its own test group, because the input
series of one case would disturb another.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from vigil import promql, units
from vigil.errors import RenderError
from vigil.model import Metric, Service

INSTANCE = "test-1"
_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


# ---------------------------------------------------------------- Go's humanize, as Prometheus has it
def _g4(v: float) -> str:
    """Go's fmt %.4g (which matches C's, bar the exponent's minimum two digits, which both share)."""
    return f"{v:.4g}"


def humanize(fn: str, v: float) -> str:
    if fn == "humanizePercentage":
        return _g4(v * 100) + "%"
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v) if fn != "humanizeDuration" else _g4(v) + "s"
    if fn == "humanize":
        return _si(v, 1000, ["k", "M", "G", "T", "P", "E", "Z", "Y"], ["m", "u", "n", "p", "f", "a", "z", "y"])
    if fn == "humanize1024":
        if abs(v) <= 1:
            return _g4(v)
        prefix = ""
        for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]:
            if abs(v) < 1024:
                break
            prefix, v = p, v / 1024
        return _g4(v) + prefix
    if fn == "humanizeDuration":
        return _duration(v)
    raise RenderError(f"testgen: no humanize function {fn!r}")


def _si(v: float, base: int, big: list[str], small: list[str]) -> str:
    prefix = ""
    if abs(v) >= 1:
        for p in big:
            if abs(v) < base:
                break
            prefix, v = p, v / base
    else:
        for p in small:
            if abs(v) >= 1:
                break
            prefix, v = p, v * base
    return _g4(v) + prefix


def _duration(v: float) -> str:
    if abs(v) < 1:
        prefix = ""
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"]:
            if abs(v) >= 1:
                break
            prefix, v = p, v * 1000
        return _g4(v) + prefix + "s"
    sign = "-" if v < 0 else ""
    v = abs(v)
    seconds = int(v) % 60
    minutes = int(v) // 60 % 60
    hours = int(v) // 3600 % 24
    days = int(v) // 86400
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return sign + _g4(v) + "s"


def render_template(text: str, value: float, labels: dict[str, str]) -> str:
    """Expand the small subset of Go templating that vigil's annotations use."""

    def sub(m: re.Match[str]) -> str:
        inner = m.group(1).strip()
        if inner.startswith("$labels."):
            return labels.get(inner[len("$labels.") :], "")
        vm = re.fullmatch(r"\$value \| (\w+)", inner)
        if vm:
            return humanize(vm.group(1), value)
        raise RenderError(f"testgen cannot expand template {{{{{inner}}}}}")

    return re.sub(r"\{\{(.*?)\}\}", sub, text)


# ---------------------------------------------------------------- synthetic series
@dataclass
class Series:
    name: str
    labels: dict[str, str]
    kind: str  # gauge | counter
    a: float
    b: float

    def text(self) -> str:
        return f"{self.name}{{{promql.matchers(self.labels)}}}"


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    m = _SERIES.match(text.strip())
    if not m:
        raise RenderError(f"testgen: cannot parse fixture series {text!r}")
    labels = {lm.group(1): promql.unquote(lm.group(2)) for lm in _LABEL.finditer(m.group(2) or "")}
    return m.group(1), labels


def base_labels(service: Service) -> dict[str, str]:
    labels = dict(service["selector"])
    labels.setdefault("instance", INSTANCE)
    return labels


def values_text(values: list[float | None]) -> str:
    """Sample values in promtool's expanding notation ('a+bxn', '_' for missing), run-length packed."""
    out: list[str] = []
    i = 0
    clean = [None if v is None else round(v, 9) for v in values]
    while i < len(clean):
        v = clean[i]
        if v is None:
            j = i
            while j + 1 < len(clean) and clean[j + 1] is None:
                j += 1
            out.append("_" if j == i else f"_x{j - i + 1}")
            i = j + 1
            continue
        j = i
        step = None
        while j + 1 < len(clean) and clean[j + 1] is not None:
            d = round(clean[j + 1] - clean[j], 9)  # type: ignore[operator]
            if step is None:
                step = d
            elif d != step:
                break
            j += 1
        n = j - i
        out.append(_num(v) if n == 0 else f"{_num(v)}{'+' if (step or 0) >= 0 else '-'}{_num(abs(step or 0))}x{n}")
        i = j + 1
    return " ".join(out)


def _num(v: float) -> str:
    return units.promql_number(round(v, 9))


def synthesise(
    fixture: Any, xs: Sequence[float | None], interval: float, labels: dict[str, str]
) -> list[dict[str, str]]:
    """input_series for a timeline of x (None = no data at that step)."""
    if isinstance(fixture, dict):
        return _histogram(fixture, xs, interval, labels)
    out = []
    key = tuple(xs)
    for item in fixture:
        name, own = parse_series(item["series"])
        s = Series(name, {**labels, **own}, item["type"], *item["value"])
        out.append({"series": s.text(), "values": _values(s.kind, s.a, s.b, key, interval)})
    return out


@lru_cache(maxsize=4096)
def _values(kind: str, a: float, b: float, xs: tuple[float | None, ...], interval: float) -> str:
    """A series' samples for a timeline of x; cached, as services sharing a profile share them."""
    vals: list[float | None] = []
    total = 0.0
    for x in xs:
        if x is None:
            vals.append(None)
        elif kind == "gauge":
            vals.append(a + b * x)
        else:
            total += (a + b * x) * interval if vals else 0.0
            vals.append(total)
    return values_text(vals)


def _histogram(
    fixture: dict[str, Any], xs: Sequence[float | None], interval: float, labels: dict[str, str]
) -> list[dict[str, str]]:
    """Buckets placed so that histogram_quantile(q) of each phase equals its x: with bucket bounds
    L0 < L1 < ..., a phase whose observations all land in (L(k-1), Lk] has quantile
    L(k-1) + (Lk - L(k-1)) * q, solved for Lk."""
    q = fixture["quantile"]
    levels = sorted({x for x in xs if x is not None})
    bounds: list[float] = []
    prev = 0.0
    for level in levels:
        bound = (level - (1 - q) * prev) / q
        bounds.append(bound)
        prev = bound
    rate = 10.0
    out = []
    for bound in bounds + [math.inf]:
        le = "+Inf" if bound == math.inf else _num(bound)
        vals: list[float | None] = []
        total = 0.0
        for x in xs:
            if x is None:
                vals.append(None)
                continue
            own_bound = bounds[levels.index(x)]
            total += (rate * interval if bound >= own_bound else 0.0) if vals else 0.0
            vals.append(total)
        out.append(
            {
                "series": Series(fixture["histogram"], {**labels, "le": le}, "counter", 0, 0).text(),
                "values": values_text(vals),
            }
        )
    return out


def observed(metric_fixture: Any, expr: str, xs: list[float | None], k: int, window_steps: int) -> float:
    """The value the recording rule holds at step k, at a steady state or on a linear ramp.

    Counter fixtures go through rate() over the window: the mean of x over the last window_steps
    increments. Gauges read in an *_over_time window: the mean over window_steps + 1 samples (a range
    selector includes both ends). Plain gauges: x itself.
    """
    if isinstance(metric_fixture, dict) or any(s["type"] == "counter" for s in metric_fixture):
        part = xs[k - window_steps + 1 : k + 1]
    elif "[" in expr:
        part = xs[k - window_steps : k + 1]
    else:
        part = [xs[k]]
    known = [p for p in part if p is not None]
    assert len(known) == len(part)
    return sum(known) / len(known)


# ---------------------------------------------------------------- simulation of what rules see
_PLANS: dict[tuple[Any, ...], Any] = {}
# Fields that name or link a metric but do not change its timeline: services that share a profile
# share their plans, so a thousand services cost a handful of searches.
_NAMING = {
    "id",
    "camel",
    "title",
    "description",
    "profile",
    "record",
    "panel_id",
    "dashboard_url",
    "runbook_url",
    "expr",
    "grafana_unit",
}


def shape(metric: Metric) -> str:
    shape: dict[str, Any] = {k: v for k, v in metric.items() if k not in _NAMING}
    shape["windowed_expr"] = "[" in metric["expr"]
    for part in ("trend", "anomaly"):
        if shape.get(part):
            shape[part] = {k: v for k, v in shape[part].items() if "record" not in k}
    return json.dumps(shape, sort_keys=True)


def memo(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    if key not in _PLANS:
        _PLANS[key] = make()
    return _PLANS[key]


def noise(steps: int, window: int) -> list[float]:
    """±10% in blocks whose period (window + 1) never divides the window, so that a rate over the
    window still wiggles (alternating values would average out to a flat line and a zero stddev)."""
    period = window + 1
    return [0.9 if i % period < (period + 1) // 2 else 1.1 for i in range(steps)]


def zscores(metric: Metric, xs: list[float | None], n: int, every: int, skip: int) -> list[float]:
    """Simulated (record - baseline mean) / baseline stddev per step. The baseline group runs every
    `every` steps over the records up to `skip` steps ago; records before the rate window fills are
    left out (their partial-window values depend on the expression), hence the caller's margins."""
    records = [observed(metric["test"], metric["expr"], xs, k, n) if k >= n else None for k in range(len(xs))]
    z = [0.0] * len(xs)
    mean = sd = 0.0
    for k in range(len(xs)):
        if k % every == 0:
            past = [r for r in records[: max(0, k - skip + 1)] if r is not None]
            if past:
                mean = sum(past) / len(past)
                sd = math.sqrt(sum((r - mean) ** 2 for r in past) / len(past))
        current = records[k]
        if current is not None and sd > abs(mean) * 1e-9:  # the alert's guard against a flat baseline
            z[k] = (current - mean) / sd
    return z
