"""The build: load → validate → resolve → render → check → write, with a timing per stage.

`output/` is replaced as a whole, and only after every check passed on the new files.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from vigil import alertmanager, dashboards, kubernetes, prometheus
from vigil.catalog.load import load_catalog
from vigil.catalog.resolve import resolve
from vigil.catalog.validate import Validated, validate
from vigil.check import CheckReport, check_output
from vigil.dashboard_checks import Alert, linked_uid
from vigil.model import Model
from vigil.render import Artefacts, Cache


@dataclass
class BuildReport:
    seconds: dict[str, float] = field(default_factory=dict)   # stage → wall time
    files: int = 0
    warnings: list[str] = field(default_factory=list)
    check: CheckReport | None = None


@contextmanager
def _timed(report: BuildReport, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    report.seconds[stage] = report.seconds.get(stage, 0.0) + time.perf_counter() - start


def compile_catalog(catalog: Path, report: BuildReport) -> tuple[Validated, Model]:
    """load, validate and resolve; raises CatalogError with every problem."""
    with _timed(report, "load"):
        raw = load_catalog(catalog)
    with _timed(report, "validate"):
        validated = validate(raw)
    with _timed(report, "resolve"):
        model = resolve(validated)
    report.warnings += [str(w) for w in validated.warnings]
    return validated, model


def render_all(model: Model, cache: Cache, report: BuildReport, checked: CheckReport) -> Artefacts:
    """Every artefact of the model, keyed by its path under output/. The dashboards are checked as
    they render (with the alerts that link to them); their problems go to `checked`."""
    with _timed(report, "render"):
        # One renderer per target; each returns {path under output/: text}.
        artefacts, warnings, alerts = prometheus.render_all(model, cache)
        report.warnings += warnings
        artefacts.update(alertmanager.render(model, cache, checked.parsed))
    with _timed(report, "dashboards"):
        by_uid: dict[str, list[Alert]] = {}
        for path, rule in alerts:
            by_uid.setdefault(linked_uid(rule) or "", []).append((path, rule))
        artefacts.update(dashboards.render(model, cache, by_uid, checked))
    if "kubernetes" in model:
        with _timed(report, "kubernetes"):
            objects, warnings = kubernetes.render(model, artefacts)   # wraps the artefacts above
            artefacts.update(objects)
            report.warnings += warnings
    return artefacts


def write_tree(artefacts: Artefacts, root: Path) -> None:
    for rel, text in sorted(artefacts.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def replace_dir(new: Path, out: Path) -> None:
    """Swap `new` in as `out`: rename the old one away first, so a reader never sees a half tree."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{time.time_ns()}")
        out.rename(old)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old)


def build(catalog: Path, out: Path, *, run_checks: bool = True, run_tests: bool = False,
          cache_dir: Path | None = None) -> BuildReport:
    report = BuildReport()
    _, model = compile_catalog(catalog, report)
    rendered = CheckReport()
    artefacts = render_all(model, Cache(cache_dir), report, rendered)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        with _timed(report, "write"):
            write_tree(artefacts, staging)
        if run_checks:
            with _timed(report, "check"):
                report.check = check_output(staging, tests=run_tests, cache_dir=cache_dir, rendered=rendered)
            report.warnings += report.check.warnings
        replace_dir(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    report.files = len(artefacts)
    return report

