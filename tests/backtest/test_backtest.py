"""`vigil backtest`: alerts evaluated over backfilled history in a real Prometheus, from raw series,
and proven against an independent engine (vmalert -replay writing ALERTS into victoria-metrics)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fixtures.backfilled import backfilled_prometheus

from conftest import TOOLS, free_port
from vigil import layout, tools
from vigil.backtest.client import BacktestAPI
from vigil.backtest.evaluate import Window, plan
from vigil.backtest.history import History, backfill
from vigil.backtest.rules import alert_rules, rule_files
from vigil.backtest.run import backtest_model, backtest_models
from vigil.backtest.timespec import format_time
from vigil.build import BuildReport, compile_catalog
from vigil.render.cache import Cache

M = 60
# The history: 4 hours at 15s, starting on an hour boundary 5 hours ago (inside any retention).
START = (int(time.time()) // 3600) * 3600 - 5 * 3600
END = START + 4 * 3600
JOB = {"job": "pay", "instance": "pay-1"}
HEAP_HIGH = [(30 * M, 50 * M), (120 * M, 124 * M), (150 * M, 170 * M)]  # heap at 95% (else 50%)
BURST = (180 * M, 195 * M)  # a third of requests fail
SPIKE = (100 * M, 130 * M)  # in-flight requests 10x
TRAFFIC = [12.0, 8.0, 10.0, 11.0, 9.0, 11.0, 10.0]  # requests per second, minute by minute from START


def heap(t: int) -> float:
    return 0.95 if any(a <= t - START < b for a, b in HEAP_HIGH) else 0.5


def history() -> History:
    h = History(START, END, 15)
    h.add("up", "gauge", JOB, lambda t: 1.0)
    gib = 2.0**30
    h.add("jvm_memory_max_bytes", "gauge", {**JOB, "area": "heap", "id": "G1 Old Gen"}, lambda t: gib)
    h.add("jvm_memory_used_bytes", "gauge", {**JOB, "area": "heap", "id": "G1 Old Gen"}, lambda t: heap(t) * gib)
    h.add("jvm_threads_live_threads", "gauge", JOB, lambda t: 100.0)
    h.counter("jvm_gc_pause_seconds_sum", JOB, lambda t: 0.001)
    # Traffic that varies minute by minute, in a cycle fixed to START (so every run sees the same
    # history): a flat rate's baseline spread is where engines differ most (Prometheus extrapolates
    # rate() at the series' start, VictoriaMetrics does not), so the request-rate anomaly would be
    # decided by it; with a real spread both see the error burst's extra requests the same way.
    h.counter("http_requests_total", {**JOB, "code": "200"}, lambda t: TRAFFIC[(t - START) // 60 % len(TRAFFIC)])
    h.counter("http_requests_total", {**JOB, "code": "500"}, lambda t: 5.0 if BURST[0] <= t - START < BURST[1] else 0.0)
    # 3 ± 0.1 minute by minute (a baseline with a spread), and a spike the anomaly alert must see.
    h.add(
        "http_requests_in_flight",
        "gauge",
        JOB,
        lambda t: 30.0 if SPIKE[0] <= t - START < SPIKE[1] else 3.0 + (0.1 if (t // 60) % 2 else -0.1),
    )
    return h


def write_catalog(root: Path) -> Path:
    (root / "services").mkdir(parents=True)
    (root / "vigil.yaml").write_text(yaml.safe_dump({"evaluation_interval": "1m", "scrape_interval": "15s"}))
    (root / "departments.yaml").write_text(
        yaml.safe_dump(
            {
                "departments": [
                    {
                        "id": "pay-dev",
                        "role": "engineering",
                        "channels": {"page": {"webhook": {"url": "http://127.0.0.1:9/page"}}},
                    },
                    {
                        "id": "ops",
                        "role": "operations",
                        "channels": {"chat": {"webhook": {"url": "http://127.0.0.1:9/ops"}}},
                    },
                ],
                "propagation": [
                    {"notify": "owner", "severity": "critical", "channel": "page"},
                    {"notify": "owner", "severity": "warning", "channel": "page"},
                ],
            }
        )
    )
    (root / "services" / "pay.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "pay",
                "owner": "pay-dev",
                "tier": 1,
                "customer_facing": True,
                "selector": {"job": "pay"},
                "profiles": ["http", "jvm"],
                "metrics": {
                    "heap_usage": {"warning": "80%", "critical": "90%", "for": "5m", "trend": {"within": "2h"}},
                    # The default skip_recent (6h) is longer than this 4-hour history: skip 1h.
                    "inflight": {"anomaly": {"sensitivity": 3, "skip_recent": "1h"}},
                },
                "slos": [{"name": "availability", "objective": "99.9%"}],
            }
        )
    )
    return root


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("backtest") / "catalog")


@pytest.fixture(scope="module")
def model(catalog: Path) -> Any:
    return compile_catalog(catalog, BuildReport())[1]


def wait(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


@pytest.fixture
def prometheus(generation: str, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus holding only the raw history (no rules: nothing was ever recorded)."""
    with backfilled_prometheus(history(), tmp_path) as url:
        yield url


