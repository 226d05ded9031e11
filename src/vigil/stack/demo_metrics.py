"""Realistic metrics for the demo exporter: one simulator per profile, reading the metric names
the real exporters publish (Micrometer, the Prometheus Python client, node_exporter,
redis_exporter, RabbitMQ's plugin, postgres_exporter, resilience4j, HikariCP).

Healthy values sit well inside every example threshold, so the stack is quiet until a fault is
injected. Gauges that trend alerts extrapolate are steady (no noise a `predict_linear` could turn
into a false alarm); counters grow with random traffic.

A fault is (kind, severity 0..1). Kinds: error_spike, latency, memory_leak (severity ramps up
slowly), dead (handled by the server: the scrape fails).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

Faults = dict[str, float]  # kind → severity 0..1
GiB = 1024**3
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0)  # 0.25, 0.5, 1.5: SLO thresholds

# The shapes of the faults, declared once: the simulators below follow them, and `vigil drill`
# derives the floors of the trend and SLO alerts from them (stack/drill_plan.py).
# memory_leak: profile → key metric → (healthy share, share at full severity), linear in severity.
LEAK: dict[str, dict[str, tuple[float, float]]] = {
    "jvm": {"heap_usage": (0.6, 0.98)},
    "host": {"memory_usage": (0.6, 0.98)},
    "redis": {"memory_usage": (0.6, 0.99)},
}
# error_spike in the HTTP simulators: the share of requests that fail, healthy → at full severity.
ERROR_SHARE = (0.001, 0.251)
# latency: at full severity this share of requests is slow (SLOW_RANGE seconds, uniform); the
# others take FAST_RANGE seconds (FAST_SHARE of them) or TAIL_RANGE seconds.
SLOW_SHARE, SLOW_RANGE, FAST_RANGE, TAIL_RANGE, FAST_SHARE = 0.3, (1.1, 3.0), (0.01, 0.1), (0.1, 0.2), 0.97


def leaked(profile: str, metric: str, severity: float) -> float:
    lo, hi = LEAK[profile][metric]
    return lo + (hi - lo) * severity


def error_share(severity: float) -> float:
    lo, hi = ERROR_SHARE
    return lo + (hi - lo) * severity


def share_slower_than(threshold: float, severity: float) -> float:
    """The share of HTTP requests slower than `threshold` seconds (what a latency SLI counts as bad)."""

    def above(lo: float, hi: float) -> float:  # P(uniform(lo, hi) > threshold)
        return min(max((hi - threshold) / (hi - lo), 0.0), 1.0)

    slow = SLOW_SHARE * severity
    return slow * above(*SLOW_RANGE) + (1 - slow) * (
        FAST_SHARE * above(*FAST_RANGE) + (1 - FAST_SHARE) * above(*TAIL_RANGE)
    )


class Sim:
    """One profile's metrics for one service; `step(dt, faults)` advances them by dt seconds."""

    kinds: tuple[str, ...] = ()  # the faults this profile shows

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        self.r, self.rnd = registry, rnd

    def step(self, dt: float, f: Faults) -> None:
        raise NotImplementedError

    def n(self, rate: float, dt: float) -> int:
        """How many events at `rate` per second happen in dt (a Poisson-ish integer)."""
        x = rate * dt
        return int(x) + (1 if self.rnd.random() < x - int(x) else 0)


def _duration(rnd: random.Random, slow_share: float) -> float:
    if rnd.random() < slow_share:
        return rnd.uniform(*SLOW_RANGE)
    return rnd.uniform(*FAST_RANGE) if rnd.random() < FAST_SHARE else rnd.uniform(*TAIL_RANGE)


