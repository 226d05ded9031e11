"""The fault drill: its short-timing catalog and floors per alert kind (pure), and end to end on
real Prometheus and Alertmanager processes: `vigil stack up`, a deploy of the short-timing catalog,
a fault at the demo exporter, and every department the propagation policy names told through
Alertmanager. The SLO page drill is not run here: it first waits until its 3m window holds no
earlier fault, so it runs in the benchmark (bench/detect.py) only."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml

from conftest import CATALOG, require
from tool_generations import GENERATIONS, on_path
from vigil.build import BuildReport, compile_catalog
from vigil.stack import local
from vigil.stack.drill import DrillError, drill_catalog, run_drill
from vigil.stack.drill_plan import floor_parts, pick, predict

integration = pytest.mark.integration


# --- the short-timing catalog and the floors (no processes) -----------------------------------------

def _drilled(tmp_path: Path, fault: str, kind: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """(the drill catalog's checkout, the drill's target, checkout's written YAML)."""
    _, source = compile_catalog(CATALOG, BuildReport())
    _, target = pick(source, "checkout", fault, kind)
    drill_catalog(CATALOG, tmp_path / "c", "http://sink", "checkout", target.key, kind)
    _, model = compile_catalog(tmp_path / "c", BuildReport())       # raises unless the written catalog validates
    svc, target = pick(model, "checkout", fault, kind)
    written = yaml.safe_load((tmp_path / "c" / "services" / "checkout.yaml").read_text())
    return svc, (target, model), written


def _metric(svc: dict[str, Any], mid: str) -> dict[str, Any]:
    return next(m for m in svc["metrics"] if m["id"] == mid)


def test_threshold_kind_shortens_only_the_drilled_metric(tmp_path: Path):
    svc, (target, model), _ = _drilled(tmp_path, "error_spike", "threshold")
    assert (target.labels["alertname"], target.labels["severity"]) == ("ErrorRatioHigh", "critical")
    error_ratio = _metric(svc, "error_ratio")
    assert {t["for_seconds"] for t in error_ratio["thresholds"]} == {5} and error_ratio["window"] == "15s"
    assert [t["value"] for t in error_ratio["thresholds"]] == [0.005, 0.02]           # the catalog's thresholds
    assert {t["for"] for t in _metric(svc, "heap_usage")["thresholds"]} == {"5m"}      # other metrics untouched
    assert floor_parts(svc, target, "error_spike", model["settings"]) == {"scrape": 1, "evaluation": 1, "for": 5}


def test_trend_kind_compresses_the_trend_alert_only(tmp_path: Path):
    svc, (target, model), written = _drilled(tmp_path, "memory_leak", "trend")
    assert (target.labels["alertname"], target.labels["severity"]) == ("HeapUsageTrendingHigh", "warning")
    heap = _metric(svc, "heap_usage")
    # The catalog's 2h ahead from 1h becomes 20s ahead from 10s: the same shape, compressed.
    assert {k: heap["trend"][k] for k in ("within", "window", "for")} == {"within": "20s", "window": "10s", "for": "5s"}
    assert [(t["value"], t["for"]) for t in heap["thresholds"]] == [(0.85, "5m"), (0.9, "5m")]   # catalog's
    assert written["metrics"]["heap_usage"]["warning"] == "85%" and target.lookback == 10
    assert _metric(svc, "error_ratio")["window"] == "5m"


def test_slo_kind_shortens_the_page_of_that_slo_and_writes_no_metric(tmp_path: Path):
    svc, (target, model), written = _drilled(tmp_path, "error_spike", "slo")
    assert (target.key, target.labels["alertname"], target.labels["severity"]) == \
        ("availability", "AvailabilityErrorBudgetBurn", "critical")
    assert "availability" not in (written.get("metrics") or {})        # an SLO is no key metric (CatalogError)
    entry = next(s for s in written["slos"] if s["name"] == "availability")
    assert entry["objective"] == "99.9%"
    slo = next(s for s in svc["slos"] if s["name"] == "availability")
    page, ticket = (next(a for a in slo["alerts"] if a["severity"] == sev) for sev in ("critical", "warning"))
    # Every page window divided by 120, the factors (thresholds) kept.
    assert page["for"] == "5s" and [(w["short"], w["long"], w["factor"]) for w in page["windows"]] == \
        [("2s500ms", "30s", 14.4), ("15s", "3m", 6.0)]
    assert ticket["for"] == "15m" and ticket["windows"][0]["long"] == "1d"             # the ticket is the catalog's
    latency = next(s for s in svc["slos"] if s["name"] == "latency")
    assert next(a for a in latency["alerts"] if a["severity"] == "critical")["for"] == "2m"   # other SLOs untouched
    assert target.lookback == 180


def test_slo_floor_includes_the_burn_accrual(tmp_path: Path):
    svc, (target, model), _ = _drilled(tmp_path, "error_spike", "slo")
    parts = floor_parts(svc, target, "error_spike", model["settings"])
    # The demo's availability: 0.1% of requests fail, 25.1% under error_spike; budget 0.1%. The 30s
    # window needs 30 × (14.4 × 0.1% − 0.1%) / (25.1% − 0.1%) s before it burns at 14.4× (≈ 14.4 × b × L / r).
    assert parts == {"scrape": 1, "evaluation": 1, "burn": pytest.approx(30 * (0.0144 - 0.001) / 0.25, abs=0.01), "for": 5}
    assert "2s500ms/30s pair at 14.4×" in target.notes[0] and "15s/3m at 6× would need 3.60s" in target.notes[0]
    # latency: 30% of requests slower than 500ms at full severity, none before; budget 1%.
    svc, (target, model), _ = _drilled(tmp_path / "latency", "latency", "slo")
    assert target.key == "latency"
    assert floor_parts(svc, target, "latency", model["settings"])["burn"] == pytest.approx(30 * 0.144 / 0.3, abs=0.01)


def test_trend_floor_is_the_projection_crossing_on_the_ramp(tmp_path: Path):
    svc, (target, model), _ = _drilled(tmp_path, "memory_leak", "trend")
    # predict_linear on a line is the line itself, `within` ahead.
    assert predict(lambda t: 2 + 0.5 * t, 100.0, 10.0, 20.0, 1.0) == pytest.approx(2 + 0.5 * 120)
    # heap 60% → 98% over the ramp (demo exporter). With a 120s ramp the crossing comes after the
    # whole window is on the ramp, where the projection is value + slope × within:
    # 0.6 + s (t + 20) = 0.9 with s = 0.38 / 120 → t = 0.3 / s − 20.
    slow = floor_parts(svc, target, "memory_leak", model["settings"], ramp=120.0)
    assert slow["projection"] == pytest.approx(0.3 / (0.38 / 120) - 20, abs=0.1)
    # The drill's 30s ramp: the crossing comes while the window still holds the flat start.
    target.notes.clear()
    parts = floor_parts(svc, target, "memory_leak", model["settings"])
    assert 0 < parts["projection"] < 0.3 / (0.38 / 30) - 20 + 10 and parts["for"] == 5
    assert "first exceeds 90%" in target.notes[0]


def test_a_trend_that_cannot_fire_before_the_value_crosses_is_refused(tmp_path: Path):
    svc, (target, model), _ = _drilled(tmp_path, "memory_leak", "trend")
    # 1s ahead: the projection leads the value by too little for `for` to pass before the value
    # itself crosses 90% (and the condition requires it not to have).
    _metric(svc, "heap_usage")["trend"]["within_seconds"] = 1
    with pytest.raises(DrillError, match="cannot fire"):
        floor_parts(svc, target, "memory_leak", model["settings"])


def test_a_fault_that_shows_in_no_alert_of_the_kind_is_refused():
    _, model = compile_catalog(CATALOG, BuildReport())
    with pytest.raises(DrillError, match="memory_leak breaks no SLI"):
        pick(model, "checkout", "memory_leak", "slo")
    with pytest.raises(DrillError, match="no trend alert"):
        pick(model, "checkout", "error_spike", "trend")


# --- on real processes ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=GENERATIONS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.Stack]:
    """The stack on each tool generation: the drills prove that each Prometheus fires the alerts and
    each Alertmanager routes them (the drill's deploy and checks run with that generation too)."""
    with on_path(request.param):
        require("prometheus")
        state = tmp_path_factory.mktemp(f"stack-{request.param}") / ".vigil-stack"
        try:
            yield local.up(state, CATALOG)
        finally:
            local.down(state)


@integration
def test_the_stack_scrapes_every_service_of_the_catalog(stack: local.Stack):
    assert local.up(stack.dir, CATALOG).components == stack.components      # up again: the same processes
    prom = stack.url("prometheus")
    jobs = {"catalog-api", "checkout", "orders-db", "orders-mq", "payment", "redis-cache", "node"}
    deadline = 120
    for _ in range(deadline * 2):
        up = requests.get(f"{prom}/api/v1/query", params={"query": "up == 1"}, timeout=5).json()["data"]["result"]
        if {r["metric"]["job"] for r in up} >= jobs:
            break
        import time
        time.sleep(0.5)
    assert {r["metric"]["job"] for r in up} >= jobs
    assert "ready" in local.status(stack.dir) and "stopped" not in local.status(stack.dir)


@integration
def test_the_exporter_takes_and_clears_faults(stack: local.Stack):
    exporter = stack.url("exporter")
    assert requests.get(f"{exporter}/metrics/orders-mq", timeout=5).status_code == 200
    bad = requests.post(f"{exporter}/fault", params={"service": "orders-mq", "kind": "memory_leak"}, timeout=5)
    assert bad.status_code == 400 and "latency" in bad.json()["kinds"]            # RabbitMQ has no heap
    assert requests.post(f"{exporter}/fault", params={"service": "orders-mq", "kind": "dead"}, timeout=5).ok
    assert requests.get(f"{exporter}/metrics/orders-mq", timeout=5).status_code == 503
    assert [f["kind"] for f in requests.get(f"{exporter}/faults", timeout=5).json()] == ["dead"]
    requests.delete(f"{exporter}/fault", params={"service": "orders-mq"}, timeout=5)
    assert requests.get(f"{exporter}/metrics/orders-mq", timeout=5).status_code == 200


@integration
def test_drill_error_spike_reaches_every_department_of_the_policy(stack: local.Stack):
    result = run_drill(stack.dir, CATALOG, "checkout", "error_spike", timeout=120, echo=lambda _: None)
    assert (result.alertname, result.severity) == ("ErrorRatioHigh", "critical")
    # The example's policy for a customer-facing tier-1 critical alert: the owner is paged, business
    # and support hear on their chat channels, and operations (tier 1) too.
    assert set(result.expected) == {"commerce-dev/page", "business/chat", "cs/chat", "operations/chat"}
    assert result.complete, result.text()
    assert set(result.told) == set(result.expected)
    # Causality, not timing: the alert went pending and fired after the fault, and nobody was told
    # before it fired.
    assert result.pending_at is not None and result.fired_at is not None
    assert result.fault_at <= result.pending_at <= result.fired_at
    assert all(t.at >= result.fired_at for t in result.told.values())
    assert "every expected department was told" in result.text()
    assert requests.get(f"{stack.url('exporter')}/faults", timeout=5).json() == []      # cleared afterwards


@integration
def test_down_stops_every_process_it_started(tmp_path: Path):
    require("prometheus")
    stack = local.up(tmp_path / "s", CATALOG)
    pids = [c["pid"] for c in stack.components.values()]
    out = local.down(tmp_path / "s")
    assert out.count("stopped") == 4
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
               for pid in pids)
    assert "no stack" in local.status(tmp_path / "s")


@integration
def test_drill_trend_fires_the_trend_alert_after_its_projection(stack: local.Stack):
    result = run_drill(stack.dir, CATALOG, "checkout", "memory_leak", kind="trend", timeout=120, echo=lambda _: None)
    assert (result.alertname, result.severity, result.kind) == ("HeapUsageTrendingHigh", "warning", "trend")
    assert result.complete, result.text()
    assert list(result.floor_parts) == ["scrape", "evaluation", "projection", "for", "group_wait"]
    # Causality: the alert cannot go pending before the projection crosses (1s of slack for clocks
    # and sampling; being late is allowed, the machine may be busy), nor anyone be told before it fired.
    assert result.pending_at is not None and result.fired_at is not None
    assert result.pending_at - result.fault_at >= result.floor_parts["projection"] - 1, result.text()
    assert all(t.at >= result.fired_at for t in result.told.values())
    assert "projection: heap_usage ramps 60% → 98% over 30s" in result.text()
    assert requests.get(f"{stack.url('exporter')}/faults", timeout=5).json() == []      # cleared afterwards
