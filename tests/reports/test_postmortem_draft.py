"""`vigil postmortem draft`: the facts of an incident from a real Prometheus (backfilled history
with a fault in a dependency, on both tool generations; and the local stack after `vigil drill`),
the Markdown it writes (validated as a postmortem of the collection), and its JSON."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fixtures.backfilled import backfilled_prometheus
from tool_generations import on_path

from conftest import CATALOG, require
from vigil.backtest.history import History
from vigil.build import BuildReport, compile_catalog
from vigil.catalog.load import load_catalog
from vigil.catalog.logs_url import link
from vigil.catalog.postmortems import headings, template_sections
from vigil.catalog.validate import validate
from vigil.cli import cli
from vigil.errors import CatalogError
from vigil.prometheus_api import PrometheusAPI
from vigil.reports.postmortem_alerts import AlertFacts
from vigil.reports.postmortem_draft import Draft, gather, rfc3339
from vigil.reports.postmortem_markdown import PROMPT, slug, target, write

M = 60
START = (int(time.time()) // 3600) * 3600 - 7 * 3600  # on an hour boundary, inside any retention
END = START + 5 * 3600
CLIMB = (180 * M, 240 * M)  # the cache's memory climbs from 50% to 99% (then stays)
ERRORS = (240 * M, 270 * M)  # then a tenth of the shop's requests fail
# The draft's window; the stretch as long before it (+10m to +150m) is the metrics' "before".
WINDOW = (150 * M, 290 * M)
GIB = 2.0**30


def memory(t: int) -> float:
    x = min(max((t - START - CLIMB[0]) / (CLIMB[1] - CLIMB[0]), 0.0), 1.0)
    return 0.5 + 0.49 * x


def history() -> History:
    h = History(START, END, 15)
    cache = {"job": "redis", "instance": "redis-1"}
    h.add("up", "gauge", cache, lambda t: 1.0)
    h.add("redis_memory_max_bytes", "gauge", cache, lambda t: GIB)
    h.add("redis_memory_used_bytes", "gauge", cache, lambda t: memory(t) * GIB)
    h.add("redis_connected_clients", "gauge", cache, lambda t: 100.0)
    h.add("redis_config_maxclients", "gauge", cache, lambda t: 10000.0)
    h.counter("redis_evicted_keys_total", cache, lambda t: 50.0 if memory(t) >= 0.95 else 0.0)
    h.counter("redis_keyspace_hits_total", cache, lambda t: 1000.0)
    h.counter("redis_keyspace_misses_total", cache, lambda t: 10.0)
    for job in ("shop", "worker"):
        labels = {"job": job, "instance": f"{job}-1"}
        h.add("up", "gauge", labels, lambda t: 1.0)
        h.counter("http_requests_total", {**labels, "code": "200"}, lambda t: 100.0)
        failing = job == "shop"
        h.counter(
            "http_requests_total",
            {**labels, "code": "500"},
            lambda t, failing=failing: 10.0 if failing and ERRORS[0] <= t - START < ERRORS[1] else 0.01,
        )
        h.add("http_requests_in_flight", "gauge", labels, lambda t: 3.0 + (0.1 if (t // 60) % 2 else -0.1))
    return h


def write_catalog(root: Path) -> Path:
    (root / "services").mkdir(parents=True)
    (root / "vigil.yaml").write_text(
        yaml.safe_dump(
            {
                "evaluation_interval": "1m",
                "scrape_interval": "15s",
                "logs_url": "https://logs.example.com/search?q=service:{service}&from={from}&to={to}",
            }
        )
    )
    (root / "departments.yaml").write_text(
        yaml.safe_dump(
            {
                "departments": [
                    {"id": "shop-dev", "role": "engineering", "channels": {"page": {"webhook": {"url": "http://x/p"}}}},
                    {"id": "ops", "role": "operations", "channels": {"chat": {"webhook": {"url": "http://x/o"}}}},
                ],
                "propagation": [
                    {"notify": "owner", "severity": "critical", "channel": "page"},
                    {"notify": "owner", "severity": "warning", "channel": "page"},
                    {"notify": "ops", "severity": "critical", "channel": "chat"},
                ],
            }
        )
    )
    services = {
        "shop": {"customer_facing": True, "selector": {"job": "shop"}, "profiles": ["http"], "dependencies": ["cache"]},
        "worker": {"selector": {"job": "worker"}, "profiles": ["http"], "dependencies": ["cache"]},
        "cache": {"selector": {"job": "redis"}, "profiles": ["redis"]},
    }
    for name, spec in services.items():
        doc = {"name": name, "owner": "shop-dev", "tier": 1, **spec}
        if name == "shop":
            doc["slos"] = [{"name": "availability", "objective": "99.9%"}]
        (root / "services" / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    return root


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args[0]} exited with {proc.returncode}"
        if PrometheusAPI(url, timeout=2).ready():
            return
        time.sleep(0.2)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("pm") / "catalog")


@pytest.fixture(scope="module")
def model(catalog: Path) -> Any:
    return compile_catalog(catalog, BuildReport())[1]


@pytest.fixture
def prometheus(generation: str, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus holding only the raw history: no rule ever ran, so no ALERTS either."""
    with backfilled_prometheus(history(), tmp_path) as url:
        yield url


