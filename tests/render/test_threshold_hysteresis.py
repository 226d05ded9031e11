"""A key metric's `keep_firing_for` (threshold alerts' hysteresis): off by default (no field, so
catalogs written before it render the same rules), one duration or one per severity, a bad value
named; and promtool itself, on both generations, keeps the generated alert firing after the metric
is back under the threshold, then resolves it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.small_catalog import DEPARTMENTS

from vigil.backtest.rules import alert_rules, rule_files
from vigil.build import BuildReport, compile_catalog
from vigil.render.cache import Cache
from vigil.units import parse_duration


def threshold_alerts(tmp_path: Path, extra: str) -> tuple[dict[str, dict[str, Any]], str]:
    """The QueueDepthHigh alerts by severity, and the metric's record name."""
    root = tmp_path / "catalog"
    (root / "services").mkdir(parents=True)
    (root / "departments.yaml").write_text(DEPARTMENTS)
    (root / "services" / "api.yaml").write_text(
        "name: api\nowner: commerce-dev\nselector: {job: api}\nmetrics:\n  queue_depth:\n"
        "    expr: sum(queue_depth{$selector})\n    warning: 100\n    critical: 200\n    for: 2m\n" + extra
    )
    _, model = compile_catalog(root, BuildReport())
    files = rule_files(model, Cache(tmp_path / "cache"))
    alerts = {
        r["labels"]["severity"]: r
        for doc in files.values()
        for g in doc["groups"]
        for r in g["rules"]
        if r.get("alert") == "QueueDepthHigh"
    }
    rules, _ = alert_rules(model, files)
    for r in rules:
        if r.alert == "QueueDepthHigh":  # what the backtest replays is what Prometheus is given
            assert r.keep_firing_for_seconds == parse_duration(alerts[r.severity].get("keep_firing_for") or 0)
    return alerts, model["services"][0]["metrics"][0]["record"]


@pytest.mark.parametrize(
    "extra, warning, critical",
    [
        ("", None, None),  # the default: off, no field at all
        ("    keep_firing_for: 30m\n", "30m", "30m"),
        ("    keep_firing_for: {warning: 1h}\n", "1h", None),  # the other severity keeps the default
        ("    keep_firing_for: {warning: 2h, critical: 15m}\n", "2h", "15m"),
    ],
)
def test_keep_firing_for_per_severity(tmp_path: Path, extra: str, warning: str | None, critical: str | None) -> None:
    alerts, _ = threshold_alerts(tmp_path, extra)
    assert alerts["warning"].get("keep_firing_for") == warning
    assert alerts["critical"].get("keep_firing_for") == critical
    assert alerts["warning"]["for"] == alerts["critical"]["for"] == "2m"


def test_a_bad_keep_firing_for_is_named(tmp_path: Path) -> None:
    from vigil.errors import CatalogError

    with pytest.raises(CatalogError) as info:
        threshold_alerts(tmp_path, "    keep_firing_for: soon\n")
    assert "keep_firing_for" in str(info.value) and "api.yaml" in str(info.value)


@pytest.mark.parametrize("generation", ["bookworm", "current"], indirect=True)
def test_promtool_keeps_the_alert_firing_after_the_metric_recovers(tmp_path: Path, generation: str) -> None:
    """150 (above the warning, 100) from 1m to 4m, 50 after: firing at 3m (`for: 2m`); with
    keep_firing_for 10m still firing at 10m, five minutes after the metric recovered, and resolved
    by 16m; without it, resolved at 6m."""
    kept, record = threshold_alerts(tmp_path / "kept", "    keep_firing_for: {warning: 10m}\n")
    plain, _ = threshold_alerts(tmp_path / "plain", "")
    labels = '{service="api"}'
    series = [{"series": f"{record}{labels}", "values": "50 150 150 150 150 50x15"}]

    def firing(alert: dict[str, Any]) -> list[dict[str, Any]]:
        annotations = {k: v.replace("{{ $value | humanize }}", "150") for k, v in alert["annotations"].items()}
        return [{"exp_labels": alert["labels"], "exp_annotations": annotations}]

    for name, alert, at in (
        ("kept", kept["warning"], [("3m", True), ("10m", True), ("16m", False)]),
        ("plain", plain["warning"], [("3m", True), ("6m", False)]),
    ):
        folder = tmp_path / name
        (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [alert]}]}))
        checks = [
            {"eval_time": t, "alertname": "QueueDepthHigh", "exp_alerts": firing(alert) if on else []} for t, on in at
        ]
        test = {
            "rule_files": ["rules.yaml"],
            "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}],
        }
        (folder / "test.yaml").write_text(yaml.safe_dump(test))
        run = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=folder, capture_output=True, text=True)
        assert run.returncode == 0, f"{name}: {run.stdout}{run.stderr}"
