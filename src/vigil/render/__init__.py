"""Stage 2, render: the resolved model → artefacts, the text of every file under output/.

The Jsonnet generators (generators/) do the work; one module per target calls them:
prometheus.py (rules and their unit tests), alertmanager.py (routes and routing cases),
dashboards.py (Grafana), postmortems.py (the postmortems page). Render knows nothing of checks: it
hands what it made to the check stage, with the objects it still holds, so that check need not parse
them back.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

from vigil.model import Model
from vigil.render import alertmanager, dashboards, postmortems, prometheus
from vigil.render.cache import Cache
from vigil.render.prometheus import Alert
from vigil.render.serialise import Artefacts

Timer = Callable[[str], AbstractContextManager[Any]]


@dataclass
class Rendered:
    files: Artefacts                                        # path under output/ → text
    warnings: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)       # every alerting rule, with its rule file
    parsed: dict[str, Any] = field(default_factory=dict)    # objects still in memory, by path


def render_all(model: Model, cache: Cache, timer: Timer = lambda stage: nullcontext()) -> Rendered:
    """Every artefact of the model. `timer(stage)` wraps each stage ("render", "dashboards")."""
    with timer("render"):
        files, warnings, alerts = prometheus.render_all(model, cache)
        rendered = Rendered(files, warnings, alerts)
        files.update(alertmanager.render(model, cache, rendered.parsed))
    with timer("dashboards"):
        files.update(dashboards.render(model, cache))
    files.update(postmortems.render(model))
    return rendered
