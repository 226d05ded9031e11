"""Evaluate alerting rules over a window of history in a real Prometheus, with few range queries.

An alert's expression evaluated by a range query with `step` = its group's interval gives exactly
what the group's evaluations would have returned at those instants (a range query is a series of
instant queries). Several alerts share one query: each is tagged with `label_replace(..,
"__vigil_alert", "<i>", "", "")` and they are joined with `or` (distinct tags never match, so `or`
keeps every series). The window is split so that no query asks for more than `max_points` steps
per series (Prometheus refuses more than 11,000).

Evaluations are aligned to multiples of the interval since the Unix epoch. Prometheus offsets each
group by a hash of its name and file within the interval; that offset is not knowable from outside,
so firings here can differ from the live ones by less than one interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from vigil.backtest.client import MAX_POINTS, BacktestAPI
from vigil.backtest.rules import AlertRule
from vigil.backtest.state import Firing, replay
from vigil.errors import BacktestError
from vigil.prometheus_api import QueryError

TAG = "__vigil_alert"


@dataclass(frozen=True)
class Query:
    expr: str
    start: int  # ms, the first evaluation
    end: int  # ms, the last evaluation
    step: int  # ms
    rules: tuple[int, ...]  # indices into the rule list; one rule: no tag


@dataclass(frozen=True)
class Window:
    start: float  # unix seconds (--from)
    end: float  # unix seconds (--to)

    def evaluations(self, interval: float) -> tuple[int, int]:
        """The first and last evaluation (ms) of a group with this interval inside the window."""
        step = round(interval * 1000)
        first = math.ceil(self.start * 1000 / step) * step
        last = math.floor(self.end * 1000 / step) * step
        return first, last


def tagged(expr: str, index: int) -> str:
    return f'label_replace({expr}, "{TAG}", "{index}", "", "")'


def plan(rules: Sequence[AlertRule], window: Window, batch: int = 50, max_points: int = MAX_POINTS) -> list[Query]:
    """The range queries for the rules: `batch` alerts of one interval per query, each window chunk."""
    if batch < 1 or max_points < 2:
        raise BacktestError("--batch must be at least 1 and the points per query at least 2")
    by_interval: dict[float, list[int]] = defaultdict(list)
    for i, rule in enumerate(rules):
        by_interval[rule.interval].append(i)
    out = []
    for interval, members in sorted(by_interval.items()):
        step = round(interval * 1000)
        first, last = window.evaluations(interval)
        if last < first:
            continue
        for b in range(0, len(members), batch):
            part = tuple(members[b : b + batch])
            expr = (
                rules[part[0]].raw_expr if len(part) == 1 else " or ".join(tagged(rules[i].raw_expr, i) for i in part)
            )
            start = first
            while start <= last:
                end = min(last, start + (max_points - 1) * step)
                out.append(Query(expr, start, end, step, part))
                start = end + step
    return out


Presence = dict[int, dict[tuple[tuple[str, str], ...], list[int]]]  # rule → series labels → evaluations (ms)


def _one(api: BacktestAPI, query: Query, rules: Sequence[AlertRule], presence: Presence) -> None:
    try:
        result = api.query_range_post(query.expr, query.start / 1000, query.end / 1000, query.step / 1000)
    except QueryError as e:
        if len(query.rules) > 1:  # find the alert Prometheus refuses, to name it
            for i in query.rules:
                _one(api, Query(rules[i].raw_expr, query.start, query.end, query.step, (i,)), rules, presence)
            return
        rule = rules[query.rules[0]]
        raise BacktestError(
            f"{rule.file}: group {rule.group}: alert {rule.alert} ({rule.severity}): "
            f"Prometheus refused its expanded expression: {e} (when it loads too many samples, "
            "a smaller --max-points splits the window further)"
        ) from e
    for series in result:
        labels = dict(series.labels)
        index = int(labels.pop(TAG)) if len(query.rules) > 1 else query.rules[0]
        labels.pop("__name__", None)  # Prometheus drops the name from an alert's labels too
        key = tuple(sorted(labels.items()))
        presence[index].setdefault(key, []).extend(round(t * 1000) for t in series.times)


def evaluate(
    api: BacktestAPI,
    rules: Sequence[AlertRule],
    window: Window,
    batch: int = 50,
    max_points: int = MAX_POINTS,
    progress: Callable[[int], None] = lambda n: None,
    workers: int = 1,
) -> list[list[Firing]]:
    """The firings of each rule (in the order given) over the window.

    With `workers` > 1 that many range queries are in flight at once (Prometheus evaluates
    concurrent queries on several cores, up to its --query.max-concurrency). Each query's answer
    is kept apart and merged in plan order, so the firings do not depend on which answer came first."""
    queries = plan(rules, window, batch, max_points)
    parts: list[Presence] = [defaultdict(dict) for _ in queries]
    if workers <= 1:
        for query, part in zip(queries, parts):
            _one(api, query, rules, part)
            progress(1)
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="backtest") as pool:
            pending = {pool.submit(_one, api, q, rules, part) for q, part in zip(queries, parts)}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        future.result()  # raises the query's error
                    progress(1)
    presence: Presence = defaultdict(dict)
    for part in parts:
        for index, series in part.items():
            for key, times in series.items():
                presence[index].setdefault(key, []).extend(times)
    out = []
    for i, rule in enumerate(rules):
        step = round(rule.interval * 1000)
        _, last = window.evaluations(rule.interval)
        found = [
            f
            for labels, times in sorted(presence.get(i, {}).items())
            for f in replay(labels, times, step, rule.for_seconds, rule.keep_firing_for_seconds, last)
        ]
        out.append(sorted(found, key=lambda f: (f.fired_at, f.labels)))
    return out


def query_count(rules: Sequence[AlertRule], window: Window, batch: int, max_points: int = MAX_POINTS) -> int:
    return len(plan(rules, window, batch, max_points))
