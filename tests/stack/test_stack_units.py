"""The pure parts of the local stack and the drill: binaries, Prometheus's scrape config, the
short-timing catalog, and the demo metrics staying inside every example threshold."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from conftest import CATALOG
from vigil import tools
from vigil.build import BuildReport, compile_catalog
from vigil.errors import ToolMissingError
from vigil.stack import local
from vigil.stack.demo_exporter import DemoExporter, services_from_spec
from vigil.stack.drill import drill_catalog


def test_missing_binaries_say_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, str(tmp_path / "no-tools"))
    with pytest.raises(ToolMissingError, match=r"run `make tools` \(scripts/tools.sh\)"):
        local.ensure_binaries()


def test_each_service_is_scraped_with_its_selector_labels(tmp_path: Path):
    spec = local.exporter_spec(CATALOG)
    config = local.prometheus_config(tmp_path, spec, "127.0.0.1:1", "127.0.0.1:2")
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    batch = jobs["demo-settlement-batch"]
    assert batch["metrics_path"] == "/metrics/settlement-batch"
    assert {r["target_label"]: r["replacement"] for r in batch["relabel_configs"]} == {
        "job": "node",
        "instance": "batch-01:9100",
    }
    assert config["rule_files"] == [str(tmp_path / "rules" / "*.yaml")]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:2"]


def test_the_drill_catalog_shortens_timings_and_keeps_secret_references(tmp_path: Path):
    env = drill_catalog(CATALOG, tmp_path / "c", "http://sink", "checkout", "error_ratio")
    assert env == {"OPS_NOC_WEBHOOK_URL": "http://sink/operations/chat"}
    _, model = compile_catalog(tmp_path / "c", BuildReport())
    assert model["settings"]["scrape_interval_seconds"] == 1 and model["settings"]["evaluation_interval_seconds"] == 1
    checkout = next(s for s in model["services"] if s["name"] == "checkout")
    error_ratio = next(m for m in checkout["metrics"] if m["id"] == "error_ratio")
    assert {t["for_seconds"] for t in error_ratio["thresholds"]} == {5} and error_ratio["window"] == "15s"
    assert [t["value"] for t in error_ratio["thresholds"]] == [0.005, 0.02]  # the catalog's thresholds
    departments = yaml.safe_load((tmp_path / "c" / "departments.yaml").read_text())
    urls = {d["id"]: [c["webhook"]["url"] for c in d["channels"].values()] for d in departments["departments"]}
    assert urls["operations"] == ["${OPS_NOC_WEBHOOK_URL}"] and urls["cs"] == ["http://sink/cs/chat"]


def _values(exporter: DemoExporter, service: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    _, body = exporter.scrape(service)
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for fam in text_string_to_metric_families(body.decode())
        for s in fam.samples
    }


def test_faults_move_the_metrics_the_profiles_read():
    spec = local.exporter_spec(CATALOG)
    exporter = DemoExporter(services_from_spec(spec))
    assert exporter.fault("checkout", "memory_leak", 0)[0] == 200
    assert exporter.fault("orders-mq", "memory_leak", 0)[0] == 400  # a queue has no heap
    for svc in exporter.services.values():
        svc.step(1.0, time.time() + 1)
    heap = [v for k, v in _values(exporter, "checkout").items() if k.startswith("jvm_memory_used_bytes") and "Old" in k]
    assert heap == [pytest.approx(0.98 * 2 * 1024**3)]
    assert exporter.fault("orders-mq", "dead", 0)[0] == 200
    assert exporter.scrape("orders-mq")[0] == 503
