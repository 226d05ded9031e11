"""render.parallel_map: results in order, and Go's GC settings reach the workers only."""

from __future__ import annotations

import os

import pytest

from vigil.render import jsonnet as render


def environment_of_worker(chunk: list[int]) -> list[tuple[int, str | None]]:
    return [(i, os.environ.get("GOGC")) for i in chunk]


def test_workers_get_the_go_settings_and_this_process_keeps_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    items = list(range(render.PARALLEL_FROM + 5))
    out = render.parallel_map(environment_of_worker, items, workers=2)
    assert [i for i, _ in out] == items
    assert {gogc for _, gogc in out} == {render.WORKER_GO_ENV["GOGC"]}
    assert "GOGC" not in os.environ  # promtool and the stack's Prometheus must not inherit it


def test_a_gogc_set_by_the_user_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOGC", "150")
    out = render.parallel_map(environment_of_worker, list(range(render.PARALLEL_FROM + 1)), workers=2)
    assert {gogc for _, gogc in out} == {"150"} and os.environ["GOGC"] == "150"