def heap_critical_lowered(repo: Path) -> Path:
    """A git repository whose HEAD catalog sets heap_usage critical at 99%, and whose work tree
    lowers it to 90% (a pull request's change); returns the catalog."""
    catalog = write_catalog(repo / "catalog")
    path = catalog / "services" / "pay.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["metrics"]["heap_usage"]["critical"] = "99%"
    path.write_text(yaml.safe_dump(doc))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "old"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    doc["metrics"]["heap_usage"]["critical"] = "90%"
    path.write_text(yaml.safe_dump(doc))
    return catalog


def by_key(result: Any) -> dict[tuple[str, str, str], Any]:
    return {r.rule.key: r for r in result.results}


def t(offset: int) -> str:
    return format_time(START + offset)


def test_backtest_over_backfilled_history_from_raw_series(prometheus: str, model: Any) -> None:
    api = BacktestAPI(prometheus)
    # The history predates the rules: the recorded series the alerts read were never written.
    assert api.query("service:heap_usage:ratio", END) == []
    result = backtest_model(model, api, Window(START, END))
    got = by_key(result)
    # Heap above 90% from +30m to +50m and +150m to +170m (and +120m to +124m, shorter than `for`):
    # pending at +30m, firing at the evaluation 5m later, resolved at the first evaluation below.
    for severity in ("warning", "critical"):
        heap_high = got[("pay", "HeapUsageHigh", severity)]
        assert [(f.active_at, f.fired_at, f.resolved_at) for f in heap_high.firings] == [
            ((START + a) * 1000, (START + a + 5 * M) * 1000, (START + b) * 1000)
            for a, b in (HEAP_HIGH[0], HEAP_HIGH[2])
        ]
        assert heap_high.counts() == {
            "firings": 2,
            "firing_seconds": 2 * 15 * M,
            "first": t(35 * M),
            "last": t(155 * M),
        }
    # The SLO page fires once during the error burst (its 1h window crosses 14.4x the budget within
    # minutes, then `for: 2m`) and resolves once the burst has left its 30m window (the 6x pair).
    page = got[("pay", "AvailabilityErrorBudgetBurn", "critical")]
    assert len(page.firings) == 1
    fired, resolved = page.firings[0].fired_at / 1000, page.firings[0].resolved_at
    assert START + BURST[0] + 2 * M < fired <= START + BURST[0] + 6 * M
    assert resolved is not None and START + BURST[1] + 25 * M < resolved / 1000 <= START + BURST[1] + 31 * M
    # The anomaly alert reads a 7d baseline (recorded every 5m, 1h ago here) of its own series: pending
    # at the spike's first evaluation, firing after its `for`, resolved when the spike has been over
    # for its `keep_firing_for` (hysteresis; beyond the window at the default 2h: still firing).
    anomaly = next(
        m["anomaly"]
        for s in model["services"]
        for m in s["metrics"]
        if (m.get("anomaly") or {}).get("alert") == "InflightAnomaly"
    )
    resolved = START + SPIKE[1] + anomaly["keep_firing_for_seconds"]
    spike = got[("pay", "InflightAnomaly", "warning")]
    assert [(f.active_at, f.fired_at, f.resolved_at) for f in spike.firings] == [
        (
            (START + SPIKE[0]) * 1000,
            (START + SPIKE[0] + anomaly["for_seconds"]) * 1000,
            resolved * 1000 if resolved <= END else None,
        )
    ]
    # Never fired: the data is there and healthy.
    assert got[("pay", "ServiceDown", "critical")].firings == []
    assert got[("pay", "ThreadsHigh", "warning")].firings == []
    # One range query for every alert of the 1m group, one for the (empty) rest: batched.
    assert result.queries == 1


