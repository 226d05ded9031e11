"""`vigil deploy` to a real vmalert, with a real victoria-metrics as its datasource (and the target
of its recording rules): files in its rules directory, /-/reload, verified through /api/v1/rules;
idempotent, an alert firing on samples pushed into victoria-metrics, rolled back when vmalert
rejects a file, pruning only what is vigil's."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner

from conftest import CATALOG, free_port, require
from vigil import tools
from vigil.build import build
from vigil.deploy.plan import Result
from vigil.deploy.run import Options, deploy
from vigil.deploy.vmalert import VmalertTarget
from vigil.errors import DeployError

pytestmark = pytest.mark.integration

FOREIGN = "groups:\n- name: team-rules\n  rules:\n  - record: team:up:sum\n    expr: sum(up)\n"
POLLS = 600   # at 0.1 s: an upper bound on waiting for a process or an alert, never an assertion about time


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(POLLS):
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not healthy:\n{log.read_text(errors='replace')}")


def _start(args: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_healthy(url, proc, log)
    except BaseException:
        tools.stop(proc)
        raise
    return proc


@dataclass
class VM:
    url: str                 # vmalert
    storage: str             # victoria-metrics
    rules: Path

    @property
    def env(self) -> dict[str, str]:
        return {"VMALERT_URL": self.url, "VMALERT_RULES_DIR": str(self.rules)}

    def loaded(self) -> set[tuple[str, str]]:
        groups = requests.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return {(Path(g["file"]).name, g["name"]) for g in groups}

    def metric(self, name: str) -> float:
        for line in requests.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in vmalert's /metrics")

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(self.rules.iterdir())}


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[VM]:
    require("victoria-metrics")
    require("vmalert")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "team.yaml").write_text(FOREIGN)      # someone else's rules, next to ours
    storage_port, alert_port = free_port(), free_port()
    storage = f"http://127.0.0.1:{storage_port}"
    # latencyOffset 0 and no cache: queries see samples as soon as they are written (imported
    # samples and recording rule results), not only 30 s later.
    db = _start([tools.find("victoria-metrics"), f"-httpListenAddr=127.0.0.1:{storage_port}",
                 f"-storageDataPath={tmp_path / 'vm-data'}", "-search.latencyOffset=0s", "-search.disableCache",
                 "-loggerLevel=WARN"], storage, tmp_path / "victoria-metrics.log")
    try:
        url = f"http://127.0.0.1:{alert_port}"
        # Recording rules need somewhere to write: victoria-metrics itself, as in production.
        alert = _start([tools.find("vmalert"), f"-rule={rules}/*.yaml", f"-datasource.url={storage}",
                        f"-remoteWrite.url={storage}", "-remoteWrite.flushInterval=100ms", "-notifier.blackhole",
                        f"-httpListenAddr=127.0.0.1:{alert_port}", "-evaluationInterval=1s", "-loggerLevel=WARN"],
                       url, tmp_path / "vmalert.log")
        try:
            yield VM(url, storage, rules)
        finally:
            tools.stop(alert)
    finally:
        tools.stop(db)


def opts(build_dir: Path, **kw: object) -> Options:
    return Options(catalog=Path("catalog"), from_dir=build_dir, unit_tests=False, cache=None, **kw)  # type: ignore[arg-type]


def expected_groups(build_dir: Path) -> set[tuple[str, str]]:
    return {(p.name, g["name"]) for p in (build_dir / "prometheus/rules").glob("*.yaml")
            for g in yaml.safe_load(p.read_text())["groups"]}


def test_deploy_loads_exactly_the_generated_groups_and_leaves_foreign_rules(vm: VM, example_output: Path):
    report = deploy(opts(example_output), vm.env)
    assert not report.failed, report.text()
    assert [(r.target, r.status) for r in report.results] == [("prometheus", "ok")]   # --only prometheus covers it
    assert vm.loaded() == expected_groups(example_output) | {("team.yaml", "team-rules")}
    assert (vm.rules / "team.yaml").read_text() == FOREIGN
    for p in (example_output / "prometheus/rules").glob("*.yaml"):
        assert (vm.rules / p.name).read_bytes() == p.read_bytes()
    rules = {r["name"] for g in requests.get(f"{vm.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
             if g["name"] == "vigil-checkout" for r in g["rules"]}
    assert {"ServiceDown", "ErrorRatioHigh", "service:error_ratio:ratio_rate5m"} <= rules


def test_a_second_deploy_of_an_unchanged_build_makes_zero_writes(vm: VM, example_output: Path):
    deploy(opts(example_output), vm.env)
    files, reloads = vm.snapshot(), vm.metric("vmalert_config_last_reload_total")
    report = deploy(opts(example_output, only=("prometheus",)), vm.env)
    assert not report.failed and report.writes == 0, report.text()
    assert [r.status for r in report.results] == ["unchanged"]
    assert vm.snapshot() == files
    assert vm.metric("vmalert_config_last_reload_total") == reloads      # not even a reload


def _fast_catalog(root: Path) -> Path:
    """The example catalog with checkout's error-ratio alerts firing at once (no `for`)."""
    shutil.copytree(CATALOG, root)
    path = root / "services" / "checkout.yaml"
    svc = yaml.safe_load(path.read_text())
    svc["metrics"]["error_ratio"]["for"] = {"warning": "0s", "critical": "0s"}
    path.write_text(yaml.safe_dump(svc, sort_keys=False))
    return root


