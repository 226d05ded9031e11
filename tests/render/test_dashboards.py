"""The generated dashboards: what an on-call engineer sees, built from the example catalog."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import CATALOG, SHARED
from vigil.build import build
from vigil.check.dashboards import flat_panels
from vigil.errors import RenderError
from vigil.layout import FOLDERS_FILE
from vigil.render.dashboards import OVERVIEW_UID, PALETTE


def dashboard(out: Path, uid: str) -> dict[str, Any]:
    return json.loads((out / "grafana" / "dashboards" / f"{uid}.json").read_text())


def panel(doc: dict[str, Any], pid: int) -> dict[str, Any]:
    return next(p for p in flat_panels(doc) if p["id"] == pid)


def service(model: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in model["services"] if s["name"] == name)


def metric(model: dict[str, Any], name: str, mid: str) -> dict[str, Any]:
    return next(m for m in service(model, name)["metrics"] if m["id"] == mid)


def steps(p: dict[str, Any]) -> list[tuple[Any, str]]:
    return [(s["value"], s["color"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_build_writes_a_dashboard_per_service_in_its_department_folder(
    example_output: Path, example_model: dict
) -> None:
    folders = json.loads((example_output / FOLDERS_FILE).read_text())
    placed = {uid: f for f in folders["folders"] for uid in f["dashboards"]}
    for s in example_model["services"]:
        doc = dashboard(example_output, s["dashboard"]["uid"])
        assert doc["uid"] == s["dashboard"]["uid"] and doc["title"] == s["dashboard"]["title"]
        assert {"vigil", s["owner"]} <= set(doc["tags"])
        folder = placed[doc["uid"]]
        assert (folder["department"], folder["title"], folder["uid"]) == (
            s["owner"],
            s["dashboard"]["folder_title"],
            s["dashboard"]["folder_uid"],
        )
    assert folders["general"] == [OVERVIEW_UID]
    assert "vigil" in dashboard(example_output, OVERVIEW_UID)["tags"]


def test_key_metric_panels_read_the_alert_series_with_the_catalog_thresholds(
    example_output: Path, example_model: dict
) -> None:
    for s in example_model["services"]:
        doc = dashboard(example_output, s["dashboard"]["uid"])
        for m in s["metrics"]:
            p = panel(doc, m["panel_id"])
            assert p["type"] == "timeseries" and p["title"] == m["title"]
            assert p["targets"][0]["expr"].startswith(m["record"] + '{service="' + s["name"] + '"')
            assert p["fieldConfig"]["defaults"]["unit"] == m["grafana_unit"]
            assert [v for v, _ in steps(p)[1:]] == sorted(t["value"] for t in m["thresholds"])
            assert m["description"] in p["description"]


def test_threshold_colours_follow_the_metric_direction(example_output: Path, example_model: dict) -> None:
    # Above: green, then orange at warning, red at critical, drawn as lines.
    p = panel(dashboard(example_output, "vigil-checkout"), metric(example_model, "checkout", "error_ratio")["panel_id"])
    assert steps(p) == [(None, "green"), (0.005, "orange"), (0.02, "red")]
    assert p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line"}
    # Below: the bad side is low, so red is the base and each threshold opens the better colour.
    hit = metric(example_model, "redis-cache", "hit_ratio")
    p = panel(dashboard(example_output, "vigil-redis-cache"), hit["panel_id"])
    assert steps(p) == [(None, "red"), (0.75, "orange"), (0.9, "green")]
    assert p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line+area"}


def test_trend_projection_and_anomaly_band(example_output: Path, example_model: dict) -> None:
    doc = dashboard(example_output, "vigil-checkout")
    heap = metric(example_model, "checkout", "heap_usage")
    p = panel(doc, heap["panel_id"])
    assert heap["trend"]["record"] + '{service="checkout"}' in [t["expr"] for t in p["targets"]]
    assert p["fieldConfig"]["overrides"][0]["matcher"] == {"id": "byFrameRefID", "options": "B"}

    rate = metric(example_model, "checkout", "request_rate")
    p = panel(doc, rate["panel_id"])
    exprs = {t["refId"]: t for t in p["targets"]}
    band = f'{rate["anomaly"]["avg_record"]}{{service="checkout"}} + 3 * {rate["anomaly"]["stddev_record"]}{{service="checkout"}}'
    assert exprs["C"]["expr"] == band
    upper = next(o for o in p["fieldConfig"]["overrides"] if o["matcher"]["options"] == "C")
    assert {"id": "custom.fillBelowTo", "value": exprs["D"]["legendFormat"]} in upper["properties"]


def test_header_shows_firing_alerts_slos_owner_and_runbook(example_output: Path, example_model: dict) -> None:
    s = service(example_model, "checkout")
    doc = dashboard(example_output, "vigil-checkout")
    header = [p for p in doc["panels"] if p["id"] < 10]
    exprs = " ".join(t["expr"] for p in header for t in p.get("targets", []))
    for wanted in [
        'ALERTS{service="checkout",alertstate="firing",severity="critical"}',
        'ALERTS{service="checkout",alertstate="firing",severity="warning"}',
        'slo:error_budget:remaining_ratio{service="checkout",slo="availability"}',
        'slo:burn_rate:ratio_rate1h{service="checkout",slo="latency"}',
        'slo:sli_error:ratio_rate30d{service="checkout",slo="availability"}',
    ]:
        assert wanted in exprs
    about = next(p for p in header if p["type"] == "text")["options"]["content"]
    assert s["owner_name"] in about and s["runbook_url"] in about and "Tier:** 1" in about
    for slo in s["slos"]:  # the SLO panel burn-rate alerts link to
        assert panel(doc, slo["panel_id"])["fieldConfig"]["defaults"]["thresholds"]["steps"][-1] == {
            "color": PALETTE["critical"],
            "value": 14.4,
        }


def test_alert_annotations_variables_and_links(example_output: Path, example_model: dict) -> None:
    s = service(example_model, "checkout")
    doc = dashboard(example_output, "vigil-checkout")
    annotations = {a["name"]: a for a in doc["annotations"]["list"]}
    assert (
        annotations["Critical alerts"]["expr"] == 'ALERTS{service="checkout",alertstate="firing",severity="critical"}'
    )
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == example_model["settings"]["datasource_uid"]
    assert variables["instance"]["query"] == 'label_values(up{job="checkout"}, instance)'
    urls = {link.get("url") for link in doc["links"]}
    deps = [service(example_model, d)["dashboard"]["url"] for d in s["dependencies"]]
    assert {s["runbook_url"], f"{example_model['settings']['grafana_url']}/d/{OVERVIEW_UID}/overview", *deps} <= urls


def test_dependencies_row_shows_their_key_metrics_linking_to_their_dashboards(
    example_output: Path, example_model: dict
) -> None:
    doc = dashboard(example_output, "vigil-checkout")
    rows = [p for p in doc["panels"] if p["type"] == "row"]
    deps_row = next(r for r in rows if r["title"] == "Dependencies")
    below = [p for p in doc["panels"] if p["gridPos"]["y"] > deps_row["gridPos"]["y"]]
    redis = service(example_model, "redis-cache")
    memory = next(m for m in redis["metrics"] if m["id"] == "memory_usage")
    p = next(p for p in below if p["title"] == "redis-cache: " + memory["title"])
    assert p["targets"][0]["expr"] == memory["record"] + '{service="redis-cache"}'
    assert [link["url"] for link in p["links"]] == [memory["dashboard_url"]]
    status = next(p for p in below if p["title"] == "redis-cache: status")
    assert status["links"][0]["url"] == redis["dashboard"]["url"]
    assert {p["title"].split(":")[0] for p in below} == set(service(example_model, "checkout")["dependencies"])


def test_overview_groups_services_by_department_with_status_budget_and_link(
    example_output: Path, example_model: dict
) -> None:
    doc = dashboard(example_output, OVERVIEW_UID)
    rows = sorted((p for p in doc["panels"] if p["type"] == "row"), key=lambda p: p["gridPos"]["y"])
    titles = {s["dashboard"]["folder_title"] for s in example_model["services"]}
    assert {r["title"] for r in rows} == titles
    for s in example_model["services"]:
        tile = next(p for p in doc["panels"] if p["title"] == s["name"])
        row = max((r for r in rows if r["gridPos"]["y"] < tile["gridPos"]["y"]), key=lambda r: r["gridPos"]["y"])
        assert row["title"] == s["dashboard"]["folder_title"]
        assert tile["links"][0]["url"] == s["dashboard"]["url"]
        exprs = [t["expr"] for t in tile["targets"]]
        assert f'ALERTS{{service="{s["name"]}",alertstate="firing",severity="critical"}}' in exprs[0]
        assert (len(exprs) == 2) == bool(s["slos"])


def test_alert_dashboard_urls_open_the_panel_of_their_key_metric(example_output: Path, example_model: dict) -> None:
    rules = yaml.safe_load((example_output / "prometheus/rules/checkout.yaml").read_text())
    alert = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "ErrorRatioHigh")
    error_ratio = metric(example_model, "checkout", "error_ratio")
    grafana = yaml.safe_load((CATALOG / "vigil.yaml").read_text())["grafana_url"]
    assert (
        alert["annotations"]["dashboard_url"]
        == f"{grafana}/d/vigil-checkout/checkout?viewPanel={error_ratio['panel_id']}"
    )
    assert panel(dashboard(example_output, "vigil-checkout"), error_ratio["panel_id"])["title"] == "Error ratio"


def _relaxed(schema: dict[str, Any]) -> dict[str, Any]:
    """Grafana's schema, less the three paths its README lists as false positives (Grafana accepts
    a string matcher option, a scalar override value and a string variable query)."""
    schema = copy.deepcopy(schema)
    d = schema["definitions"]
    d["MatcherConfig"]["properties"]["options"] = {}
    d["DynamicConfigValue"]["properties"]["value"] = {}
    d["VariableModel"]["properties"]["query"] = {}
    return schema


@pytest.mark.skipif(not (SHARED / "grafana-schema").exists(), reason="no ../shared/grafana-schema")
def test_dashboards_validate_against_grafana_schemas(example_output: Path) -> None:
    folder = SHARED / "grafana-schema"
    load = lambda name: json.loads((folder / f"{name}.jsonschema.json").read_text())
    dash = jsonschema.Draft7Validator(_relaxed(load("dashboard")))
    query = jsonschema.Draft7Validator(load("prometheus"))
    errors = []
    files = sorted((example_output / "grafana" / "dashboards").glob("*.json"))
    for path in files:
        doc = json.loads(path.read_text())
        errors += [f"{path.name}: {list(e.absolute_path)}: {e.message}" for e in dash.iter_errors(doc)]
        for p in flat_panels(doc):
            if p["type"] == "row":
                continue
            kind = load(p["type"])
            part = lambda name, kind=kind: {**kind, "$ref": f"#/definitions/{name}"}
            errors += [
                f"{path.name} panel {p['id']} options: {e.message}"
                for e in jsonschema.Draft7Validator(part("Options")).iter_errors(p["options"])
            ]
            if "FieldConfig" in kind["definitions"]:
                errors += [
                    f"{path.name} panel {p['id']} custom: {e.message}"
                    for e in jsonschema.Draft7Validator(part("FieldConfig")).iter_errors(
                        p["fieldConfig"]["defaults"].get("custom", {})
                    )
                ]
            errors += [
                f"{path.name} panel {p['id']} target: {e.message}" for t in p["targets"] for e in query.iter_errors(t)
            ]
    assert len(files) == 8 and errors == []


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rebuilds_are_byte_identical(tmp_path: Path, example_output: Path) -> None:
    expected = _tree(example_output / "grafana")  # built without a cache
    cache = tmp_path / "cache"
    build(CATALOG, tmp_path / "first", run_checks=False, cache_dir=cache)
    build(CATALOG, tmp_path / "cached", run_checks=False, cache_dir=cache)  # every dashboard from the cache
    assert len(expected) == 10  # 8 dashboards, folders.json, annotations.json
    assert _tree(tmp_path / "first" / "grafana") == expected
    assert _tree(tmp_path / "cached" / "grafana") == expected


def test_a_service_named_like_the_overview_is_refused(catalog_copy: Any, tmp_path: Path) -> None:
    catalog = catalog_copy()
    doc = yaml.safe_load((catalog / "services" / "redis-cache.yaml").read_text())
    (catalog / "services" / "overview.yaml").write_text(yaml.safe_dump({**doc, "name": "overview"}))
    with pytest.raises(RenderError, match="vigil-overview"):
        build(catalog, tmp_path / "out", run_checks=False)
