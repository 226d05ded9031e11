"""`vigil backtest`: the alerts of a model evaluated over history from raw series (docs/backtest.md).

`backtest_model` is one catalog; `backtest_models` is the seam for `--base`: the same for the old
catalog, joined alert by alert (`vigil review` builds the model of a git revision).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from vigil.backtest.client import MAX_POINTS, BacktestAPI
from vigil.backtest.evaluate import Window, evaluate, plan
from vigil.backtest.report import Backtest, Result, side_by_side
from vigil.backtest.rules import alert_rules, chosen, rule_files
from vigil.errors import BacktestError
from vigil.model import Model
from vigil.render.cache import Cache

Progress = Callable[[int], None]


def backtest_model(
    model: Model,
    api: BacktestAPI,
    window: Window,
    services: Sequence[str] = (),
    *,
    cache: Cache | None = None,
    batch: int = 50,
    max_points: int = MAX_POINTS,
    workers: int = 1,
    start_progress: Callable[[int], Progress] = lambda total: lambda n: None,
) -> Backtest:
    if window.end <= window.start:
        raise BacktestError("--to must be after --from")
    sub = chosen(model, services)
    rules, notes = alert_rules(sub, rule_files(sub, cache or Cache(None)))
    started, before = time.perf_counter(), api.queries
    progress = start_progress(len(plan(rules, window, batch, max_points)))
    firings = evaluate(api, rules, window, batch, max_points, progress, workers)
    return Backtest(
        window,
        [Result(rule, f, window) for rule, f in zip(rules, firings)],
        queries=api.queries - before,
        seconds=time.perf_counter() - started,
        notes=notes,
    )


def backtest_models(
    head: Model, base: Model, api: BacktestAPI, window: Window, services: Sequence[str] = (), **options: object
) -> Backtest:
    """Both catalogs over the same window, side by side (the base's alerts that head dropped are left out)."""
    new = backtest_model(head, api, window, services, **options)  # type: ignore[arg-type]
    known = {s["name"] for s in base["services"]}
    old = backtest_model(base, api, window, [s for s in services if s in known] if services else (), **options)  # type: ignore[arg-type]
    return Backtest(
        window,
        side_by_side(new.results, old.results),
        queries=new.queries + old.queries,
        seconds=new.seconds + old.seconds,
        notes=new.notes + old.notes,
    )
