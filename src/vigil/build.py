"""The pipeline: catalog (load → validate → resolve) → render → check → write, timed per stage.

This module only sequences the stages; each lives in its own package. `output/` is replaced as a
whole, and only after every check passed on the new files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vigil.cache import digest
from vigil.catalog.load import load_catalog
from vigil.catalog.memo import CatalogCache
from vigil.catalog.resolve import resolve
from vigil.catalog.validate import Validated, validate
from vigil.check import CheckReport, check_output
from vigil.model import Model
from vigil.render import Rendered, render_all
from vigil.render.cache import Cache
from vigil.render.files import Files


@dataclass
class BuildReport:
    seconds: dict[str, float] = field(default_factory=dict)  # stage → wall time
    files: int = 0
    warnings: list[str] = field(default_factory=list)
    check: CheckReport | None = None


@contextmanager
def _timed(report: BuildReport, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    report.seconds[stage] = report.seconds.get(stage, 0.0) + time.perf_counter() - start


def compile_catalog(catalog: Path, report: BuildReport, cache_dir: Path | None = None) -> tuple[Validated, Model]:
    """load, validate and resolve; raises CatalogError with every problem. With a cache_dir, service
    files handled before are not parsed, checked or resolved again."""
    cache = CatalogCache(cache_dir) if cache_dir else None
    with _timed(report, "load"):
        raw = load_catalog(catalog, cache)
    with _timed(report, "validate"):
        validated = validate(raw, cache)
    with _timed(report, "resolve"):
        model = resolve(validated, cache)
    report.warnings += [str(w) for w in validated.warnings]
    return validated, model


def render_model(model: Model, cache: Cache, report: BuildReport) -> Rendered:
    rendered = render_all(model, cache, timer=lambda stage: _timed(report, stage))
    report.warnings += rendered.warnings
    return rendered


Manifest = dict[str, list[Any]]  # path under output/ → [digest, size, mtime_ns] of the file written


def write_tree(files: Files, root: Path, previous: Path | None = None, manifest: Manifest | None = None) -> Manifest:
    """Write every file under `root`. A file that `previous` (the output being replaced) already
    holds with the same digest, by the manifest of the build that wrote it, and that nobody
    touched since (same size and mtime), is hard-linked from there instead: a rebuild after one
    change writes that change, not the other thousand files. Returns the new manifest."""
    written: Manifest = {}
    made: set[str] = set()
    # Plain strings rather than Paths: a rebuild handles thousands of files, and pathlib's joins
    # cost more than linking them.
    new_root, old_root = os.fspath(root), os.fspath(previous) if previous else ""
    for rel in files:
        path = f"{new_root}/{rel}"
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        sha = files.digests[rel]
        if not (previous and manifest and _link_unchanged(f"{old_root}/{rel}", path, sha, manifest.get(rel))):
            with open(path, "w", encoding="utf-8") as f:
                f.write(files[rel])
        stat = os.stat(path)
        written[rel] = [sha, stat.st_size, stat.st_mtime_ns]
    return written


def _link_unchanged(old: str, new: str, sha: str, recorded: list[Any] | None) -> bool:
    if not recorded or recorded[0] != sha:
        return False
    try:
        stat = os.stat(old)
        if [stat.st_size, stat.st_mtime_ns] != recorded[1:]:
            return False
        os.link(old, new)
    except OSError:
        return False  # gone, or another filesystem: written instead
    return True


def _manifest_path(cache_dir: Path, out: Path) -> Path:
    return cache_dir / "manifests" / f"{hashlib.sha256(str(out.resolve()).encode()).hexdigest()}.json"


def _load_manifest(cache_dir: Path | None, out: Path) -> Manifest | None:
    if cache_dir is None:
        return None
    try:
        manifest: Manifest = orjson.loads(_manifest_path(cache_dir, out).read_bytes())
        return manifest
    except (OSError, orjson.JSONDecodeError):
        return None


def _save_manifest(cache_dir: Path | None, out: Path, manifest: Manifest) -> None:
    if cache_dir is not None:
        path = _manifest_path(cache_dir, out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(manifest))


def replace_dir(new: Path, out: Path) -> None:
    """Swap `new` in as `out`: rename the old one away first, so a reader never sees a half tree."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{time.time_ns()}")
        out.rename(old)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old)


def build(
    catalog: Path, out: Path, *, run_checks: bool = True, run_tests: bool = False, cache_dir: Path | None = None
) -> BuildReport:
    report = BuildReport()
    _, model = compile_catalog(catalog, report, cache_dir)
    rendered = render_model(model, Cache(cache_dir), report)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        with _timed(report, "write"):
            manifest = write_tree(
                rendered.files, staging, out if out.exists() else None, _load_manifest(cache_dir, out)
            )
        if run_checks:
            with _timed(report, "check"):
                # What was rendered is still in memory: the checks read it there, and the tools
                # that need files (promtool, amtool) get the staged ones.
                report.check = check_output(staging, tests=run_tests, cache_dir=cache_dir, rendered=rendered)
            report.warnings += report.check.warnings
        replace_dir(staging, out)
        _save_manifest(cache_dir, out, manifest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    report.files = len(rendered.files)
    return report


def stale_files(catalog: Path, out: Path, cache_dir: Path | None = None) -> list[str]:
    """What differs between `out` and what this catalog renders to with this vigil: every file
    (path under `out`) that is missing, different or no longer made, sorted. Renders in memory
    and writes nothing; empty when `out` is fresh."""
    report = BuildReport()
    _, model = compile_catalog(catalog, report)
    wanted = render_model(model, Cache(cache_dir), report).files
    have = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} if out.exists() else set()
    changed = [
        rel
        for rel, sha in wanted.digests.items()
        if rel not in have or digest((out / rel).read_text(encoding="utf-8")) != sha
    ]
    return sorted(changed + sorted(have - set(wanted)))
