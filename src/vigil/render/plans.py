"""SLO, trend and anomaly timeline plans remembered across builds.

Planning the timeline of a service's SLO, trend or anomaly test (portable.slo_plan, trend_plan) simulates
every engine's windows over thousands of steps: a quarter of an incremental rebuild after one
threshold changed, although that change leaves most plans as they were. A plan depends only on
the key of simulate.memo (for an SLO: the budget, the burn alerts and the evaluation interval),
so it is kept in the render cache under that key and the render code's hash, and read back by
the next build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from vigil.render.cache import Cache
from vigil.render.portable import SloPlan, TrendPlan

P = TypeVar("P", SloPlan, TrendPlan)

_cache = Cache(None)


def remember_in(root: Path | None) -> None:
    """Where this process keeps plans (None: nowhere); render_all sets it for its build."""
    global _cache
    _cache = Cache(root)


def slo_plan(key: tuple[Any, ...], make: Callable[[], SloPlan | None]) -> SloPlan | None:
    """The SLO plan kept under `key`, or `make()`'s, kept for the next build."""
    return _remembered(SloPlan, key, make)


def trend_plan(key: tuple[Any, ...], make: Callable[[], TrendPlan | None]) -> TrendPlan | None:
    """The same for a trend's creep (portable.trend_plan), planned by the same simulations."""
    return _remembered(TrendPlan, key, make)


Spike = tuple[list[float | None], int, bool]  # unittests.anomaly_case's plan: timeline, history, quiet before


def anomaly_plan(key: tuple[Any, ...], make: Callable[[], Spike | None]) -> Spike | None:
    """The same for an anomaly's spike, searched over simulated baselines."""
    if _cache.root is None:
        return make()
    cache_key = _cache.key(["anomaly plan", list(key)])
    hit = _cache.load(cache_key)
    if hit is not None:
        return (hit["plan"][0], hit["plan"][1], hit["plan"][2]) if hit["plan"] else None
    plan = make()
    _cache.store(cache_key, {"plan": list(plan) if plan else None})
    return plan


def _remembered(kind: type[P], key: tuple[Any, ...], make: Callable[[], P | None]) -> P | None:
    if _cache.root is None:
        return make()
    cache_key = _cache.key([f"{kind.__name__} plan", list(key)])
    hit = _cache.load(cache_key)
    if hit is not None:
        return kind(**hit["plan"]) if hit["plan"] else None
    plan = make()
    _cache.store(cache_key, {"plan": dataclasses.asdict(plan) if plan else None})
    return plan