def test_batched_and_one_query_per_alert_agree(prometheus: str, model: Any) -> None:
    """The batched `or` of tagged alerts returns what one query per alert returns, with chunked windows."""
    api = BacktestAPI(prometheus)
    batched = backtest_model(model, api, Window(START, END), max_points=7)
    naive = backtest_model(model, api, Window(START, END), batch=1)
    assert [r.firings for r in batched.results] == [r.firings for r in naive.results]
    assert any(r.firings for r in naive.results)
    assert naive.queries == len(naive.results) and batched.queries == -(-(4 * 60 + 1) // 7)


def test_base_catalog_side_by_side(prometheus: str, model: Any, catalog: Path, tmp_path: Path) -> None:
    """The seam for --base: the old catalog (heap critical at 99%) over the same window, joined per alert."""
    old = write_catalog(tmp_path / "old")
    doc = yaml.safe_load((old / "services" / "pay.yaml").read_text())
    doc["metrics"]["heap_usage"]["critical"] = "99%"
    (old / "services" / "pay.yaml").write_text(yaml.safe_dump(doc))
    base = compile_catalog(old, BuildReport())[1]
    rows = {
        (r["alert"], r["severity"]): r
        for r in backtest_models(model, base, BacktestAPI(prometheus), Window(START, END)).json()
    }
    assert rows[("HeapUsageHigh", "critical")]["firings"] == 2
    assert rows[("HeapUsageHigh", "critical")]["base"]["firings"] == 0
    assert rows[("HeapUsageHigh", "warning")]["base"]["firings"] == 2


def test_cli_json(prometheus: str, catalog: Path) -> None:
    from click.testing import CliRunner

    from vigil.cli import cli

    out = CliRunner().invoke(
        cli,
        [
            "--catalog",
            str(catalog),
            "backtest",
            "--prometheus",
            prometheus,
            "--from",
            t(0),
            "--to",
            t(4 * 3600),
            "--service",
            "pay",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert {"service", "alert", "severity", "firings", "firing_seconds"} <= set(rows[0])
    row = next(r for r in rows if r["alert"] == "HeapUsageHigh" and r["severity"] == "critical")
    assert (row["firings"], row["firing_seconds"], row["first"], row["last"]) == (2, 1800.0, t(35 * M), t(155 * M))


# ------------------------------------------------------------------ the independent engine
def _vm_bin(name: str) -> str:
    path = TOOLS / "current" / "bin" / name
    if not path.exists():
        pytest.skip(f"{path} missing: run `make tools` (scripts/tools.sh)")
    return str(path)


def vm_firings(vm: str, alert: str, severity: str, step: int) -> list[tuple[int, int, int]]:
    """(active_at, fired_at, resolved_at) in ms of each firing, from the ALERTS samples vmalert wrote.

    An alert is active over a run of consecutive evaluations at which ALERTS has a pending or a
    firing sample; it fired at the run's first firing sample and resolved one step after the run.
    Reading runs, not firing samples alone, matters: vmalert keys an alert by its labels *with* the
    metric name the expression returned, so when an `or` hands over from one recorded series to
    another (`slo:sli_error:ratio_rate5m` → `..._ratio_rate30m`) it resolves the alert and makes it
    pending again, although the expression returned a series at every evaluation. Prometheus drops
    the name before keying (rules/alerting.go), and so does vigil: one firing.
    """
    body = requests.get(
        f"{vm}/api/v1/export",
        params={"match[]": f'ALERTS{{alertname="{alert}",severity="{severity}"}}', "start": START, "end": END + 3600},
        timeout=30,
    ).text
    states: dict[int, set[str]] = {}
    for line in filter(None, body.splitlines()):
        series = json.loads(line)
        for ts in series["timestamps"]:
            states.setdefault(ts, set()).add(series["metric"]["alertstate"])
    active: list[list[int]] = []
    for ts in sorted(states):
        if active and ts - active[-1][-1] == step:
            active[-1].append(ts)
        else:
            active.append([ts])
    out = []
    for run in active:
        firing = [ts for ts in run if "firing" in states[ts]]
        if firing:
            out.append((run[0], firing[0], run[-1] + step))
    return out


def test_agrees_with_vmalert_replay(tmp_path: Path, catalog: Path, model: Any) -> None:
    """vmalert -replay (the rules as deployed, recording rules written and read back) and vigil
    (from raw series, in a real Prometheus) agree on every firing within one evaluation step."""
    vm_bin, vmalert_bin = _vm_bin("victoria-metrics"), _vm_bin("vmalert")
    prom_bin = TOOLS / "current" / "bin"
    rules_dir = tmp_path / "rules"
    files = rule_files(model, Cache(None))
    rules_dir.mkdir()
    # vmalert -replay replays one group after another over the whole range, so an alert of the main
    # group would never see the records of the baseline group (replayed after it), which the live
    # vmalert evaluates side by side. So the generated groups are replayed twice: their recording
    # rules first (the baselines read the main group's records, replayed before them), then their
    # alerting rules, unchanged, in the same groups with the same intervals.
    generated = files[layout.rule_file("pay")]
    for kind in ("record", "alert"):
        (rules_dir / f"{kind}.yaml").write_text(
            yaml.safe_dump(
                {"groups": [{**g, "rules": [r for r in g["rules"] if kind in r]} for g in generated["groups"]]}
            )
        )
    port = free_port()
    vm = f"http://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [
                vm_bin,
                f"-storageDataPath={tmp_path / 'vm'}",
                f"-httpListenAddr=127.0.0.1:{port}",
                "-retentionPeriod=10y",
                "-search.disableCache",
                "-search.latencyOffset=0s",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        wait(f"{vm}/health", procs[0])
        requests.post(
            f"{vm}/api/v1/import/prometheus", data="".join(history().prometheus_text()).encode(), timeout=120
        ).raise_for_status()
        requests.get(f"{vm}/internal/force_flush", timeout=30).raise_for_status()
        for kind in ("record", "alert"):
            # rulesDelay: a recording rule's samples must be searchable in victoria-metrics before the
            # next rule reads them over the whole range (at 1s, predict_linear2h read nothing).
            replay = subprocess.run(
                [
                    vmalert_bin,
                    f"-rule={rules_dir / f'{kind}.yaml'}",
                    f"-datasource.url={vm}",
                    f"-remoteWrite.url={vm}",
                    f"-replay.timeFrom={t(0)}",
                    f"-replay.timeTo={t(4 * 3600)}",
                    "-replay.rulesDelay=3s",
                    "-replay.maxDatapointsPerQuery=10000",
                    "-replay.disableProgressBar",
                    "-remoteWrite.flushInterval=100ms",
                ],
                check=False,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert replay.returncode == 0, replay.stderr[-3000:]
            requests.get(f"{vm}/internal/force_flush", timeout=30).raise_for_status()
            time.sleep(3)  # searchable, as between rules

        # vigil, over the same raw history in a real Prometheus (the current generation).
        data = tmp_path / "prom"
        backfill(history(), data, tmp_path)
        (tmp_path / "prometheus.yml").write_text("global: {}\n")
        pport = free_port()
        procs.append(
            subprocess.Popen(
                [
                    str(prom_bin / "prometheus"),
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={data}",
                    "--storage.tsdb.retention.time=10y",
                    f"--web.listen-address=127.0.0.1:{pport}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait(f"http://127.0.0.1:{pport}/-/ready", procs[1])
        result = backtest_model(model, BacktestAPI(f"http://127.0.0.1:{pport}"), Window(START, END))
        written = {
            r.rule.key: vm_firings(vm, r.rule.alert, r.rule.severity, round(r.rule.interval * 1000))
            for r in result.results
        }
    finally:
        for proc in reversed(procs):
            tools.stop(proc)
    compared = fired = 0
    for r in result.results:
        step = round(r.rule.interval * 1000)
        ours = [(f.active_at, f.fired_at, f.resolved_at) for f in r.firings]
        theirs = written[r.rule.key]
        assert len(ours) == len(theirs), (r.rule.key, ours, theirs)
        for (active, fired, resolved), (their_active, their_fired, their_resolved) in zip(ours, theirs):
            assert abs(active - their_active) <= step, (r.rule.key, "pending", ours, theirs)
            assert abs(fired - their_fired) <= step, (r.rule.key, "fired", ours, theirs)
            if resolved is not None:  # still firing at the end: vmalert's last sample says nothing more
                assert abs(resolved - their_resolved) <= step, (r.rule.key, "resolved", ours, theirs)
        compared += 1
        fired += bool(ours)
    assert compared == len(result.results) and fired >= 4
    assert written[("pay", "InflightAnomaly", "warning")], "the anomaly alert's baseline is read across groups"


def test_plan_respects_points_per_query(model: Any) -> None:
    rules, _ = alert_rules(model, rule_files(model, Cache(None)))
    queries = plan(rules, Window(0, 7 * 86400), batch=10, max_points=11000)
    assert all((q.end - q.start) // q.step + 1 <= 11000 for q in queries)
    # 7 days at 1m is 10,081 evaluations: one chunk; every alert in exactly one batch.
    assert sorted(i for q in queries for i in q.rules) == list(range(len(rules)))


def test_a_refused_alert_is_named(prometheus: str) -> None:
    """Prometheus refuses the batch; vigil queries its alerts one by one and names the refused one."""
    from vigil.backtest.evaluate import evaluate
    from vigil.backtest.rules import AlertRule
    from vigil.errors import BacktestError

    def rule(name: str, expr: str) -> AlertRule:
        return AlertRule(
            "pay", name, "critical", "threshold", "prometheus/rules/pay.yaml", "vigil-pay", 60, 0, 0, expr, expr
        )

    rules = [rule("Fine", "up > 0"), rule("Broken", 'label_replace(up, "a", "b", "c", "(")')]
    with pytest.raises(BacktestError, match=r"prometheus/rules/pay.yaml: group vigil-pay: alert Broken \(critical\)"):
        evaluate(BacktestAPI(prometheus), rules, Window(START, END))


def test_cli_base_revision(prometheus: str, tmp_path: Path) -> None:
    """--base REV: the catalog at a git revision (heap critical at 99%) backtested beside the work tree's."""
    from click.testing import CliRunner

    from vigil.cli import cli

    catalog = heap_critical_lowered(tmp_path / "repo")
    out = CliRunner().invoke(
        cli,
        [
            "--catalog",
            str(catalog),
            "backtest",
            "--prometheus",
            prometheus,
            "--from",
            t(0),
            "--to",
            t(4 * 3600),
            "--base",
            "HEAD",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    rows = {(r["alert"], r["severity"]): r for r in json.loads(out.stdout)}
    assert rows[("HeapUsageHigh", "critical")]["firings"] == 2
    assert rows[("HeapUsageHigh", "critical")]["base"] == {
        "firings": 0,
        "firing_seconds": 0,
        "first": None,
        "last": None,
    }
    assert rows[("HeapUsageHigh", "warning")]["base"]["firings"] == 2


def test_review_backtest_says_what_the_changed_alert_would_have_done(prometheus: str, tmp_path: Path) -> None:
    """`vigil review --backtest`: the heap critical threshold lowered from 99% to 90% is reported
    with its backtest (2 firings over the history) beside the base's (none), in all three formats."""
    from click.testing import CliRunner

    from vigil.cli import cli

    catalog = heap_critical_lowered(tmp_path / "repo")
    args = ["--catalog", str(catalog), "review", "--base", "HEAD", "--no-cache", "--backtest"]
    args += ["--prometheus", prometheus, "--from", t(0), "--to", t(4 * 3600)]

    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    records = {(r["kind"], r["name"], (r["after"] or {}).get("severity")): r for r in json.loads(out.stdout)}
    heap_critical = records[("alert", "HeapUsageHigh", "critical")]
    assert heap_critical["change"] == "changed" and "threshold" in heap_critical["fields"]
    assert heap_critical["backtest"]["firings"] == 2
    assert heap_critical["backtest"]["base"]["firings"] == 0
    assert all("backtest" not in r for k, r in records.items() if k[0] != "alert")

    text = CliRunner().invoke(cli, args)
    assert "backtest: would have fired 2 times" in text.output and "before this change never" in text.output
    markdown = CliRunner().invoke(cli, [*args, "--markdown"])
    assert "#### What the changed alerts would have done (backtest)" in markdown.output
    assert "| pay | `HeapUsageHigh (critical)` | 2 times" in markdown.output, markdown.output