def test_a_dependency_fault_over_backfilled_history(prometheus: str, model: Any, catalog: Path, tmp_path: Path):
    api = PrometheusAPI(prometheus)
    assert api.samples("ALERTS", START, END) == []  # detection must be reconstructed
    draft = gather(model, "shop", START + WINDOW[0], START + WINDOW[1], prometheus)
    assert draft.detection_source == "reconstructed"
    assert draft.dependencies_involved == ["cache"]
    assert draft.connected == {"cache": ["worker"]}
    # The cache's memory began to climb at +180m. predict_linear over its 1h window sees the slope
    # grow as the climb fills the window: 4h ahead, it passes 90% some 16 minutes in (+196m), before
    # the value passes 80% (+216.7m), and long before the shop's errors at +240m: so it left its
    # normal range first.
    memory = next(m for m in draft.metrics if (m.service, m.metric["id"]) == ("cache", "memory_usage"))
    assert memory.left_at is not None and START + CLIMB[0] + 10 * M <= memory.left_at <= START + CLIMB[0] + 20 * M
    assert memory.why == "trending past critical 90% within 4h"
    # The occurrence is where that climb began: extrapolated back to the level before it (50%).
    assert abs(draft.occurred - (START + CLIMB[0])) <= 15, draft.occurred_note
    assert draft.occurred_note.startswith("cache memory_usage began to move")
    fired = {(a.service, a.alert, a.severity): a for a in draft.alerts if a.fired_at is not None}
    assert all(a.source == "reconstructed" for a in fired.values())
    trend = fired[("cache", "MemoryUsageTrendingHigh", "warning")]
    assert trend.fired_at is not None and trend.fired_at < START + ERRORS[0]
    assert draft.detected == min(a.fired_at for a in fired.values() if a.fired_at is not None)
    assert draft.detected_by == "alert" and draft.detected < START + ERRORS[0]
    shop_errors = fired[("shop", "ErrorRatioHigh", "critical")]
    assert shop_errors.fired_at is not None and START + ERRORS[0] < shop_errors.fired_at < START + ERRORS[1]
    # The customer saw errors from +240m (within a step or two of the 5m rate); the trend alert
    # fired 15m (its `for`) after +196m: the team had about half an hour.
    assert draft.symptom_at is not None and START + ERRORS[0] <= draft.symptom_at <= START + ERRORS[0] + 5 * M
    assert draft.slo_burn_at is not None and START + ERRORS[0] <= draft.slo_burn_at <= draft.symptom_at + 5 * M
    facts = draft.json()
    assert 25 < facts["minutes_before_customer"] < 35
    assert facts["minutes_before_customer"] == round((draft.symptom_at - draft.detected) / 60, 2)
    metrics = {(m["service"], m["key_metric"]) for m in facts["anomalous_metrics"]}
    assert {("cache", "memory_usage"), ("cache", "evictions"), ("shop", "error_ratio")} <= metrics
    assert ("worker", "error_ratio") not in metrics
    # Told: the owner's page for the first warning; ops' chat for the first critical.
    told = {(t["department"], t["channel"]): t for t in facts["told"]}
    assert set(told) == {("shop-dev", "page"), ("ops", "chat")}
    assert told[("shop-dev", "page")]["at"] == rfc3339(trend.fired_at + 30)  # + the default group_wait
    # Recovery: the errors stopped at +270m, but the cache stays full: its alerts still fire.
    assert draft.resolved == draft.end and "still firing" in draft.resolved_note

    # The draft joins the collection: `vigil validate` reads it beside the catalog.
    path = write(draft, catalog.parent / "postmortems")
    try:
        assert path.name == f"{rfc3339(draft.occurred)[:10]}-shop-error-ratio-high.md"
        validated = validate(load_catalog(catalog))
        assert validated.warnings == []
        text = path.read_text()
        assert "![cache Memory usage](img/" in text and (path.parent / "img").is_dir()
        assert "https://logs.example.com/search?q=service:shop&from=" in text
    finally:
        for p in [path, *(path.parent / "img").glob(f"{path.stem}-*.png")]:
            p.unlink()


