"""Each dashboard check of `vigil check`, proven on a failing fixture: the example output with one
thing broken, as a hand edit or a generator bug would break it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vigil.build import BuildReport, render_model
from vigil.check import CheckReport, check_output
from vigil.check.dashboards import AlertPanels, Lint, flat_panels
from vigil.check.folders import Folders
from vigil.errors import CheckError
from vigil.render.cache import Cache
from vigil.render.prometheus import linked_uid

CHECKOUT = "grafana/dashboards/vigil-checkout.json"
REDIS = "grafana/dashboards/vigil-redis-cache.json"
FOLDERS = "grafana/folders.json"
# Panel ids from the model (metrics in profile order, then by id): checkout's error_ratio, inflight and
# latency_p99; redis-cache's hit_ratio.
ERROR_RATIO, INFLIGHT, LATENCY, HIT_RATIO = 10, 11, 12, 12


def _panel(doc: dict[str, Any], pid: int) -> dict[str, Any]:
    return next(p for p in flat_panels(doc) if p["id"] == pid)


def _steps(doc: dict[str, Any], pid: int) -> list[dict[str, Any]]:
    return _panel(doc, pid)["fieldConfig"]["defaults"]["thresholds"]["steps"]


def duplicate_id(doc: dict[str, Any]) -> None:
    _panel(doc, INFLIGHT)["id"] = ERROR_RATIO


def overlap(doc: dict[str, Any]) -> None:
    _panel(doc, INFLIGHT)["gridPos"]["x"] = 4


def outside_grid(doc: dict[str, Any]) -> None:
    _panel(doc, LATENCY)["gridPos"]["x"] = 20  # w=8: 28 columns


def unknown_datasource(doc: dict[str, Any]) -> None:
    _panel(doc, ERROR_RATIO)["datasource"]["uid"] = "promethues"


def undefined_datasource_variable(doc: dict[str, Any]) -> None:
    _panel(doc, LATENCY)["datasource"]["uid"] = "${ds}"


def old_schema_version(doc: dict[str, Any]) -> None:
    doc["schemaVersion"] = 27


def untagged(doc: dict[str, Any]) -> None:
    doc["tags"] = ["commerce-dev"]


def unsorted_steps(doc: dict[str, Any]) -> None:
    _steps(doc, ERROR_RATIO).reverse()


def wrong_threshold(doc: dict[str, Any]) -> None:
    _steps(doc, ERROR_RATIO)[2]["value"] = 0.03  # the catalog's critical is 2%


def wrong_severity_colour(doc: dict[str, Any]) -> None:
    s = _steps(doc, ERROR_RATIO)
    s[1]["color"], s[2]["color"] = s[2]["color"], s[1]["color"]


def wrong_below_colours(doc: dict[str, Any]) -> None:
    _steps(doc, HIT_RATIO)[0]["color"] = "green"  # below 75% must be red (critical)


def reads_another_series(doc: dict[str, Any]) -> None:
    _panel(doc, ERROR_RATIO)["targets"][0]["expr"] = 'service:request_rate:rate5m{service="checkout"}'


def trend_not_shown(doc: dict[str, Any]) -> None:
    heap = next(p for p in flat_panels(doc) if p.get("title") == "Heap usage")
    heap["targets"] = heap["targets"][:1]


def panel_missing(doc: dict[str, Any]) -> None:
    doc["panels"] = [p for p in doc["panels"] if p["id"] != ERROR_RATIO]


def not_in_a_folder(doc: dict[str, Any]) -> None:
    for folder in doc["folders"]:
        folder["dashboards"] = [u for u in folder["dashboards"] if u != "vigil-checkout"]


Mutation = Callable[[dict[str, Any]], None]
CASES: list[tuple[str, Mutation, str]] = [
    (CHECKOUT, duplicate_id, f"panel id {ERROR_RATIO} used twice"),
    (CHECKOUT, overlap, f"panel {INFLIGHT} overlaps panel {ERROR_RATIO}"),
    (CHECKOUT, outside_grid, f"panel {LATENCY}: gridPos x=20 w=8 y=22 h=8 is outside the 24-column grid"),
    (CHECKOUT, unknown_datasource, "unknown datasource uid 'promethues'"),
    (CHECKOUT, undefined_datasource_variable, "datasource ${ds} is not a datasource variable"),
    (CHECKOUT, old_schema_version, "schemaVersion: 27 is older than 36"),
    (CHECKOUT, untagged, "tags: no `vigil` tag"),
    (CHECKOUT, unsorted_steps, f"panel {ERROR_RATIO}: threshold steps must start with a null base and rise"),
    (
        CHECKOUT,
        wrong_threshold,
        "alert ErrorRatioHigh (critical) → vigil-checkout panel 10 (Error ratio): no threshold step at 0.02",
    ),
    (
        CHECKOUT,
        wrong_severity_colour,
        "ErrorRatioHigh (critical) → vigil-checkout panel 10 (Error ratio): the step at 0.02 is orange, not red",
    ),
    (
        REDIS,
        wrong_below_colours,
        "HitRatioLow (critical) → vigil-redis-cache panel 12 (Keyspace hit ratio): the region below 0.75 is green, not red",
    ),
    (
        CHECKOUT,
        reads_another_series,
        'panel 10 (Error ratio): the panel does not read service:error_ratio:ratio_rate5m{service="checkout"}',
    ),
    (
        CHECKOUT,
        trend_not_shown,
        "alert HeapUsageTrendingHigh (warning) → vigil-checkout panel 15 (Heap usage): the panel does not read service:heap_usage:predict_linear2h",
    ),
    (CHECKOUT, panel_missing, "alert ErrorRatioHigh (warning): dashboard vigil-checkout has no panel 10"),
    (FOLDERS, not_in_a_folder, "dashboard vigil-checkout is in 0 folders, not 1"),
]


@pytest.fixture
def broken(example_output: Path, tmp_path: Path) -> Callable[[str, Mutation], Path]:
    def make(rel: str, mutate: Mutation) -> Path:
        out = tmp_path / "output"
        shutil.copytree(example_output, out)
        doc = json.loads((out / rel).read_text())
        mutate(doc)
        (out / rel).write_text(json.dumps(doc))
        return out

    return make


def _check(report: CheckReport) -> CheckReport:
    for unit in (Lint(), AlertPanels(), Folders()):
        unit.run(report)
    return report


def _failures(out: Path) -> str:
    return "\n".join(_check(CheckReport(out=out)).failures)


def test_the_generated_dashboards_pass_every_check(example_output: Path) -> None:
    report = _check(CheckReport(out=example_output))
    assert report.failures == []
    assert report.checked[Lint.id] == 8
    assert report.checked[Folders.id] == 8
    assert report.checked[AlertPanels.id] > 100


def test_the_build_checks_what_it_rendered_in_memory(
    example_model: dict[str, Any], example_output: Path, tmp_path: Path
) -> None:
    """`vigil build` checks the dashboards and alerts it rendered without reading them back from
    disk: the same counts as the check on the files, and a broken deep link is caught there too."""
    on_files = _check(CheckReport(out=example_output))
    rendered = render_model(example_model, Cache(None), BuildReport())
    empty = tmp_path / "nothing-on-disk"
    in_memory = _check(CheckReport(out=empty, artefacts=rendered.files, alerts=rendered.alerts))
    assert in_memory.failures == [] and in_memory.checked == on_files.checked

    path, rule = next(
        (p, r)
        for p, r in rendered.alerts
        if linked_uid(r) == "vigil-checkout" and "?" in r["annotations"]["dashboard_url"]
    )
    wrong = {
        **rule,
        "annotations": {"dashboard_url": rule["annotations"]["dashboard_url"].split("?")[0] + "?viewPanel=999"},
    }
    broken = _check(CheckReport(out=empty, artefacts=rendered.files, alerts=[*rendered.alerts, (path, wrong)]))
    assert "dashboard vigil-checkout has no panel 999 (its viewPanel)" in "\n".join(broken.failures)


@pytest.mark.parametrize("rel, mutate, message", CASES, ids=[c[1].__name__ for c in CASES])
def test_each_check_catches_its_problem(
    broken: Callable[[str, Mutation], Path], rel: str, mutate: Mutation, message: str
) -> None:
    failures = _failures(broken(rel, mutate))
    assert message in failures


def test_vigil_check_runs_the_dashboard_checks(broken: Callable[[str, Mutation], Path]) -> None:
    with pytest.raises(CheckError, match="no threshold step at 0.02"):
        check_output(broken(CHECKOUT, wrong_threshold), tests=False)


def test_remembered_checks_still_catch_a_changed_dashboard(
    example_output: Path, tmp_path: Path, broken: Callable[[str, Mutation], Path]
) -> None:
    """The check cache (alert ↔ panel per rule file, amtool per config) remembers passes by content:
    a second run reuses them, and a dashboard that changed is checked again and fails."""
    cache = tmp_path / "cache"
    first = check_output(example_output, tests=False, cache_dir=cache)
    again = check_output(example_output, tests=False, cache_dir=cache)
    assert again.checked == first.checked and not again.failures
    assert again.stats["promtool/check-rules"]["shapes given to promtool"] == 0
    with pytest.raises(CheckError, match="no threshold step at 0.02"):
        check_output(broken(CHECKOUT, wrong_threshold), tests=False, cache_dir=cache)
