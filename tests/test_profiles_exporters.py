"""Every key metric of the built-in profiles returns data on what real exporters expose.

The samples in ../shared/exporters/ (README.md there names each upstream file) are loaded as
input series into the real promtool (vigil.catalog.probe), on both tool generations, and each
profile's PromQL is evaluated through the same merge code a service goes through
(catalog.profiles.service_metrics), once with the convention pinned and once without (the `or`
of all conventions, which must give the same value: the left side wins, nothing is counted twice).

The table says which convention serves which sample, and for each key metric a sample cannot
serve, why: those are asserted to be empty, so the table cannot go stale silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import SHARED
from vigil.catalog.exposition import Sample, read
from vigil.catalog.load import Document
from vigil.catalog.probe import equals, evaluate, has_data, render
from vigil.catalog.profiles import build_profiles, builtin_documents, service_metrics, service_slis

EXPORTERS = SHARED / "exporters"
SELECTOR = {"job": "discovered"}
pytestmark = pytest.mark.skipif(
    not EXPORTERS.is_dir(), reason=f"{EXPORTERS} absent: the exporter samples are shared data, not in the repo")


@dataclass
class Row:
    files: list[str]
    profile: str
    convention: str | None
    empty: dict[str, str] = field(default_factory=dict)       # key metric → why this sample cannot serve it
    values: dict[str, float] = field(default_factory=dict)    # key metric (or sli.<name>) → exact value
    slis: dict[str, float | None] = field(default_factory=dict)  # SLI → latency threshold (None: none needed)
    instances: int = 1                                        # exporters scraped (the same sample each)


# Rates are proportional to the scraped counters (probe.py), so ratios are the counters' ratios.
ROWS: dict[str, Row] = {
    # Whole disks only: mmcblk0, nvme0n1, sda, sdb, sdc, vda; not mmcblk0p1/p2, dm-*, sr0 (1/60000: rate per second).
    "host/node_exporter": Row(
        ["node_exporter-e2e-output.prom", "node_exporter-supplement.prom"], "host", None,
        values={"disk_read_bytes": (798720 + 2.377714176e9 + 5.13713216512e11 + 4.944782848e9 + 8.48782848e8
                                    + 1.6727491584e10) / 60000}),
    "http/prometheus/docs-example": Row(
        ["prometheus-docs-exposition-example.prom"], "http", "prometheus",
        empty={"inflight": "no client library registers an in-flight gauge by default (the app names it)"},
        # Only 200 and 400 responses: a healthy service's error ratio is 0, not empty.
        values={"error_ratio": 0.0, "sli.availability": 0.0}, slis={"availability": None, "latency": 0.1}),
    "http/prometheus/client_golang": Row(
        ["client_golang-middleware-example.prom"], "http", "prometheus",
        empty={"inflight": "promhttp's InstrumentHandlerInFlight takes a gauge the app names; the example has none"},
        values={"error_ratio": 57 / (46508 + 57 + 5760)}, slis={"availability": None, "latency": 0.1}),
    "spring-http/micrometer/boot-3.3-default": Row(
        ["micrometer-1.13plus-spring-boot-default.prom"], "spring-http", "micrometer",
        empty={"latency_p99": "needs percentiles-histogram for http.server.requests (no buckets by default)"},
        # Actuator endpoints are left out: 57 errors of 48213 + 9120 + 311 + 57 requests.
        values={"error_ratio": 57 / (48213 + 9120 + 311 + 57)}, slis={"availability": None}),
    "spring-http/micrometer/boot-3.3-histogram": Row(
        ["micrometer-1.13plus-spring-boot-histogram.prom"], "spring-http", "micrometer",
        slis={"availability": None, "latency": 0.25}),
    "spring-http/micrometer-legacy/boot-3.0-3.2": Row(
        ["micrometer-legacy-simpleclient-spring-boot-3.0-3.2.prom"], "spring-http", "micrometer-legacy",
        empty={"latency_p99": "needs percentiles-histogram for http.server.requests (no buckets by default)"},
        slis={"availability": None}),
    "jvm/micrometer/boot-3.3": Row(["micrometer-1.13plus-spring-boot-default.prom"], "jvm", "micrometer",
                                   values={"threads": 58.0}),
    "jvm/micrometer/boot-3.0-3.2": Row(["micrometer-legacy-simpleclient-spring-boot-3.0-3.2.prom"], "jvm", "micrometer",
                                       values={"threads": 58.0}),
    "jvm/client_java/1.x-docs": Row(["client_java-1.x-jvm-docs.prom"], "jvm", "client_java",
                                    values={"heap_usage": 9051232.0 / 7.38983936e9, "threads": 10.0}),
    "jvm/simpleclient/0.16-hotspot": Row(["client_java-0.16-simpleclient_hotspot.prom"], "jvm", "simpleclient",
                                         values={"heap_usage": 3.12524864e8 / 1.073741824e9, "threads": 58.0}),
    "jvm/otel/client_java-readme": Row(
        ["client_java-otel-jvm-runtime-metrics-readme.prom"], "jvm", "otel",
        empty={"heap_usage": "the README excerpt has jvm_memory_used_bytes but not jvm_memory_limit_bytes",
               "gc_time_ratio": "the README excerpt has no jvm_gc_duration_seconds",
               "threads": "the README excerpt has no jvm_thread_count"}),
    "redis/default-flags": Row(
        ["redis_exporter.prom"], "redis", None,
        empty={"memory_usage": "maxmemory is 0 in the fixture: needs --include-system-metrics"}),
    "redis/include-system-metrics": Row(
        ["redis_exporter.prom", "redis_exporter-include-system-metrics.prom"], "redis", None),
    "postgres/postgres_exporter": Row(["postgres_exporter.prom"], "postgres", None, values={"replication_lag": 0.0}),
    "kafka/kafka_exporter-readme": Row(
        ["kafka_exporter-readme.prom"], "kafka", None,
        empty={"messages_in_rate": "the README example has only the internal topic __consumer_offsets"}),
    "rabbitmq/rabbitmq_prometheus/aggregated": Row(
        ["rabbitmq_prometheus-aggregated.prom"], "rabbitmq", "rabbitmq_prometheus",
        values={"queue_ready": 1534, "queue_unacked": 61, "consumers": 24, "connections": 42}),
    "rabbitmq/rabbitmq_prometheus/per-object": Row(
        ["rabbitmq_prometheus-per-object.prom"], "rabbitmq", "rabbitmq_prometheus",
        values={"queue_ready": 1534, "queue_unacked": 61, "consumers": 24, "connections": 42}),
    # Two exporters (one per node) report the same cluster-wide figures: read once, not twice.
    "rabbitmq/kbudde/two-exporters": Row(
        ["rabbitmq_exporter-kbudde.prom"], "rabbitmq", "kbudde", instances=2,
        values={"queue_ready": 1534, "queue_unacked": 61, "consumers": 24, "connections": 42}),
    "circuit-breaker/resilience4j": Row(["resilience4j-micrometer.prom"], "circuit-breaker", None),
}


@pytest.fixture(scope="module")
def profiles() -> dict[str, Any]:
    return build_profiles(list(builtin_documents()))


def _fields(profiles: dict[str, Any], profile: str, convention: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metric and SLI fields as a service with this profile (and pin) gets them."""
    ref: Any = {"name": profile, "convention": convention} if convention else profile
    doc = Document("probe.yaml", {"name": "probe", "owner": "x", "selector": SELECTOR, "profiles": [ref]})
    metrics = {mid: {k: f.value for k, f in src.fields.items()} for mid, src in service_metrics(doc, profiles).items()}
    slis = {sid: {k: f.value for k, f in fields.items()} for sid, (_, fields) in service_slis(doc, profiles).items()}
    return metrics, slis