# --- units: no processes ---------------------------------------------------------------------------


def _draft(model: Any, alerts: list[AlertFacts]) -> Draft:
    svc = next(s for s in model["services"] if s["name"] == "shop")
    t0 = float(START)
    return Draft(
        svc, t0, t0 + 3600, 15.0, [], alerts, [], "observed", [], {}, t0 + 60, "n", t0 + 120, "alert",
        t0 + 600, "the last alert resolved", None, "", None, "", "", [],
    )  # fmt: skip


def _alert(name: str, severity: str, fired: float | None, service: str = "shop") -> AlertFacts:
    return AlertFacts(service, name, severity, "threshold", "error_ratio", fired, fired, None, "observed", {})


def test_slug_names_the_first_alert_of_the_service(model: Any):
    alerts = [
        _alert("MemoryUsageTrendingHigh", "warning", START + 10, "cache"),
        _alert("ErrorRatioHigh", "critical", START + 50),
    ]
    assert slug(_draft(model, alerts)) == "error-ratio-high"
    assert (
        slug(_draft(model, [_alert("MemoryUsageTrendingHigh", "warning", START + 10, "cache")]))
        == "memory-usage-trending-high"
    )
    assert slug(_draft(model, [])) == "incident"


def test_never_overwrites_an_existing_draft(model: Any, tmp_path: Path):
    draft = _draft(model, [_alert("ErrorRatioHigh", "critical", START + 50)])
    first = write(draft, tmp_path, charts=False)
    first.write_text(first.read_text() + "\nedited by a person\n")
    second = write(draft, tmp_path, charts=False)
    assert second.name == first.stem + "-2.md" and "edited by a person" in first.read_text()
    assert target(draft, tmp_path, force=True)[1] == first  # --force: the same name again
    forced = write(draft, tmp_path, force=True, charts=False)
    assert forced == first and "edited by a person" not in first.read_text()


def test_markdown_has_every_template_section_and_marks_the_human_fields(model: Any, tmp_path: Path):
    text = write(_draft(model, [_alert("ErrorRatioHigh", "critical", START + 50)]), tmp_path, charts=False).read_text()
    body = text.split("\n---\n", 1)[1]
    assert set(template_sections()) <= set(headings(body))
    for sub in (
        "Occurrence",
        "Detection",
        "Propagation",
        "Judgment",
        "Recovery",
        "Analysis",
        "Sharing",
        "Retrospective",
    ):
        assert sub in headings(body, 3)
    for human in ("what the responders believed", "the fixes considered", "the one chosen, and why", "what went well"):
        assert f"{PROMPT} {human}" in body
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["status"] == "draft" and front["alert"] == "ErrorRatioHigh" and front["detected_by"] == "alert"


def test_json_has_the_contract_fields(model: Any):
    facts = _draft(model, [_alert("ErrorRatioHigh", "critical", START + 90)]).json()
    for key in ("service", "occurred", "detected", "told", "resolved", "anomalous_metrics", "dependencies_involved"):
        assert key in facts
    assert facts["alerts"][0]["lead_seconds"] == 30.0  # fired 30s after the occurrence
    assert facts["minutes_before_customer"] is None  # no customer-facing symptom in the facts


def test_logs_link_fills_and_encodes_the_placeholders():
    url = link("https://logs/x?s={service}&o={owner}&f={from}&t={to}&a={from_ms}", "shop", "shop-dev", 0, 60)
    assert url == "https://logs/x?s=shop&o=shop-dev&f=1970-01-01T00%3A00%3A00Z&t=1970-01-01T00%3A01%3A00Z&a=0"


