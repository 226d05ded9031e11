"""Stage 2, render: the resolved model → artefacts, the text of every file under output/.

The Jsonnet generators (generators/) do the work; one module per target calls them:
prometheus.py (rules and their unit tests), alertmanager.py (routes and routing cases),
dashboards.py (Grafana), postmortems.py (the postmortems page), grafana_annotations.py (the
postmortems as Grafana annotations). Render knows nothing of checks: it hands what it made to the
check stage, with the objects it still holds, so that check need not parse them back.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from vigil.model import Model
from vigil.render import alertmanager, dashboards, grafana_annotations, kubernetes, postmortems, prometheus
from vigil.render.cache import Cache
from vigil.render.files import Files
from vigil.render.prometheus import Alert

Timer = Callable[[str], AbstractContextManager[Any]]


@dataclass
class Rendered:
    files: Files  # path under output/ → text (and digest)
    warnings: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)  # every alerting rule, with its rule file
    parsed: dict[str, Any] = field(default_factory=dict)  # objects still in memory, by path


def render_all(model: Model, cache: Cache, timer: Timer = lambda stage: nullcontext()) -> Rendered:
    """Every artefact of the model. `timer(stage)` wraps each stage ("render", "dashboards")."""
    rendered = Rendered(Files(cache))
    with timer("render"):
        rendered.warnings, rendered.alerts = prometheus.render_all(model, cache, rendered.files)
        alertmanager.render(model, rendered.files, rendered.parsed)
    with timer("dashboards"):
        dashboards.render(model, cache, rendered.files)
    rendered.files.add(postmortems.render(model))
    rendered.files.add(grafana_annotations.render(model))  # the postmortems on the dashboards
    if "kubernetes" in model:
        with timer("kubernetes"):
            objects, warnings = kubernetes.render(model, rendered.files)  # wraps the artefacts above
            rendered.files.add(objects)
            rendered.warnings += warnings
    return rendered
