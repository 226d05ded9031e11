"""The local stack and the fault drill, end to end on real Prometheus and Alertmanager processes:
`vigil stack up`, a deploy of the short-timing catalog, a fault at the demo exporter, and every
department the propagation policy names told through Alertmanager."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from conftest import CATALOG, require
from vigil.stack import local
from vigil.stack.drill import run_drill

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.Stack]:
    require("prometheus")
    state = tmp_path_factory.mktemp("stack") / ".vigil-stack"
    try:
        yield local.up(state, CATALOG)
    finally:
        local.down(state)


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


def test_down_stops_every_process_it_started(tmp_path: Path):
    require("prometheus")
    stack = local.up(tmp_path / "s", CATALOG)
    pids = [c["pid"] for c in stack.components.values()]
    out = local.down(tmp_path / "s")
    assert out.count("stopped") == 4
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
               for pid in pids)
    assert "no stack" in local.status(tmp_path / "s")