def test_logs_url_with_an_unknown_placeholder_is_refused_with_its_line(catalog_copy: Any):
    root = catalog_copy()
    settings = root / "vigil.yaml"
    lines = [line for line in settings.read_text().splitlines() if not line.startswith("logs_url:")]
    settings.write_text("\n".join([*lines, 'logs_url: "https://logs/?q={svc}&f={from}&t={to"', ""]))
    with pytest.raises(CatalogError) as e:
        validate(load_catalog(root))
    assert f"vigil.yaml:{len(lines) + 1}: logs_url:" in str(e.value)
    assert "expected '}' before end of string" in str(e.value)  # every problem at once is not possible:
    # a template that does not parse names no placeholder; once it parses, each unknown one is named.
    settings.write_text("\n".join([*lines, 'logs_url: "https://logs/?q={svc}&f={from}&u={user}"', ""]))
    with pytest.raises(CatalogError) as e:
        validate(load_catalog(root))
    assert "unknown placeholder {svc}" in str(e.value) and "unknown placeholder {user}" in str(e.value)


# --- on the local stack, after `vigil drill` -------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The stack on the current generation only: a stack and a drill take a minute or two each, and
    tests/stack/test_drill.py already proves the drill on both generations."""
    from vigil.stack import local

    with on_path("current"):
        require("prometheus")
        state = tmp_path_factory.mktemp("stack-pm") / ".vigil-stack"
        try:
            yield local.up(state, CATALOG)
        finally:
            local.down(state)


@pytest.mark.integration
def test_after_a_drill_the_draft_finds_what_the_drill_measured(stack: Any, tmp_path: Path):
    from vigil.stack.drill import run_drill

    result = run_drill(stack.dir, CATALOG, "checkout", "error_spike", timeout=120, echo=lambda _: None)
    assert result.complete, result.text()
    drill_catalog = stack.dir / "drill" / "catalog"
    model = compile_catalog(drill_catalog, BuildReport())[1]
    interval = model["settings"]["evaluation_interval_seconds"]
    time.sleep(2 * interval)  # let the last evaluations land
    out = CliRunner().invoke(
        cli,
        [
            "--catalog",
            str(drill_catalog),
            "postmortem",
            "draft",
            "--service",
            "checkout",
            "--from",
            rfc3339(result.fault_at - 60),
            "--to",
            "now",
            "--prometheus",
            stack.url("prometheus"),
            "--alertmanager",
            stack.url("alertmanager"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    facts = json.loads(out.stdout)

    def at(text: str) -> float:
        from vigil.catalog.postmortems import parse_time

        return parse_time(text).timestamp()

    report = f"{result.text()}\n{json.dumps(facts, indent=1)}"
    # The fault's start: the error ratio's rise (its first scrapes after the fault, past its
    # warning), extrapolated back to its level before. A sample carries its scrape's start time,
    # while the exporter reads its state when it answers: on a loaded machine a scrape that began
    # before the fault can answer after it, so the tolerance grows by the slowest scrape seen.
    since = int(time.time() - result.fault_at) + 60
    skew = PrometheusAPI(stack.url("prometheus")).query(
        f"max(max_over_time(scrape_duration_seconds[{since}s]))", time.time()
    )
    slowest = max((v for s in skew for v in s.values), default=0.0)
    assert abs(at(facts["occurred"]) - result.fault_at) <= interval + slowest, report
    assert facts["occurred_note"].startswith("checkout error_ratio began to move"), report
    assert "past warning 0.5%" in facts["occurred_note"]
    alert = next(a for a in facts["alerts"] if (a["alert"], a["severity"]) == (result.alertname, result.severity))
    assert alert["source"] == "observed"
    assert result.pending_at is not None and result.fired_at is not None
    assert abs(at(alert["pending"]) - result.pending_at) <= interval, report
    assert abs(at(alert["firing"]) - result.fired_at) <= interval, report
    # Detection is the first alert that fired: the drilled one, or its warning an evaluation before.
    assert at(facts["occurred"]) <= at(facts["detected"]) <= at(alert["firing"]), report
    told = {f"{t['department']}/{t['channel']}": t for t in facts["told"]}
    for receiver, t in result.told.items():
        assert abs(at(told[receiver]["at"]) - t.at) <= interval, report
        assert told[receiver]["how"].startswith("receivers observed in Alertmanager")
    assert facts["logs_url"].startswith("https://logs.example.com/search?service=checkout&from=")

    # And the file, beside the drill's catalog, validates with it.
    out = CliRunner().invoke(
        cli,
        ["--catalog", str(drill_catalog), "postmortem", "draft", "--service", "checkout"]
        + ["--from", rfc3339(result.fault_at - 60), "--prometheus", stack.url("prometheus")],
    )
    assert out.exit_code == 0, out.output
    assert "postmortem draft: " in out.stdout and "checkout ErrorRatioHigh (critical) firing, observed" in out.stdout
    validate(load_catalog(drill_catalog))
