"""`vigil coverage`: a real Prometheus (both generations) scrapes the example `checkout` service's
series from a test exporter; coverage finds data for every key metric and SLI, then names the raw
series that went missing when the exporter stops serving them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures.checkout_exporter import CheckoutExporter
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from conftest import CATALOG, ROOT, TOOLS
from vigil import tools
from vigil.cli import main
from vigil.prometheus_api import PrometheusAPI
from vigil.reports.coverage import CoverageReport, coverage
from vigil.stack import prometheus

HEAP_MAX = 'jvm_memory_max_bytes{job="checkout",area="heap"}'
THREADS = 'jvm_threads_live_threads{job="checkout"}'


def _until(
    check: Callable[[], CoverageReport], done: Callable[[CoverageReport], bool], timeout: float
) -> CoverageReport:
    """Ask again until `done` (scrapes and rate() windows take a few seconds to fill); a wait, not
    a timed assertion: the last report is returned either way and the test asserts on it."""
    deadline = time.monotonic() + timeout
    while True:
        report = check()
        if done(report) or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.integration
def test_coverage_names_the_raw_series_that_went_missing(
    generation: str, example_model: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Errors from the start, so that the 5xx series of error_ratio and the availability SLI exist.
    exporter = CheckoutExporter(incident_at=0, ramp=10)
    target = exporter.start(prometheus.free_port())
    # Another job with a thread count, so that checkout's missing one is "not for this service".
    sidecar_registry = CollectorRegistry()
    Gauge("jvm_threads_live_threads", "Live threads", registry=sidecar_registry).set(12)
    sidecar_port = prometheus.free_port()
    sidecar, _ = start_http_server(sidecar_port, addr="127.0.0.1", registry=sidecar_registry)
    try:
        with prometheus.start(
            tmp_path / "prometheus", {"checkout": [target], "sidecar": [f"127.0.0.1:{sidecar_port}"]}, []
        ) as server:
            ask = lambda: coverage(example_model, server.url, ["checkout"])  # type: ignore[arg-type]
            before = _until(ask, lambda r: not r.without_data, timeout=90)
            assert [(r.key_metric, r.kind, r.missing) for r in before.without_data] == [], before.text()
            # This Prometheus does not evaluate vigil's rules: whether a baseline exists cannot be told.
            assert all(r.baseline is None for r in before.rows)
            ids = {m["id"] for s in example_model["services"] if s["name"] == "checkout" for m in s["metrics"]}
            assert {r.key_metric for r in before.rows if r.kind == "metric"} == ids
            assert {r.key_metric for r in before.rows if r.kind == "sli"} == {"availability", "latency"}
            code, out, _ = _cli(
                ["coverage", "--catalog", str(CATALOG), "--prometheus", server.url, "--service", "checkout"], capsys
            )
            assert code == 0, out
            assert out.splitlines()[-1].startswith(f"{len(before.rows)} of {len(before.rows)} have data")

            # The exporter stops serving the heap maximum (a non-heap one remains) and the thread count.
            exporter.registry.unregister(exporter.heap_max)
            exporter.registry.unregister(exporter.threads)
            Gauge("jvm_memory_max_bytes", "JVM memory max", ["area", "id"], registry=exporter.registry).labels(
                "nonheap", "Metaspace"
            ).set(2**28)
            after = _until(ask, lambda r: len(r.without_data) == 2, timeout=30)
            text_code, text, err = _cli(
                ["coverage", "--catalog", str(CATALOG), "--prometheus", server.url, "--service", "checkout"], capsys
            )
            json_code, json_out, _ = _cli(
                ["coverage", "--catalog", str(CATALOG), "--prometheus", server.url, "--service", "checkout", "--json"],
                capsys,
            )
    finally:
        exporter.stop()
        sidecar.shutdown()

    rows = {r.key_metric: r for r in after.without_data}
    assert sorted(rows) == ["heap_usage", "threads"], after.text()
    assert rows["heap_usage"].missing == [HEAP_MAX]
    probes = {p.selector: p for p in rows["heap_usage"].selectors}
    assert probes['jvm_memory_used_bytes{job="checkout",area="heap"}'].series == 1
    assert probes[HEAP_MAX].hint == 'jvm_memory_max_bytes{job="checkout"} has 1, the other matchers exclude them all'
    assert rows["threads"].missing == [THREADS]
    assert rows["threads"].selectors[0].hint == 'jvm_threads_live_threads has 1 series, none with job="checkout"'
    # Prometheus 3.5 splits the expression itself; 2.42 has no parse_query, so vigil's tokenizer does.
    assert after.parser == ("parse_query" if generation == "current" else "tokenizer")

    assert text_code == 1 and "2 of" in err and "have no data" in err
    lines = text.splitlines()
    heap = next(line for line in lines if line.startswith("checkout") and " heap_usage " in line)
    assert heap.split()[3] == "NO" and f"no data — {HEAP_MAX} has no series" in heap
    assert "(jvm_memory_used_bytes has 1)" in heap
    order = [(r.service, r.kind != "metric", r.key_metric) for r in after.rows]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert [line.split()[1] for line in lines[1:-1]] == [r.key_metric for r in after.rows]  # one line each
    assert lines[-1].endswith("2 without: checkout heap_usage, checkout threads")

    assert json_code == 1
    doc = json.loads(json_out)
    assert {(d["key_metric"], d["has_data"], tuple(d["missing"])) for d in doc if not d["has_data"]} == {
        ("heap_usage", False, (HEAP_MAX,)),
        ("threads", False, (THREADS,)),
    }
    assert all(d["service"] == "checkout" and d["kind"] in ("metric", "sli") for d in doc)
    assert len(doc) == len(after.rows)


@pytest.mark.integration
def test_coverage_says_which_anomaly_alerts_have_no_baseline_yet(
    generation: str, example_model: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With checkout's generated rules evaluated, its metrics are recorded at once, but no baseline
    can be: it leaves out the last 6h (skip_recent). Coverage says so for each anomaly alert, as a
    note, not a failure (the metrics have data)."""
    exporter = CheckoutExporter(incident_at=0, ramp=10)
    target = exporter.start(prometheus.free_port())
    rules = ROOT / "output" / "prometheus" / "rules" / "checkout.yaml"
    checkout = next(s for s in example_model["services"] if s["name"] == "checkout")
    anomaly = {m["id"]: m["anomaly"]["skip_recent"] for m in checkout["metrics"] if m["anomaly"]}
    # Each metric's record appears at its group's first evaluation (a rate's after two scrapes).
    decided = lambda r: not r.without_data and all(x.baseline is not None for x in r.rows if x.key_metric in anomaly)
    try:
        with prometheus.start(tmp_path / "prometheus", {"checkout": [target]}, [rules]) as server:
            ask = lambda: coverage(example_model, server.url, ["checkout"])  # type: ignore[arg-type]
            report = _until(ask, decided, 120)
            code, out, _ = _cli(
                ["coverage", "--catalog", str(CATALOG), "--prometheus", server.url, "--service", "checkout"], capsys
            )
    finally:
        exporter.stop()
    assert anomaly, "the example checkout has anomaly alerts"
    assert not report.without_data, report.text()
    assert {r.key_metric for r in report.rows if r.baseline is False} == set(anomaly), report.text()
    assert all(r.baseline is None for r in report.rows if r.key_metric not in anomaly)
    assert code == 0, out  # said, not an error
    line = next(x for x in out.splitlines() if f" {sorted(anomaly)[0]} " in x)
    assert (
        f"no anomaly baseline recorded yet: its anomaly alert cannot fire until the metric has data from before the last {anomaly[sorted(anomaly)[0]]}"
        in line
    )
    assert out.splitlines()[-1].endswith(
        f"{len(anomaly)} anomaly alert(s) without a baseline yet: "
        + ", ".join(f"checkout {m}" for m in sorted(anomaly))
    )