_SELECTORS = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}')
_MATCHERS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')


def test_every_builtin_profile_and_convention_has_a_row(profiles: dict[str, Any]) -> None:
    """A profile or convention added without exporter evidence fails here."""
    served = {(r.profile, r.convention) for r in ROWS.values()}
    for name, prof in profiles.items():
        for convention in [c.name for c in prof.conventions] or [None]:
            if (name, convention) == ("http", "otel"):
                # No OpenTelemetry HTTP exposition in ../shared/exporters: fixture-tested only (docs/profiles.md).
                continue
            assert (name, convention) in served, f"no exporter sample row for {name} convention {convention}"


@pytest.mark.parametrize("row_id", sorted(ROWS))
def test_key_metrics_return_data_on_real_exposition(row_id: str, generation: str, profiles: dict[str, Any]) -> None:
    row = ROWS[row_id]
    samples: list[Sample] = []
    for f in row.files:
        samples += read(str(EXPORTERS / f)).samples
    by_instance = {f"exporter-{i}:9100": samples for i in range(row.instances)}
    pinned, pinned_slis = _fields(profiles, row.profile, row.convention)
    joined, joined_slis = _fields(profiles, row.profile, None)
    assert set(row.empty) <= set(pinned), f"unknown metric ids in the table: {set(row.empty) - set(pinned)}"

    checks: dict[str, str] = {}
    names = {s.name for s in samples}
    for mid, fields in sorted(pinned.items()):
        p, j = render(fields["expr"], SELECTOR), render(joined[mid]["expr"], SELECTOR)
        checks[f"{mid}: data"] = has_data(p)
        checks[f"{mid}: joined gives the pinned value"] = f"abs(sum({j}) - sum({p})) <= bool 1e-9 * abs(sum({p}))"
        if mid in row.values:
            checks[f"{mid}: value"] = equals(p, row.values[mid])
        # Where the sample has a metric the expr reads, the labels the expr matches on must be on
        # its series: a wrong label (`area` where the exporter writes `jvm_memory_type`) fails here
        # even when another part of the expr is missing from the sample. (Not the values: `code=~"5.."`
        # rightly selects nothing on a healthy service.)
        for name, body in _SELECTORS.findall(p):
            labels = sorted({k for k, op in _MATCHERS.findall(body) if op in ("=", "=~") and k != "job"})
            if name in names and labels:
                selector = ",".join([f'job="{SELECTOR["job"]}"', *(f'{k}!=""' for k in labels)])
                checks[f"{mid}: {name} has labels {', '.join(labels)}"] = has_data(f"{name}{{{selector}}}")
    for sid, le in row.slis.items():
        fields, jfields = pinned_slis[sid], joined_slis[sid]
        ratio = f"({render(fields['errors'], SELECTOR, le)}) / ({render(fields['total'], SELECTOR, le)})"
        jratio = f"({render(jfields['errors'], SELECTOR, le)}) / ({render(jfields['total'], SELECTOR, le)})"
        checks[f"sli.{sid}: data"] = has_data(ratio)
        checks[f"sli.{sid}: joined gives the pinned value"] = f"abs(sum({jratio}) - sum({ratio})) <= bool 1e-9"
        if f"sli.{sid}" in row.values:
            checks[f"sli.{sid}: value"] = equals(ratio, row.values[f"sli.{sid}"])

    got = evaluate(by_instance, checks)
    want = {k: not (k.endswith(": data") and k.split(":")[0] in row.empty) for k in checks}
    # Metrics a sample cannot serve: the joined check compares two empty sums, which is empty too.
    for mid in row.empty:
        want[f"{mid}: joined gives the pinned value"] = False
    assert {k: v for k, v in got.items() if v != want[k]} == {}, "\n".join(
        [f"{k}: got {'data/true' if got[k] else 'empty/false'}" for k in sorted(got) if got[k] != want[k]]
        + [f"  why empty: {row.empty[m]}" for m in row.empty])
