"""SLO, trend and anomaly timeline plans are kept in the render cache and read back by the next build, which then
renders the same test files without planning again (render/plans.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vigil.render import simulate, unittests
from vigil.render.cache import Cache
from vigil.render.files import Files
from vigil.render.prometheus import render_all


def _render(model: dict[str, Any], cache_dir: Path | None) -> dict[str, str]:
    simulate._PLANS.clear()  # a fresh process: nothing planned yet
    files = Files(Cache(cache_dir))
    render_all(model, Cache(cache_dir), files, workers=1)  # type: ignore[arg-type]
    return {rel: files[rel] for rel in files if rel.endswith(".test.yaml")}


def test_a_second_build_reads_the_plans_back_and_renders_the_same_tests(
    example_model: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert any(s["slos"] for s in example_model["services"]), "the example has no SLO to plan"
    assert any(m["trend"] for s in example_model["services"] for m in s["metrics"]), "nor a trend"
    assert any(m["anomaly"] for s in example_model["services"] for m in s["metrics"]), "nor an anomaly"
    first = _render(example_model, tmp_path / "cache")

    def no_planning(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("planned again")

    monkeypatch.setattr(unittests, "slo_plan", no_planning)
    monkeypatch.setattr(unittests, "trend_plan", no_planning)
    monkeypatch.setattr(unittests, "zscores", no_planning)  # what an anomaly's search simulates
    # The rendered files are cached too: render from the plans alone, with a cache that holds
    # nothing but them.
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file() and not _is_plan(entry):
            entry.unlink()
    assert _render(example_model, tmp_path / "cache") == first


def test_without_a_cache_plans_are_made_every_time(example_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    made = []
    real = unittests.slo_plan
    monkeypatch.setattr(unittests, "slo_plan", lambda *a: made.append(1) or real(*a))
    _render(example_model, None)
    _render(example_model, None)
    assert len(made) >= 2 and len(made) % 2 == 0


def _is_plan(path: Path) -> bool:
    import orjson

    try:
        data = orjson.loads(path.read_bytes())
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and set(data) == {"plan"}