@pytest.mark.integration
def test_coverage_against_victoria_metrics(example_model: dict[str, Any], tmp_path: Path) -> None:
    """VictoriaMetrics answers the same query API but has no parse_query: the tokenizer splits."""
    binary = TOOLS / "current" / "bin" / "victoria-metrics"
    if not binary.exists():
        pytest.skip(f"{binary} missing: run `make tools` (scripts/tools.sh)")
    exporter = CheckoutExporter(incident_at=0, ramp=10)
    target = exporter.start(prometheus.free_port())
    (tmp_path / "scrape.yml").write_text(
        json.dumps(
            {
                "scrape_configs": [
                    {"job_name": "checkout", "scrape_interval": "1s", "static_configs": [{"targets": [target]}]}
                ]
            }
        )
    )
    port = prometheus.free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "vm.log").open("wb")
    # No latency offset and no result cache: answer with what was scraped a second ago.
    vm = subprocess.Popen(
        [
            str(binary),
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={tmp_path / 'data'}",
            f"-promscrape.config={tmp_path / 'scrape.yml'}",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        api = PrometheusAPI(url)
        deadline = time.monotonic() + 30
        while not api.ready() and time.monotonic() < deadline and vm.poll() is None:
            time.sleep(0.2)
        ask = lambda: coverage(example_model, url, ["checkout"])  # type: ignore[arg-type]
        before = _until(ask, lambda r: not r.without_data, timeout=90)
        exporter.registry.unregister(exporter.threads)
        after = _until(ask, lambda r: bool(r.without_data), timeout=60)
    except Exception:
        print((tmp_path / "vm.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        tools.stop(vm)  # type: ignore[arg-type]
        exporter.stop()
    assert before.without_data == [], before.text()
    assert [(r.key_metric, r.missing) for r in after.without_data] == [("threads", [THREADS])], after.text()
    assert after.without_data[0].selectors[0].hint == "no series named jvm_threads_live_threads at all"
    assert after.parser == "tokenizer"


def test_an_sli_is_read_at_its_shortest_window(example_model: dict[str, Any]) -> None:
    from vigil.reports.coverage import _work

    checkout = next(s for s in example_model["services"] if s["name"] == "checkout")
    slis = {w[1]: w[3] for w in _work(checkout) if w[2] == "sli"}  # type: ignore[arg-type]
    assert sorted(slis) == ["availability", "latency"]
    for parts in slis.values():
        assert sorted(parts) == ["errors", "total"]
        assert all("[5m]" in e and "$window" not in e for e in parts.values())


def test_an_invalid_catalog_exits_2_before_asking_prometheus(
    catalog_copy: Callable[[], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = catalog_copy()
    path = catalog / "services" / "checkout.yaml"
    path.write_text(path.read_text().replace("owner: commerce-dev", "owner: nobody"))
    code, _, err = _cli(["coverage", "--catalog", str(catalog), "--prometheus", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "checkout.yaml" in err and "owner" in err


def test_an_unknown_service_is_refused_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(
        ["coverage", "--catalog", str(CATALOG), "--prometheus", "http://127.0.0.1:9", "--service", "chekout"], capsys
    )
    assert code == 2 and "no service 'chekout'" in err and "did you mean 'checkout'?" in err


def test_an_unreachable_prometheus_is_an_error_not_a_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(
        [
            "coverage",
            "--catalog",
            str(CATALOG),
            "--prometheus",
            f"http://127.0.0.1:{prometheus.free_port()}",
            "--service",
            "checkout",
        ],
        capsys,
    )
    assert code == 1 and out == "" and "cannot be reached" in err


def test_the_detail_says_what_is_missing_and_what_is_there() -> None:
    from vigil.reports.coverage import Expression, Probe, Row

    errors = 'http_requests_total{job="a",code=~"5.."}'
    total = 'http_requests_total{job="a"}'
    row = Row(
        "a",
        "availability",
        "sli",
        [Expression("errors", "x", 0), Expression("total", "y", 4)],
        [
            Probe(errors, 0, 'http_requests_total{job="a"} has 4, the other matchers exclude them all'),
            Probe(total, 4),
            Probe("up", 1),
        ],
    )
    assert row.missing == [errors] and not row.has_data
    # The same metric name twice: the one that exists is shown in full, so it is not mistaken for the other.
    assert row.detail() == (
        f'no data — {errors} has no series: http_requests_total{{job="a"}} has 4, the other '
        f"matchers exclude them all ({total} has 4, up has 1)"
    )
    every = Row("a", "request_rate", "metric", [Expression("expr", "rate(x[5m])", 0)], [Probe("x", 2)])
    assert every.missing == [] and every.detail().startswith("no data — every series it reads exists (x has 2), but")
    ok = Row("a", "availability", "sli", [Expression("errors", "x", 1), Expression("total", "y", 1)])
    assert ok.has_data and ok.detail() == "errors 1 series, total 1 series"
    report = CoverageReport("http://p", [ok, row], "parse_query")
    assert report.summary() == (
        "1 of 2 have data (0 key metrics and 2 SLIs of 1 service) in http://p; 1 without: a availability"
    )
