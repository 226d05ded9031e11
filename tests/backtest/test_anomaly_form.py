"""The backtest evaluates the anomaly alert as `abs(x - avg) > k * (sd > abs(avg) * g)`: the same
series at the same steps as the generated form, checked in a real Prometheus (both generations)
over a history with spikes, drops and a flat stretch; and only the generated shape is rewritten."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from fixtures.backfilled import backfilled_prometheus
from fixtures.small_catalog import write_catalog

from vigil.backtest.anomaly_form import single_pass
from vigil.backtest.client import BacktestAPI
from vigil.backtest.history import History
from vigil.backtest.rules import alert_rules, rule_files
from vigil.build import BuildReport, compile_catalog
from vigil.render.cache import Cache

START = (int(time.time()) // 3600) * 3600 - 8 * 3600
END = START + 6 * 3600
STEP = 60


def level(t: int) -> float:
    """Noise with spikes up and drops down."""
    minute = (t - START) // STEP
    return 100 + 10 * math.sin(minute / 7) + (60 if minute % 97 < 6 else 0) - (70 if minute % 131 < 5 else 0)


def history() -> History:
    """The three records the alert reads (value, baseline mean, baseline stddev), per instance: a
    noisy one, a flat one whose stddev is float noise (the guard), one whose value stops midway and
    one whose baseline starts late."""
    h = History(START, END, STEP)
    for instance in ("noisy", "gone", "late"):
        gone = instance == "gone"
        h.add(
            "x", "gauge", {"instance": instance}, lambda t, g=gone: level(t) if not g or t < START + 3 * 3600 else None
        )
        late = instance == "late"
        h.add(
            "x_avg", "gauge", {"instance": instance}, lambda t, lt=late: None if lt and t < START + 2 * 3600 else 100.0
        )
        h.add("x_sd", "gauge", {"instance": instance}, lambda t: 12.0)
    h.add("x", "gauge", {"instance": "flat"}, lambda t: 5.000000001)
    h.add("x_avg", "gauge", {"instance": "flat"}, lambda t: 5.0)
    h.add("x_sd", "gauge", {"instance": "flat"}, lambda t: 1e-15)
    return h


# The generated shape, over records (as the rule file has it, before the backtest expands them).
GENERATED = "x > x_avg + 2.5 * (x_sd > abs(x_avg) * 1e-09) or x < x_avg - 2.5 * (x_sd > abs(x_avg) * 1e-09)"


def test_the_generated_shape_is_rewritten_and_nothing_else() -> None:
    assert single_pass(GENERATED) == "abs(x - x_avg) > 2.5 * (x_sd > abs(x_avg) * 1e-09)"
    older = "m > avg + 3 * (sd > 0) or m < avg - 3 * (sd > 0)"  # the guard before 2026-11-27
    assert single_pass(older) == older
    assert single_pass("m > 3") == "m > 3"
    assert single_pass(GENERATED.replace("- 2.5", "- 3")) == GENERATED.replace("- 2.5", "- 3")  # asymmetric: as is


def test_every_generated_anomaly_alert_is_rewritten(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog")
    model = compile_catalog(catalog, BuildReport())[1]
    files = rule_files(model, Cache(None))
    rules, _ = alert_rules(model, files)
    anomaly = [r for r in rules if r.kind == "anomaly"]
    assert anomaly, "the small catalog has anomaly alerts"
    for r in anomaly:
        assert single_pass(r.expr) != r.expr and r.raw_expr.startswith("abs("), r.expr


@pytest.mark.parametrize("generation", ["bookworm", "current"], indirect=True)
def test_both_forms_return_the_same_series_at_the_same_steps(generation: str, tmp_path: Path) -> None:
    with backfilled_prometheus(history(), tmp_path) as url:
        api = BacktestAPI(url)

        def present(expr: str) -> dict[str, list[float]]:
            return {s.labels["instance"]: s.times for s in api.query_range_post(expr, START + 3600, END, STEP)}

        generated, rewritten = present(GENERATED), present(single_pass(GENERATED))
    assert generated == rewritten
    assert set(generated) == {"noisy", "gone", "late"}  # the flat one never: its stddev is float noise
    assert len(generated["noisy"]) > 10  # spikes and drops both, so the comparison has something to compare
