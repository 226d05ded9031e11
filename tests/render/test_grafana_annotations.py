"""output/grafana/annotations.json: the postmortems as Grafana region annotations, one per
postmortem per dashboard (the service's and each involved dependency's)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import CATALOG
from vigil.build import BuildReport, build, compile_catalog
from vigil.errors import CatalogError
from vigil.layout import ANNOTATIONS_FILE
from vigil.render.grafana_annotations import epoch_ms, region_annotations, render


def test_one_region_per_postmortem_per_dashboard_from_the_model(example_model: dict[str, Any]):
    got = region_annotations(example_model)  # type: ignore[arg-type]
    uid = {s["name"]: s["dashboard"]["uid"] for s in example_model["services"]}
    pms = {pm["id"]: pm for pm in example_model["postmortems"]}
    want = sorted((pm["id"], uid[s]) for pm in pms.values() for s in [pm["service"], *pm["dependencies_involved"]])
    assert [(a["postmortem"], a["dashboardUID"]) for a in got] == want  # sorted, no duplicates
    assert len(got) == 6
    for a in got:
        pm = pms[a["postmortem"]]
        assert a["time"] == epoch_ms(pm["occurred"]) and a["timeEnd"] == epoch_ms(pm["resolved"])
        assert a["tags"] == sorted(
            ["vigil", f"vigil-postmortem:{pm['id']}", f"service:{pm['service']}", f"severity:{pm['severity']}"]
        )
    # 2026-05-02T13:40:00+09:00 is 04:40 UTC: the offset is honoured, in epoch milliseconds
    payment = next(a for a in got if a["dashboardUID"] == "vigil-payment")
    assert payment["time"] == 1777696800000
    orders_db = next(a for a in got if a["dashboardUID"] == "vigil-orders-db")
    assert "orders-db was involved" in orders_db["text"] and "was involved" not in payment["text"]


def test_the_text_escapes_the_postmortem_and_links_to_the_page_when_a_url_is_set(example_model: dict[str, Any]):
    model = copy.deepcopy(example_model)
    model["postmortems"][0]["title"] = 'Carts <script>alert("x")</script> & more'
    plain = region_annotations(model)  # type: ignore[arg-type]
    first = next(a for a in plain if a["postmortem"] == model["postmortems"][0]["id"])
    assert "<script>" not in first["text"] and "&lt;script&gt;" in first["text"] and "&amp; more" in first["text"]
    assert f"({model['postmortems'][0]['file']})" in first["text"] and "<a " not in first["text"]
    model["settings"]["postmortems_url"] = "https://ops.example.com/postmortems/index.html"
    linked = region_annotations(model)  # type: ignore[arg-type]
    pm_id = model["postmortems"][0]["id"]
    mine = next(a for a in linked if a["postmortem"] == pm_id)
    assert f'<a href="https://ops.example.com/postmortems/index.html#{pm_id}">{pm_id}</a>' in mine["text"]


def test_a_catalog_without_postmortems_writes_an_empty_list(example_model: dict[str, Any]):
    """Written anyway: deploy reads "no annotation wanted", and --prune removes deleted ones."""
    model = {k: v for k, v in example_model.items() if k != "postmortems"}
    assert json.loads(render(model)[ANNOTATIONS_FILE]) == {"annotations": []}  # type: ignore[arg-type]


def test_postmortems_url_is_a_setting_of_vigil_yaml(catalog_copy: Callable[[], Path], tmp_path: Path):
    catalog = catalog_copy()
    settings = catalog / "vigil.yaml"
    original = settings.read_text()
    settings.write_text(original + "postmortems_url: https://ops.example.com/postmortems/index.html\n")
    _, model = compile_catalog(catalog, BuildReport())
    assert model["settings"]["postmortems_url"] == "https://ops.example.com/postmortems/index.html"
    out = tmp_path / "out"
    build(catalog, out, run_checks=False, cache_dir=None)
    written = json.loads((out / ANNOTATIONS_FILE).read_text())["annotations"]
    assert all('<a href="https://ops.example.com/postmortems/index.html#' in a["text"] for a in written)
    settings.write_text(original + "postmortems_url: ops/postmortems\n")
    with pytest.raises(CatalogError, match=r"vigil.yaml:\d+: postmortems_url"):
        compile_catalog(catalog, BuildReport())


def test_the_example_catalog_model_has_no_postmortems_url():
    """Unset, the setting is absent from the model: catalogs that do not use it are unchanged."""
    _, model = compile_catalog(CATALOG, BuildReport())
    assert "postmortems_url" not in model["settings"]
