"""The anomaly alert's `for` and `keep_firing_for` (hysteresis): defaults from defaults.yaml, a
catalog's own values win, `0s` turns hysteresis off, and catalogs written before the knob existed
(`for: 15m`, no keep_firing_for) stay valid."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from fixtures.small_catalog import DEPARTMENTS

from vigil.backtest.rules import alert_rules, rule_files
from vigil.build import BuildReport, compile_catalog
from vigil.render.cache import Cache
from vigil.units import parse_duration


def anomaly_alert(tmp_path: Path, anomaly: str) -> dict:
    root = tmp_path / "catalog"
    (root / "services").mkdir(parents=True)
    (root / "departments.yaml").write_text(DEPARTMENTS)
    (root / "services" / "api.yaml").write_text(
        f"name: api\nowner: commerce-dev\nselector: {{job: api}}\nprofiles: [http]\nmetrics:\n  request_rate: {{anomaly: {anomaly}}}\n"
    )
    _, model = compile_catalog(root, BuildReport())
    files = rule_files(model, Cache(tmp_path / "cache"))
    (alert,) = [
        r for doc in files.values() for g in doc["groups"] for r in g["rules"] if r.get("alert") == "RequestRateAnomaly"
    ]
    rules, _ = alert_rules(model, files)
    (rule,) = [r for r in rules if r.alert == "RequestRateAnomaly"]
    # What the backtest replays is what Prometheus is given.
    assert rule.keep_firing_for_seconds == parse_duration(alert.get("keep_firing_for") or 0)
    return alert


@pytest.mark.parametrize(
    "anomaly, for_, keep",
    [
        ("{sensitivity: 3}", "5m", "2h"),  # defaults.yaml
        ("{sensitivity: 3, for: 15m}", "15m", "2h"),  # a catalog from before the knob
        ("{sensitivity: 3, for: 10m, keep_firing_for: 30m}", "10m", "30m"),
        ("{sensitivity: 3, keep_firing_for: 0s}", "5m", None),  # off: no field at all
    ],
)
def test_anomaly_for_and_keep_firing_for(tmp_path, anomaly, for_, keep):
    alert = anomaly_alert(tmp_path, anomaly)
    assert alert["for"] == for_
    assert alert.get("keep_firing_for") == keep


def test_a_bad_keep_firing_for_is_named(tmp_path):
    from vigil.errors import CatalogError

    with pytest.raises(CatalogError) as info:
        anomaly_alert(tmp_path, "{sensitivity: 3, keep_firing_for: soon}")
    assert "keep_firing_for" in str(info.value)


@pytest.mark.parametrize("generation", ["bookworm", "current"], indirect=True)
@pytest.mark.parametrize(
    "stddev, fires",
    [
        ("1e-15", False),  # a flat baseline: its spread is float noise, whatever the z-score says
        ("0.5", True),  # a real spread: 13 is more than 3σ above 10
    ],
)
def test_a_flat_baseline_never_pages_on_float_noise(tmp_path, generation, stddev, fires):
    """promtool itself, on the generated alert: the current value 1e-12 above a baseline whose
    stddev is 1e-15 is a z-score of 1000, and must not page; 13 against 10 ± 0.5 must."""
    alert = anomaly_alert(tmp_path, "{sensitivity: 3, for: 0s, keep_firing_for: 0s}")
    labels = '{service="api"}'
    value = "10.000000000001" if not fires else "13"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [alert]}]}))
    expected = (
        [
            {
                "exp_labels": alert["labels"],
                "exp_annotations": {
                    k: v.replace("{{ $value | humanize }}", "13") for k, v in alert["annotations"].items()
                },
            }
        ]
        if fires
        else []
    )
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"service:request_rate:rate5m{labels}", "values": f"{value}x5"},
                    {"series": f"service:request_rate:rate5m_avg_over_time7d{labels}", "values": "10x5"},
                    {"series": f"service:request_rate:rate5m_stddev_over_time7d{labels}", "values": f"{stddev}x5"},
                ],
                "alert_rule_test": [{"eval_time": "2m", "alertname": "RequestRateAnomaly", "exp_alerts": expected}],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    run = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
