"""`vigil discover`: an entry from each real exporter sample that builds in the example catalog."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import SHARED, free_port
from vigil.build import build
from vigil.cli import cli

EXPORTERS = SHARED / "exporters"
pytestmark = pytest.mark.skipif(
    not EXPORTERS.is_dir(), reason=f"{EXPORTERS} absent: the exporter samples are shared data, not in the repo")

# sample files → the profiles (and pinned conventions) discover must find, and metrics it must switch off.
CASES: dict[str, tuple[list[str], dict[str, str | None], set[str]]] = {
    "node": (["node_exporter-e2e-output.prom", "node_exporter-supplement.prom"], {"host": None}, set()),
    "docs": (["prometheus-docs-exposition-example.prom"], {"http": "prometheus"}, {"inflight"}),
    "golang": (["client_golang-middleware-example.prom"], {"http": "prometheus"}, {"inflight"}),
    "boot33": (["micrometer-1.13plus-spring-boot-default.prom"],
               {"spring-http": "micrometer", "jvm": "micrometer"}, {"latency_p99"}),
    "boot33-histogram": (["micrometer-1.13plus-spring-boot-histogram.prom"], {"spring-http": "micrometer"}, set()),
    "boot32": (["micrometer-legacy-simpleclient-spring-boot-3.0-3.2.prom"],
               {"spring-http": "micrometer-legacy", "jvm": "micrometer"}, {"latency_p99"}),
    "client-java": (["client_java-1.x-jvm-docs.prom"], {"jvm": "client_java"}, set()),
    "simpleclient": (["client_java-0.16-simpleclient_hotspot.prom"], {"jvm": "simpleclient"}, set()),
    # The README excerpt identifies OpenTelemetry but carries none of the three key metrics whole.
    "otel-jvm": (["client_java-otel-jvm-runtime-metrics-readme.prom"], {"jvm": "otel"},
                 {"heap_usage", "gc_time_ratio", "threads"}),
    "redis": (["redis_exporter.prom"], {"redis": None}, {"memory_usage"}),
    "redis-system": (["redis_exporter.prom", "redis_exporter-include-system-metrics.prom"], {"redis": None}, set()),
    "postgres": (["postgres_exporter.prom"], {"postgres": None}, set()),
    "kafka": (["kafka_exporter-readme.prom"], {"kafka": None}, {"messages_in_rate"}),
    "rabbitmq-plugin": (["rabbitmq_prometheus-aggregated.prom"], {"rabbitmq": "rabbitmq_prometheus"}, set()),
    "rabbitmq-per-object": (["rabbitmq_prometheus-per-object.prom"], {"rabbitmq": "rabbitmq_prometheus"}, set()),
    "rabbitmq-kbudde": (["rabbitmq_exporter-kbudde.prom"], {"rabbitmq": "kbudde"}, set()),
    "resilience4j": (["resilience4j-micrometer.prom"], {"circuit-breaker": None}, set()),
    # Two exporters behind one job: redis and host share metric ids, so the second gets a prefix.
    "redis-and-host": (["redis_exporter.prom", "node_exporter-e2e-output.prom", "node_exporter-supplement.prom"],
                       {"host": None, "redis": None}, {"redis_memory_usage"}),
}

# Samples whose metrics can serve an SLO (an HTTP profile with data).
SLOS = {"docs", "golang", "boot33", "boot33-histogram", "boot32"}


def _discover(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["discover", *args])
    return result.exit_code, result.output


def _pins(entry: dict) -> dict[str, str | None]:
    return {(p if isinstance(p, str) else p["name"]): (None if isinstance(p, str) else p.get("convention"))
            for p in entry.get("profiles") or []}


def test_each_sample_gives_an_entry_that_builds(catalog_copy: Callable[[], Path], tmp_path: Path) -> None:
    catalog = catalog_copy()
    for case, (files, pins, off) in sorted(CASES.items()):
        slos = case in SLOS
        args = [a for f in files for a in ("--metrics", str(EXPORTERS / f))]
        code, text = _discover(*args, "--name", f"found-{case}", "--owner", "commerce-dev")
        assert code == 0, text
        entry = yaml.safe_load(text)
        assert _pins(entry) == pins, f"{case}:\n{text}"
        switched_off = {m for m, v in (entry.get("metrics") or {}).items() if v == {"enabled": False}}
        assert switched_off == off, f"{case}:\n{text}"
        assert entry["selector"] == {"job": f"found-{case}"}
        # The suggested SLOs are commented out; uncommented, they must build too.
        text = re.sub(r"(?m)^# (slos:|  - \{name: )", r"\1", text)
        assert ("slos" in yaml.safe_load(text)) == bool(slos), f"{case}:\n{text}"
        (catalog / "services" / f"found-{case}.yaml").write_text(text)
    # One build of the example catalog with every discovered entry in it: a bad entry fails it, named.
    report = build(catalog, tmp_path / "output", run_checks=True, run_tests=False)
    rules = {p.stem for p in (tmp_path / "output" / "prometheus" / "rules").glob("*.yaml")}
    assert {f"found-{c}" for c in CASES} <= rules, report


def test_a_missing_metric_says_what_the_exporter_needs() -> None:
    _, text = _discover("--metrics", str(EXPORTERS / "redis_exporter.prom"), "--name", "cache")
    assert ("# memory_usage (redis): needs maxmemory set in Redis, or redis_exporter's --include-system-metrics when"
            " maxmemory is 0 (unlimited); reads redis_total_system_memory_bytes, not in this exposition") in text
    assert "owner: CHANGE-ME" in text  # no --owner: a placeholder that validation rejects, not a guess
    _, text = _discover("--metrics", str(EXPORTERS / "micrometer-1.13plus-spring-boot-default.prom"), "--name", "api")
    assert "percentiles-histogram.http.server.requests=true" in text


@pytest.fixture
def served_sample() -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 serving a real sample at /metrics."""
    body = (EXPORTERS / "client_java-1.x-jvm-docs.prom").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200 if self.path == "/metrics" else 404
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body if status == 200 else b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_live_endpoint(served_sample: str) -> None:
    code, text = _discover("--metrics", f"{served_sample}/metrics", "--owner", "commerce-dev", "--job", "orders")
    assert code == 0, text
    entry = yaml.safe_load(text)
    assert _pins(entry) == {"jvm": "client_java"}
    assert entry["name"] == "127-0-0-1" or entry["name"].startswith("service-")
    assert entry["selector"] == {"job": "orders"}


def test_unreadable_endpoint_is_a_clear_error(served_sample: str) -> None:
    result = CliRunner().invoke(cli, ["discover", "--metrics", f"{served_sample}/nothing"])
    assert result.exit_code != 0
    assert f"{served_sample}/nothing: cannot read metrics" in str(result.exception)


@pytest.mark.parametrize("body, message", [
    ("<html>\n<body>not metrics</body>\n</html>\n", "not a Prometheus text exposition"),
    ("# HELP only_help nothing\n", "no samples in the exposition"),
])
def test_not_an_exposition_exits_10_naming_the_file(tmp_path: Path, body: str, message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from vigil.cli import main
    path = tmp_path / "page.html"
    path.write_text(body)
    with pytest.raises(SystemExit) as e:
        main(["discover", "--metrics", str(path)])
    assert e.value.code == 10
    assert f"error: {path}: {message}" in capsys.readouterr().err
