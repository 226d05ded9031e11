"""`vigil preview`: dashboards drawn to PNG from a real Prometheus that scraped a test exporter."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import require
from vigil.check.dashboards import flat_panels
from vigil.render.dashboards import OVERVIEW_UID
from vigil.errors import VigilError
from vigil.reports.preview import format_value, preview
from vigil.stack import prometheus
from vigil.prometheus_api import PrometheusAPI

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from checkout_exporter import CheckoutExporter  # noqa: E402

RECORDS = ['service:request_rate:rate5m{service="checkout"}', 'service:error_ratio:ratio_rate5m{service="checkout"}']


@pytest.mark.parametrize("value, unit, text", [
    (0.0125, "percentunit", "1.25%"), (0.4, "s", "400 ms"), (0, "s", "0 s"), (90, "s", "1.5 min"), (3 * 1024**2, "bytes", "3 MiB"),
    (2048, "Bps", "2 KiB/s"), (12.5, "ops", "12.5 ops/s"), (14.4, "suffix:×", "14.4×"), (1500, "short", "1.5 K"),
    (0.99912, "percentunit", "99.91%"),
])
def test_values_are_written_in_the_panel_unit(value: float, unit: str, text: str) -> None:
    decimals = 2 if text == "99.91%" else None
    assert format_value(value, unit, decimals) == text


def test_an_unknown_dashboard_is_refused(example_output: Path, tmp_path: Path) -> None:
    with pytest.raises(VigilError, match="no dashboard vigil-nope"):
        preview(example_output, "http://127.0.0.1:9", tmp_path, uids=["vigil-nope"])


def _wait_for_data(api: PrometheusAPI, exprs: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(api.query(e, time.time()) for e in exprs):
            return
        time.sleep(0.5)
    pytest.fail(f"no data for {exprs} after {timeout}s")


@pytest.mark.integration
def test_preview_draws_every_panel_from_a_real_prometheus(generation: str, example_output: Path,
                                                          tmp_path: Path) -> None:
    require("prometheus")
    exporter = CheckoutExporter(incident_at=0, ramp=10)   # errors from the start: every record gets data
    target = exporter.start(prometheus.free_port())
    try:
        rules = [example_output / "prometheus" / "rules" / "checkout.yaml"]
        with prometheus.start(tmp_path / "prometheus", {"checkout": [target]}, rules) as server:
            _wait_for_data(server.api, RECORDS, timeout=60)
            shots = preview(example_output, server.url, tmp_path / "png", uids=["vigil-checkout", OVERVIEW_UID],
                            range_seconds=120)
    finally:
        exporter.stop()

    assert [s.uid for s in shots] == ["vigil-checkout", OVERVIEW_UID]
    for shot in shots:
        assert shot.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(shot.path) as image:
            assert image.format == "PNG" and image.width == 1920
        doc = json.loads((example_output / "grafana" / "dashboards" / f"{shot.uid}.json").read_text())
        assert [(p.id, p.title) for p in shot.panels] == [(p["id"], p.get("title", "")) for p in flat_panels(doc)]
        # Every query of every generated panel is PromQL that a real Prometheus accepts.
        assert [(p.id, p.error) for p in shot.panels if p.error] == []
    drawn = {p.title: p.series for p in shots[0].panels}
    assert drawn["Error ratio"] >= 1 and drawn["Request rate"] >= 1 and drawn["Critical alerts"] == 1


def test_vigil_preview_command_reports_a_missing_dashboard(example_output: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from vigil.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(["preview", "--out", str(example_output), "--prometheus", "http://127.0.0.1:9",
              "--dashboard", "vigil-nope", "--dest", str(tmp_path)])
    assert exit_.value.code == 1 and "no dashboard vigil-nope" in capsys.readouterr().err
