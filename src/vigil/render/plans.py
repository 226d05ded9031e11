"""SLO timeline plans remembered across builds.

Planning the timeline of a service's SLO test (portable.slo_plan) simulates every engine's
windows over thousands of steps: a quarter of an incremental rebuild after one threshold
changed, although that change leaves the SLO's plan as it was. The plan depends only on the
budget, the burn alerts and the evaluation interval (the key of simulate.memo), so it is kept in
the render cache under those and the render code's hash, and read back by the next build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.render.cache import Cache
from vigil.render.portable import SloPlan

_cache = Cache(None)


def remember_in(root: Path | None) -> None:
    """Where this process keeps plans (None: nowhere); render_all sets it for its build."""
    global _cache
    _cache = Cache(root)


def slo_plan(key: tuple[Any, ...], make: Callable[[], SloPlan | None]) -> SloPlan | None:
    """The plan kept under `key`, or `make()`'s, kept for the next build."""
    if _cache.root is None:
        return make()
    cache_key = _cache.key(["slo plan", list(key)])
    hit = _cache.load(cache_key)
    if hit is not None:
        return SloPlan(**hit["plan"]) if hit["plan"] else None
    plan = make()
    _cache.store(cache_key, {"plan": dataclasses.asdict(plan) if plan else None})
    return plan
