"""The pure parts of `vigil backtest`: the for/keep_firing_for state machine, the expansion of
recording rules, the query plan and the times on the command line."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.backtest.evaluate import Window, plan
from vigil.backtest.expand import Expander, records_of
from vigil.backtest.rules import AlertRule
from vigil.backtest.state import Firing, replay
from vigil.backtest.timespec import format_time, parse_time
from vigil.errors import BacktestError

STEP = 60_000


def prometheus_eval(present: list[bool], hold: float, keep: float) -> list[tuple[int, int, int | None]]:
    """A line-by-line port of Prometheus' AlertingRule.Eval (rules/alerting.go) for one series,
    evaluated every STEP ms: the reference the run-based replay must agree with."""
    active: dict[str, Any] | None = None
    out = []
    for i, here in enumerate(present):
        ts = i * STEP
        if here and (active is None or active["state"] == "inactive"):
            active = {"state": "pending", "active_at": ts, "keep_since": None, "fired_at": None}
        if active is None:
            continue
        if not here:
            keep_firing = False
            if active["state"] == "firing" and keep > 0:
                if active["keep_since"] is None:
                    active["keep_since"] = ts
                keep_firing = ts - active["keep_since"] < keep * 1000
            if active["state"] == "pending":
                active = None
                continue
            if active["state"] == "firing" and not keep_firing:
                active["state"] = "inactive"
                out.append((active["active_at"], active["fired_at"], ts))
                continue
            if not keep_firing:
                continue
        else:
            active["keep_since"] = None
        if active["state"] == "pending" and ts - active["active_at"] >= hold * 1000:
            active["state"], active["fired_at"] = "firing", ts
    if active is not None and active["state"] == "firing":
        out.append((active["active_at"], active["fired_at"], None))
    return out


@given(st.lists(st.booleans(), max_size=60), st.sampled_from([0, 30, 60, 120, 300]), st.sampled_from([0, 60, 90, 180]))
def test_replay_is_prometheus_state_machine(present: list[bool], hold: float, keep: float) -> None:
    times = [i * STEP for i, here in enumerate(present) if here]
    got = replay((), times, STEP, hold, keep, (len(present) - 1) * STEP)
    assert [(f.active_at, f.fired_at, f.resolved_at) for f in got] == prometheus_eval(present, hold, keep)


def test_replay_examples() -> None:
    # for: 2m, present at evaluations 0..3: pending at 0, fires at 2, resolves at 4.
    assert replay((), [0, STEP, 2 * STEP, 3 * STEP], STEP, 120, 0, 9 * STEP) == [Firing((), 0, 2 * STEP, 4 * STEP)]
    # keep_firing_for 2m bridges a 1-step gap; a pending alert that loses its series starts over.
    assert replay((), [0, STEP, 3 * STEP], STEP, 0, 120, 9 * STEP) == [Firing((), 0, 0, 6 * STEP)]
    assert replay((), [0, 2 * STEP, 3 * STEP], STEP, 60, 0, 3 * STEP) == [Firing((), 2 * STEP, 3 * STEP, None)]


RULES = {
    "prometheus/rules/a.yaml": {
        "groups": [
            {
                "name": "vigil-a",
                "rules": [
                    {"record": "service:m:ratio", "expr": 'max(x{job="a"})', "labels": {"service": "a"}},
                    {"record": "slo:e:ratio_rate5m", "expr": "vector(1)", "labels": {"service": "a", "slo": "one"}},
                    {"record": "slo:e:ratio_rate5m", "expr": "vector(2)", "labels": {"service": "a", "slo": "two"}},
                    {
                        "record": "service:m:predict",
                        "expr": 'predict_linear(service:m:ratio{service="a"}[1h], 60)',
                        "labels": {"service": "a"},
                    },
                    {"alert": "A", "expr": 'service:m:predict{service="a"} > 1'},
                ],
            },
            {
                "name": "vigil-a-baseline",
                "interval": "5m",
                "rules": [
                    {
                        "record": "service:m:avg7d",
                        "expr": 'avg_over_time(service:m:ratio{service="a"}[7d] offset 1h)',
                        "labels": {"service": "a"},
                    }
                ],
            },
        ]
    }
}


def expander() -> Expander:
    return Expander(records_of(RULES, 60))


def test_expand_nested_records_and_ranges_become_subqueries() -> None:
    e = expander()
    base = 'label_replace((max(x{job="a"})), "service", "a", "", "")'
    assert e.expand('service:m:predict{service="a"} > 1', "prometheus/rules/a.yaml", "A", 60) == (
        f'label_replace((predict_linear(({base})[1h:1m], 60)), "service", "a", "", "") > 1'
    )
    # The range over a record keeps its offset after the subquery; the step is the record's group
    # interval. A record of the slower (5m) group is read at its own steps, its latest value.
    assert e.expand('service:m:avg7d{service="a"}', "prometheus/rules/a.yaml", "A", 60) == (
        f'last_over_time((label_replace((avg_over_time(({base})[7d:1m] offset 1h)), "service", "a", "", ""))[5m:5m])'
    )
    assert e.expand('service:m:avg7d{service="a"}', "prometheus/rules/a.yaml", "A", 300).startswith("label_replace(")


def test_expand_picks_the_record_by_its_labels_and_skips_strings() -> None:
    e = expander()
    assert e.expand('slo:e:ratio_rate5m{slo="two"}', "prometheus/rules/a.yaml", "A", 60) == (
        'label_replace(label_replace((vector(2)), "service", "a", "", ""), "slo", "two", "", "")'
    )
    both = 'slo:e:ratio_rate5m{slo=~"one|two"} and on() x{l="service:m:ratio"}'
    assert e.expand(both, "prometheus/rules/a.yaml", "A", 60).count("vector(") == 2
    assert 'x{l="service:m:ratio"}' in e.expand('x{l="service:m:ratio"}', "prometheus/rules/a.yaml", "A", 60)


def test_expand_refuses_a_matcher_the_record_does_not_set() -> None:
    with pytest.raises(BacktestError, match=r"alert B.*instance.*does not set"):
        expander().expand('service:m:ratio{instance="i"}', "prometheus/rules/a.yaml", "alert B", 60)


def rule(i: int, interval: float) -> AlertRule:
    return AlertRule("s", f"A{i}", "warning", "threshold", "f", "g", interval, 0, 0, "up", f"up{{i='{i}'}}")


def test_plan_batches_per_interval_and_splits_the_window() -> None:
    rules = [rule(i, 60 if i < 5 else 300) for i in range(7)]
    queries = plan(rules, Window(30, 30 + 7 * 86400), batch=2, max_points=11000)
    # 60s: 10,080 evaluations (the first at 60s, the window starts at 30s) fit one query; 3 batches.
    # 300s: 2,016 evaluations; 1 batch.
    assert [(q.step, len(q.rules)) for q in queries] == [(60000, 2), (60000, 2), (60000, 1), (300000, 2)]
    assert all(q.start == 60000 and q.end == 7 * 86400 * 1000 for q in queries[:3])
    split = plan(rules[:1], Window(0, 100 * 60), batch=1, max_points=30)
    assert [(q.start // 60000, q.end // 60000) for q in split] == [(0, 29), (30, 59), (60, 89), (90, 100)]
    assert 'label_replace(up{i=\'0\'}, "__vigil_alert", "0", "", "") or ' in queries[0].expr


def test_times() -> None:
    assert parse_time("2026-11-27T03:00:00Z") == 1795748400
    assert parse_time("2026-11-27T12:00:00+09:00") == 1795748400
    assert parse_time("-2h", now=10000) == 2800 and parse_time("-7d", now=7 * 86400) == 0
    assert parse_time("now", now=5) == 5 and format_time(1795748400) == "2026-11-27T03:00:00Z"
    for bad in ("yesterday", "2026-11-27T03:00:00", "-2x"):
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_time(bad)


def test_an_unknown_service_is_named() -> None:
    from vigil.backtest.rules import chosen

    model: Any = {"services": [{"name": f"s{i:02d}"} for i in range(12)]}
    assert [s["name"] for s in chosen(model, ["s03"])["services"]] == ["s03"]
    with pytest.raises(BacktestError, match=r"no service nope in the catalog \(it has s00, .* and 2 more\)"):
        chosen(model, ["nope", "s01"])


def test_a_503_is_retried() -> None:
    """Prometheus answering 503 (overloaded, starting) once: the range query is retried, not failed."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from vigil.backtest.client import BacktestAPI

    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(self.path)
            ok = len(calls) > 1
            body = json.dumps(
                {
                    "status": "success",
                    "data": {"resultType": "matrix", "result": [{"metric": {"a": "b"}, "values": [[60, "1"]]}]},
                }
                if ok
                else {"status": "error"}
            ).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = BacktestAPI(f"http://127.0.0.1:{server.server_address[1]}")
        result = api.query_range_post("up", 60, 60, 60)
    finally:
        server.shutdown()
        server.server_close()
    assert calls == ["/api/v1/query_range"] * 2 and result[0].labels == {"a": "b"} and api.queries == 1
