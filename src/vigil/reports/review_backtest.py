"""`vigil review --backtest`: what each changed or added alert would have done over a window of
history, beside what the base catalog's alert did, so that the pull-request comment says it.

The backtest itself is `vigil backtest --base` (vigil.backtest), run on the services whose alerts
the review found changed, and kept for those alerts only.
"""

from __future__ import annotations

from typing import Any

from vigil.backtest.client import BacktestAPI
from vigil.backtest.evaluate import Window
from vigil.backtest.report import Result
from vigil.backtest.run import backtest_models
from vigil.reports.review import Review


def changed_alerts(review: Review) -> set[tuple[str, str, str]]:
    """(service, alert, severity) of every alert the change adds or changes."""
    return {
        (c.service, c.name, str(c.after.get("severity")))
        for c in review.changes
        if c.kind == "alert" and c.after is not None
    }


def add_backtest(review: Review, api: BacktestAPI, window: Window, **options: Any) -> list[str]:
    """Backtest the changed alerts of `review` (into review.backtest); returns the backtest's notes."""
    keys = changed_alerts(review)
    review.backtest = {}
    if not keys:
        return []
    services = sorted({service for service, _, _ in keys})
    result = backtest_models(review.head_model, review.base_model, api, window, services, **options)
    review.backtest = {r.rule.key: r for r in result.results if r.rule.key in keys}
    return result.notes


def counts(result: Result) -> dict[str, Any]:
    """The backtest of one alert as a review record carries it: its counts, and the base's (None
    when the base catalog had no such alert)."""
    return {**result.counts(), "base": None if result.base is None else result.base.counts()}