class Http(Sim):
    """The Prometheus client's conventions: http_requests_total{code}, http_request_duration_seconds."""

    kinds = ("error_spike", "latency")
    HANDLERS = ("/api/products", "/api/search", "/api/products/{id}")

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        self.total = Counter("http_requests", "Requests", ["code", "method", "handler"], registry=registry)
        self.duration = Histogram(
            "http_request_duration_seconds", "Latency", ["handler"], buckets=BUCKETS, registry=registry
        )
        self.inflight = Gauge("http_requests_in_flight", "In flight", registry=registry)

    def step(self, dt: float, f: Faults) -> None:
        errors, slow = error_share(f.get("error_spike", 0)), SLOW_SHARE * f.get("latency", 0)
        for _ in range(self.n(60, dt)):
            handler = self.rnd.choice(self.HANDLERS)
            code = "500" if self.rnd.random() < errors else "200"
            self.total.labels(code, "GET", handler).inc()
            self.duration.labels(handler).observe(_duration(self.rnd, slow))
        self.inflight.set(3 + 30 * f.get("latency", 0))


class SpringHttp(Sim):
    """Micrometer: http_server_requests_seconds{method,status,outcome,uri} with SLO buckets."""

    kinds = ("error_spike", "latency")
    URIS = ("/api/cart", "/api/checkout", "/api/orders")

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        self.requests = Histogram(
            "http_server_requests_seconds",
            "Requests",
            ["method", "status", "outcome", "uri"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.active = Gauge("http_server_requests_active_seconds_active_count", "Active", registry=registry)

    def step(self, dt: float, f: Faults) -> None:
        errors, slow = error_share(f.get("error_spike", 0)), SLOW_SHARE * f.get("latency", 0)
        for _ in range(self.n(40, dt)):
            failed = self.rnd.random() < errors
            self.requests.labels(
                "POST", "500" if failed else "200", "SERVER_ERROR" if failed else "SUCCESS", self.rnd.choice(self.URIS)
            ).observe(_duration(self.rnd, slow))
        for _ in range(self.n(1, dt)):  # health checks: excluded by the profiles' uri!~"/actuator.*"
            self.requests.labels("GET", "200", "SUCCESS", "/actuator/health").observe(0.002)
        self.active.set(4 + 40 * f.get("latency", 0))


class Jvm(Sim):
    kinds = ("memory_leak",)

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        self.used = Gauge("jvm_memory_used_bytes", "Used", ["area", "id"], registry=registry)
        self.max = Gauge("jvm_memory_max_bytes", "Max", ["area", "id"], registry=registry)
        self.gc = Summary("jvm_gc_pause_seconds", "GC pauses", ["action", "cause"], registry=registry)
        self.threads = Gauge("jvm_threads_live_threads", "Threads", registry=registry)
        self.max.labels("heap", "G1 Old Gen").set(2 * GiB)
        self.max.labels("heap", "G1 Eden Space").set(-1)  # Micrometer reports -1 for "no maximum"

    def step(self, dt: float, f: Faults) -> None:
        leak = f.get("memory_leak", 0)
        self.used.labels("heap", "G1 Old Gen").set(leaked("jvm", "heap_usage", leak) * 2 * GiB)
        self.used.labels("heap", "G1 Eden Space").set(0)
        self.gc.labels("end of minor GC", "G1 Evacuation Pause").observe(dt * (0.01 + 0.2 * leak))
        self.threads.set(210)


class Hikari(Sim):
    kinds = ()

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        self.active = Gauge("hikaricp_connections_active", "Active", ["pool"], registry=registry)
        self.max = Gauge("hikaricp_connections_max", "Max", ["pool"], registry=registry)
        self.pending = Gauge("hikaricp_connections_pending", "Pending", ["pool"], registry=registry)

    def step(self, dt: float, f: Faults) -> None:
        self.max.labels("HikariPool-1").set(20)
        self.active.labels("HikariPool-1").set(6 + 14 * f.get("latency", 0))
        self.pending.labels("HikariPool-1").set(12 * f.get("latency", 0))


class Host(Sim):
    """node_exporter on one machine."""

    kinds = ("memory_leak",)

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        g = lambda name, labels=(): Gauge(name, name, list(labels), registry=registry)
        c = lambda name, labels: Counter(name.removesuffix("_total"), name, labels, registry=registry)
        self.cpu = c("node_cpu_seconds_total", ["cpu", "mode"])
        self.mem_avail, self.mem_total = g("node_memory_MemAvailable_bytes"), g("node_memory_MemTotal_bytes")
        self.fs_avail = g("node_filesystem_avail_bytes", ("device", "fstype", "mountpoint"))
        self.fs_size = g("node_filesystem_size_bytes", ("device", "fstype", "mountpoint"))
        self.read, self.written = (
            c("node_disk_read_bytes_total", ["device"]),
            c("node_disk_written_bytes_total", ["device"]),
        )
        self.io = c("node_disk_io_time_seconds_total", ["device"])
        self.rx_drop = c("node_network_receive_drop_total", ["device"])
        self.tx_drop = c("node_network_transmit_drop_total", ["device"])
        self.estab = g("node_netstat_Tcp_CurrEstab")
        self.batch = g("settlement_batch_last_run_duration_seconds")

    def step(self, dt: float, f: Faults) -> None:
        for cpu in ("0", "1", "2", "3"):
            self.cpu.labels(cpu, "idle").inc(dt * 0.7)
            self.cpu.labels(cpu, "user").inc(dt * 0.25)
            self.cpu.labels(cpu, "system").inc(dt * 0.05)
        self.mem_total.set(32 * GiB)
        self.mem_avail.set(32 * GiB * (1 - leaked("host", "memory_usage", f.get("memory_leak", 0))))
        self.fs_size.labels("/dev/sda1", "ext4", "/").set(500 * GiB)
        self.fs_avail.labels("/dev/sda1", "ext4", "/").set(225 * GiB)
        self.read.labels("sda").inc(dt * 4 * 1024**2)
        self.written.labels("sda").inc(dt * 6 * 1024**2)
        self.io.labels("sda").inc(dt * 0.1)
        self.rx_drop.labels("eth0").inc(0)
        self.tx_drop.labels("eth0").inc(0)
        self.estab.set(120)
        self.batch.set(1.5 * 3600)


class Redis(Sim):
    kinds = ("memory_leak", "error_spike")

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        g = lambda name: Gauge(name, name, registry=registry)
        self.used, self.max, self.system = (
            g("redis_memory_used_bytes"),
            g("redis_memory_max_bytes"),
            g("redis_total_system_memory_bytes"),
        )
        self.clients, self.maxclients = g("redis_connected_clients"), g("redis_config_maxclients")
        self.evicted = Counter("redis_evicted_keys", "Evicted", registry=registry)
        self.hits = Counter("redis_keyspace_hits", "Hits", registry=registry)
        self.misses = Counter("redis_keyspace_misses", "Misses", registry=registry)

    def step(self, dt: float, f: Faults) -> None:
        leak = f.get("memory_leak", 0)
        self.max.set(4 * GiB)
        self.system.set(16 * GiB)
        self.used.set(leaked("redis", "memory_usage", leak) * 4 * GiB)
        self.clients.set(80)
        self.maxclients.set(10000)
        self.evicted.inc(self.n(40 * max(leak - 0.8, 0), dt))
        miss = 0.03 + 0.5 * f.get("error_spike", 0)
        lookups = self.n(500, dt)
        misses = sum(1 for _ in range(lookups) if self.rnd.random() < miss)
        self.hits.inc(lookups - misses)
        self.misses.inc(misses)


class RabbitMQ(Sim):
    kinds = ("latency", "error_spike")
    QUEUES = ("orders.fulfilment", "orders.settlement")

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        g = lambda name, labels=("queue",): Gauge(name, name, list(labels), registry=registry)
        self.ready, self.unacked, self.consumers = (
            g("rabbitmq_queue_messages_ready"),
            g("rabbitmq_queue_messages_unacked"),
            g("rabbitmq_queue_consumers"),
        )
        self.connections = Gauge("rabbitmq_connections", "Connections", registry=registry)
        self.redelivered = Counter(
            "rabbitmq_global_messages_redelivered", "Redelivered", ["protocol"], registry=registry
        )
        self.backlog = 0.0

    def step(self, dt: float, f: Faults) -> None:
        # Slow consumers: the backlog grows by 2000 messages a second until they recover.
        self.backlog = self.backlog + 2000 * dt if f.get("latency") else max(self.backlog - 5000 * dt, 0)
        for q in self.QUEUES:
            self.ready.labels(q).set(25 + self.backlog / 2)
            self.unacked.labels(q).set(10)
            self.consumers.labels(q).set(3)
        self.connections.set(40)
        self.redelivered.labels("amqp091").inc(self.n(0.05 + 30 * f.get("error_spike", 0), dt))


class Postgres(Sim):
    kinds = ("latency", "error_spike")

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        self.activity = Gauge("pg_stat_activity_count", "Backends", ["datname", "state"], registry=registry)
        self.max_conn = Gauge("pg_settings_max_connections", "Max connections", registry=registry)
        # postgres_exporter publishes this counter without the _total suffix: a gauge that only grows.
        self.deadlocks = Gauge("pg_stat_database_deadlocks", "Deadlocks", ["datname"], registry=registry)
        self.deadlock_count = 0
        self.lag = Gauge("pg_replication_lag_seconds", "Replication lag", registry=registry)
        self.tx = Gauge(
            "pg_stat_activity_max_tx_duration", "Oldest transaction", ["datname", "state"], registry=registry
        )

    def step(self, dt: float, f: Faults) -> None:
        self.max_conn.set(200)
        self.activity.labels("orders", "active").set(40 + 150 * f.get("latency", 0))
        self.activity.labels("orders", "idle").set(20)
        self.deadlock_count += self.n(2 * f.get("error_spike", 0), dt)
        self.deadlocks.labels("orders").set(self.deadlock_count)
        self.lag.set(0.5 + 400 * f.get("latency", 0))
        self.tx.labels("orders", "active").set(2 + 3600 * f.get("latency", 0))


class CircuitBreaker(Sim):
    kinds = ("error_spike",)

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        self.state = Gauge("resilience4j_circuitbreaker_state", "State", ["name", "state"], registry=registry)
        self.failure = Gauge("resilience4j_circuitbreaker_failure_rate", "Failure %", ["name"], registry=registry)
        self.refused = Counter(
            "resilience4j_circuitbreaker_not_permitted_calls", "Refused", ["name", "kind"], registry=registry
        )
        self.client = Histogram(
            "http_client_requests_seconds",
            "PSP calls",
            ["client_name", "method", "outcome", "status", "uri"],
            registry=registry,
        )

    def step(self, dt: float, f: Faults) -> None:
        spike = f.get("error_spike", 0)
        open_ = spike > 0.5
        for state in ("closed", "open", "half_open"):
            self.state.labels("psp-gateway", state).set(1 if state == ("open" if open_ else "closed") else 0)
        self.failure.labels("psp-gateway").set(2 + 60 * spike)
        self.refused.labels("psp-gateway", "not_permitted").inc(self.n(20 if open_ else 0, dt))
        for _ in range(self.n(20, dt)):
            failed = self.rnd.random() < 0.003 + 0.5 * spike
            self.client.labels(
                "psp-gateway",
                "POST",
                "SERVER_ERROR" if failed else "SUCCESS",
                "502" if failed else "200",
                "/v1/authorizations",
            ).observe(self.rnd.uniform(0.1, 0.4))


class Orders(Sim):
    """checkout's business KPI (checkout_orders_completed_total): falls when errors rise."""

    kinds = ()

    def __init__(self, registry: CollectorRegistry, rnd: random.Random):
        super().__init__(registry, rnd)
        self.orders = Counter("checkout_orders_completed", "Orders", ["payment_method"], registry=registry)

    def step(self, dt: float, f: Faults) -> None:
        self.orders.labels("card").inc(self.n(12 * (1 - f.get("error_spike", 0)), dt))


PROFILES: dict[str, Callable[[CollectorRegistry, random.Random], Sim]] = {
    "http": Http,
    "spring-http": SpringHttp,
    "jvm": Jvm,
    "hikaricp": Hikari,
    "host": Host,
    "redis": Redis,
    "rabbitmq": RabbitMQ,
    "postgres": Postgres,
    "circuit-breaker": CircuitBreaker,
}
# Metrics a service declares itself (not from a profile) that the demo also knows how to simulate.
EXTRAS: dict[str, Callable[[CollectorRegistry, random.Random], Sim]] = {
    "checkout_orders_completed_total": Orders,
}
