"""`vigil coverage`: which key metrics and SLIs return data in a Prometheus now, and, where one
does not, which raw series it reads are missing.

A key metric without data looks green on every dashboard and no alert on it can fire: silent
non-detection. A threshold alert says nothing about it, so this asks the Prometheus directly: each
key metric's expression (as the catalog resolved it, `$selector` and `$window` filled in) and each
SLO's error and total expressions (at the SLO's shortest window). Where one returns nothing, every
vector selector in it is queried on its own, and each one without series gets a hint: whether its
metric exists at all, exists but not for this service's selector, or exists for the service but
the other matchers (`status=~"5.."`, `area="heap"`) exclude every series.

A key metric with data can still have an anomaly alert that cannot fire: its baseline leaves out
the most recent `skip_recent` (6h by default), so for that long after the metric's first sample
there is no baseline. Where the Prometheus evaluates vigil's rules (the metric's own record is
there), the baseline's record is asked for too, and its absence said; where it does not, nothing
can be told, and nothing is said.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from vigil import promql
from vigil.model import Metric, Model, Service
from vigil.prometheus_api import PrometheusAPI
from vigil.selectors import Selector, from_syntax_tree, unique, vector_selectors

WORKERS = 4  # queries in flight: enough to hide round trips, few enough not to load a shared Prometheus


@dataclass(frozen=True)
class Expression:
    part: str  # expr (a key metric's), or errors | total (an SLI's)
    expr: str
    series: int  # series it returns now


@dataclass(frozen=True)
class Probe:
    """One vector selector of a key metric without data, queried on its own."""

    selector: str
    series: int
    hint: str = ""  # for a selector without series: why, as far as Prometheus can tell


@dataclass
class Row:
    service: str
    key_metric: str  # the metric id, or the SLO name (as the alerts' key_metric label)
    kind: str  # metric | sli
    expressions: list[Expression]
    selectors: list[Probe] = field(default_factory=list)  # only looked at when there is no data
    # The anomaly alert's baseline where the rules run here: True recorded, False not yet (the alert
    # cannot fire), None not asked (no anomaly alert, no data, or vigil's rules are not evaluated here).
    baseline: bool | None = None
    skip_recent: str = ""

    @property
    def has_data(self) -> bool:
        return all(e.series > 0 for e in self.expressions)

    @property
    def missing(self) -> list[str]:
        return [p.selector for p in self.selectors if p.series == 0]

    def detail(self) -> str:
        if self.has_data:
            found = ", ".join(
                f"{e.series} series" if e.part == "expr" else f"{e.part} {e.series} series" for e in self.expressions
            )
            if self.baseline is False:
                found += (
                    f"; no anomaly baseline recorded yet: its anomaly alert cannot fire until the metric has "
                    f"data from before the last {self.skip_recent} (skip_recent)"
                )
            return found
        present = [p for p in self.selectors if p.series]
        # A name read twice (an error ratio's errors and total) is shown in full, to tell them apart.
        names = [_short(p.selector) for p in self.selectors]
        shown = [_short(p.selector) if names.count(_short(p.selector)) == 1 else p.selector for p in present]
        others = f" ({', '.join(f'{s} has {p.series}' for s, p in zip(shown, present))})" if present else ""
        gone = [p for p in self.selectors if not p.series]
        if not gone:
            return (
                "no data — every series it reads exists" + others + ", but the expression returns nothing now "
                "(rate() needs two samples in its window; a comparison or division may drop every series)"
            )
        return "no data — " + "; ".join(f"{p.selector} has no series: {p.hint}" for p in gone) + others

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "key_metric": self.key_metric,
            "kind": self.kind,
            "has_data": self.has_data,
            "anomaly_baseline": self.baseline,
            "missing": self.missing,
            "expressions": [asdict(e) for e in self.expressions],
            "selectors": [asdict(p) for p in self.selectors],
        }


def _short(text: str) -> str:
    """`name` of `name{...}`, for the short mention of the series that do exist."""
    return text.split("{", 1)[0] or text


@dataclass
class CoverageReport:
    prometheus: str
    rows: list[Row]
    parser: str  # what split expressions into selectors: "parse_query" (Prometheus's own),
    # "tokenizer" (vigil's, where the server has none) or "none needed"

    @property
    def without_data(self) -> list[Row]:
        return [r for r in self.rows if not r.has_data]

    def summary(self) -> str:
        services = len({r.service for r in self.rows})
        metrics = sum(r.kind == "metric" for r in self.rows)
        gone = self.without_data
        line = (
            f"{len(self.rows) - len(gone)} of {len(self.rows)} have data ({_plural(metrics, 'key metric')} and "
            f"{_plural(len(self.rows) - metrics, 'SLI')} of {_plural(services, 'service')}) in {self.prometheus}"
        )
        if gone:
            line += f"; {len(gone)} without: " + ", ".join(f"{r.service} {r.key_metric}" for r in gone)
        blind = [r for r in self.rows if r.baseline is False]
        if blind:
            line += f"; {len(blind)} anomaly alert(s) without a baseline yet: " + ", ".join(
                f"{r.service} {r.key_metric}" for r in blind
            )
        return line

    def text(self) -> str:
        table = [("SERVICE", "KEY METRIC", "KIND", "DATA", "DETAIL")]
        table += [(r.service, r.key_metric, r.kind, "yes" if r.has_data else "NO", r.detail()) for r in self.rows]
        widths = [max(len(cells[i]) for cells in table) for i in range(4)]
        lines = ["  ".join([*(c.ljust(w) for c, w in zip(cells, widths)), cells[4]]) for cells in table]
        return "\n".join([*lines, self.summary()]) + "\n"

    def json(self) -> str:
        return json.dumps([r.as_json() for r in self.rows], indent=2, ensure_ascii=False) + "\n"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class _Prober:
    """Queries one Prometheus at one instant; remembers selector counts (SLIs share selectors)."""

    def __init__(self, api: PrometheusAPI, at: float):
        self.api, self.at = api, at
        self.native: bool | None = None  # does the server have /api/v1/parse_query? (None: not asked yet)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def series(self, expr: str) -> int:
        return len(self.api.query(expr, self.at))

    def count(self, selector: Selector) -> int:
        text = selector.text()
        with self._lock:
            if text in self._counts:
                return self._counts[text]
        # count() keeps the answer one number, however many series the selector matches.
        result = self.api.query(f"count({text})", self.at)
        n = int(result[0].values[0]) if result else 0
        with self._lock:
            self._counts[text] = n
        return n

    def selectors(self, expr: str) -> list[Selector]:
        if self.native is not False:
            tree = self.api.parse_query(expr)
            if tree is not None:
                self.native = True
                return from_syntax_tree(tree)
            if self.native is None:  # never answered: the endpoint is not there
                self.native = False
        return vector_selectors(expr)

    def hint(self, selector: Selector, service: Service) -> str:
        own = selector.without(service["selector"])  # the name and the service's own matchers
        if own != selector and own.matchers and (n := self.count(own)):
            return f"{own.text()} has {n}, the other matchers exclude them all"
        if selector.name and selector.matchers and (n := self.count(Selector(selector.name, ()))):
            which = own.matchers or selector.matchers  # what its series lack: the service's labels, else any match
            return f"{selector.name} has {n} series, none with {','.join(m.text() for m in which)}"
        return f"no series named {selector.name} at all" if selector.name else "no series match it at all"

    def row(
        self, service: Service, key_metric: str, kind: str, exprs: dict[str, str], metric: Metric | None = None
    ) -> Row:
        row = Row(service["name"], key_metric, kind, [Expression(p, e, self.series(e)) for p, e in exprs.items()])
        anomaly = metric["anomaly"] if metric else None
        if row.has_data and metric and anomaly:
            if self.series(promql.series(anomaly["avg_record"], service["name"])):
                row.baseline = True
            # The metric's own record there means the rules run here and the baseline is not there yet.
            elif self.series(promql.series(metric["record"], service["name"])):
                row.baseline, row.skip_recent = False, anomaly["skip_recent"]
        if not row.has_data:
            found = unique([s for e in exprs.values() for s in self.selectors(e)])
            for s in found:
                n = self.count(s)
                row.selectors.append(Probe(s.text(), n, "" if n else self.hint(s, service)))
        return row


def _work(service: Service) -> list[tuple[Service, str, str, dict[str, str], Metric | None]]:
    """(service, key_metric, kind, {part: expression}, the metric) for each key metric and SLO of the service."""
    items: list[tuple[Service, str, str, dict[str, str], Metric | None]]
    items = [(service, m["id"], "metric", {"expr": m["expr"]}, m) for m in service["metrics"]]
    for slo in service["slos"]:
        window = slo["windows"][0]  # the shortest; every SLO records it
        parts = {part: slo[part].replace("$window", window) for part in ("errors", "total")}
        items.append((service, slo["name"], "sli", parts, None))
    return items


def coverage(
    model: Model, prometheus_url: str, services: list[str] | None = None, at: float | None = None
) -> CoverageReport:
    """Ask `prometheus_url` about every key metric and SLI of `services` (default: all), at one
    instant (default: now). Rows come sorted by service, then kind (metrics first), then id."""
    chosen = [s for s in model["services"] if not services or s["name"] in services]
    prober = _Prober(PrometheusAPI(prometheus_url), time.time() if at is None else at)
    work = sorted((w for s in chosen for w in _work(s)), key=lambda w: (w[0]["name"], w[2] != "metric", w[1]))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        rows = list(pool.map(lambda w: prober.row(*w), work))
    parser = {True: "parse_query", False: "tokenizer", None: "none needed"}[prober.native]
    return CoverageReport(prometheus_url.rstrip("/"), rows, parser)
