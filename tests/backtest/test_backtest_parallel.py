"""Range queries in flight at once (`vigil backtest --parallel`) give exactly the firings of one
query at a time, over the backfilled history of test_backtest.py in a real Prometheus."""

from __future__ import annotations

from typing import Any

from test_backtest import END, START, catalog, model, prometheus  # noqa: F401 (fixtures)

from vigil.backtest.client import BacktestAPI
from vigil.backtest.evaluate import Window
from vigil.backtest.run import backtest_model


def firings(result: Any) -> list[tuple[Any, ...]]:
    return [(r.rule.key, r.firings) for r in result.results]


def test_parallel_queries_give_identical_firings(prometheus: str, model: Any) -> None:  # noqa: F811
    window = Window(START, END)
    # Small chunks (7 points per query) and small batches: many queries per alert, answered out of order.
    one = backtest_model(model, BacktestAPI(prometheus), window, batch=3, max_points=7, workers=1)
    assert sum(len(r.firings) for r in one.results) >= 8  # the history's incidents fire (not a vacuous match)
    for workers in (2, 4):
        many = backtest_model(model, BacktestAPI(prometheus), window, batch=3, max_points=7, workers=workers)
        assert firings(many) == firings(one)
        assert many.queries == one.queries  # counted once each, from several threads


def test_parallel_naive_matches_batched(prometheus: str, model: Any) -> None:  # noqa: F811
    window = Window(START, END)
    batched = backtest_model(model, BacktestAPI(prometheus), window, workers=1)
    naive = backtest_model(model, BacktestAPI(prometheus), window, batch=1, workers=3)
    assert firings(naive) == firings(batched)
    assert naive.queries == len(naive.results) > batched.queries