def _import(storage: str, errors_per_minute: float, total_per_minute: float) -> None:
    """Five minutes of checkout's request counters (Micrometer's: checkout has the spring-http
    profile), one sample a minute up to now, in the Prometheus text format victoria-metrics imports."""
    now = int(time.time())
    series = 'http_server_requests_seconds_count{{job="checkout",uri="/api/cart",status="{}"}} {} {}'
    lines = []
    for i in range(6):
        ts_ms = (now - 300 + 60 * i) * 1000
        lines.append(series.format(500, errors_per_minute * i, ts_ms))
        lines.append(series.format(200, (total_per_minute - errors_per_minute) * i, ts_ms))
    requests.post(f"{storage}/api/v1/import/prometheus", data="\n".join(lines) + "\n", timeout=10).raise_for_status()


def _firing(vm: VM, alertname: str) -> set[str]:
    alerts = requests.get(f"{vm.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return {a["labels"]["severity"] for a in alerts if a["name"] == alertname and a["state"] == "firing"
            and a["labels"].get("service") == "checkout"}


def test_a_deployed_alert_fires_on_samples_pushed_into_victoria_metrics(vm: VM, tmp_path: Path):
    out = tmp_path / "output"
    build(_fast_catalog(tmp_path / "catalog"), out, run_checks=True, run_tests=False)
    report = deploy(opts(out), vm.env)
    assert not report.failed, report.text()
    assert _firing(vm, "ErrorRatioHigh") == set()
    _import(vm.storage, errors_per_minute=30, total_per_minute=300)     # 10 %: above warning and critical
    for _ in range(POLLS):
        if _firing(vm, "ErrorRatioHigh") == {"warning", "critical"}:
            break
        time.sleep(0.1)
    assert _firing(vm, "ErrorRatioHigh") == {"warning", "critical"}
    [alert] = [a for a in requests.get(f"{vm.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
               if a["name"] == "ErrorRatioHigh" and a["labels"]["severity"] == "critical"]
    assert alert["labels"]["team"] == "commerce-dev" and alert["labels"]["kind"] == "threshold"
    assert alert["annotations"]["dashboard_url"]      # vigil's annotations, templated by vmalert


def test_a_rule_file_vmalert_rejects_is_rolled_back(vm: VM, example_output: Path, tmp_path: Path):
    deploy(opts(example_output), vm.env)
    before = vm.snapshot()
    # A rule file only the live vmalert can reject: vigil's checks would stop it sooner, so it goes
    # to the target directly, as a version skew between promtool and vmalert would let it.
    bad = tmp_path / "bad"
    shutil.copytree(example_output, bad)
    path = bad / "prometheus/rules/checkout.yaml"
    path.write_text(path.read_text().replace("expr: absent(up{", "expr: absent(up{{", 1))
    target = VmalertTarget(vm.url, vm.rules, bad)
    result = Result("prometheus", target.where)
    plan = target.plan(prune=False)
    assert [c.name for c in plan.changes] == ["checkout.yaml"]
    with pytest.raises(DeployError, match=r"vmalert rejected the rule files.*restored"):
        target.apply(plan, result)
    assert result.status == "rolled back"
    assert {n: b for n, (b, _) in vm.snapshot().items()} == {n: b for n, (b, _) in before.items()}
    assert vm.metric("vmalert_config_last_reload_successful") == 1       # the rollback reload worked
    assert vm.loaded() == expected_groups(example_output) | {("team.yaml", "team-rules")}


def test_a_reload_that_loads_nothing_is_caught_and_undone(tmp_path: Path, vm: VM, example_output: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    """vmalert accepts the reload but its -rule does not cover the directory deployed to."""
    # The rules never show, so each reload polls to its bound: a shorter bound, the same path.
    monkeypatch.setattr("vigil.deploy.vmalert.POLLS", 20)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    report = deploy(opts(example_output), {"VMALERT_URL": vm.url, "VMALERT_RULES_DIR": str(elsewhere)})
    assert report.failed
    [result] = report.results
    assert result.status == "rolled back"
    assert "not loaded" in result.message and "vmalert's -rule flag" in result.message
    assert list(elsewhere.iterdir()) == []


def test_prune_removes_only_vigils_stale_files(vm: VM, example_output: Path):
    text = (example_output / "prometheus/rules/payment.yaml").read_text().replace("vigil-payment", "vigil-retired")
    (vm.rules / "retired.yaml").write_text(text)    # deployed once for a service the catalog no longer has
    kept = deploy(opts(example_output), vm.env)
    assert not kept.failed, kept.text()
    assert "retired.yaml: no longer built; kept" in kept.text()
    assert ("retired.yaml", "vigil-retired") in vm.loaded()

    pruned = deploy(opts(example_output, prune=True), vm.env)
    assert not pruned.failed, pruned.text()
    assert "- rule file retired.yaml" in pruned.text()
    assert not (vm.rules / "retired.yaml").exists()
    assert (vm.rules / "team.yaml").read_text() == FOREIGN
    assert vm.loaded() == expected_groups(example_output) | {("team.yaml", "team-rules")}


def test_cli_diff_then_deploy_only_prometheus_then_no_diff(vm: VM, example_output: Path):
    from vigil.cli import cli
    runner = CliRunner()
    others = ("MIMIR_ADDRESS", "MIMIR_TENANT_ID", "PROMETHEUS_URL", "PROMETHEUS_RULES_DIR", "ALERTMANAGER_URL",
              "ALERTMANAGER_CONFIG_FILE", "GRAFANA_URL")
    env: dict[str, str | None] = {**vm.env, **{k: None for k in others}}   # this test's target only
    args = ["diff", "--from", str(example_output), "--no-unit-tests", "--only", "prometheus"]
    before = runner.invoke(cli, args, env=env)
    assert before.exit_code == 0, before.output
    assert f"prometheus ({vm.url}, {vm.rules}): 7 to add" in before.output
    done = runner.invoke(cli, ["deploy", "--from", str(example_output), "--no-unit-tests", "--only", "prometheus"],
                         env=env)
    assert done.exit_code == 0, done.output
    after = runner.invoke(cli, args, env=env)
    assert "0 to add, 0 to change, 0 to remove, 7 unchanged" in after.output
