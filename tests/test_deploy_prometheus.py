"""`vigil deploy` to a real Prometheus: files in its rules directory, /-/reload, verified through
/api/v1/rules; idempotent, pruning only what is vigil's, rolled back when the reload fails."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml
from click.testing import CliRunner

from conftest import require
from vigil.deploy import lock
from vigil.deploy.plan import Result
from vigil.deploy.prometheus import PrometheusTarget
from vigil.deploy.run import Options, deploy, plan_all, Report
from vigil.errors import CatalogError, DeployError
from vigil.stack import prometheus

pytestmark = pytest.mark.integration

FOREIGN = "groups:\n- name: team-rules\n  rules:\n  - record: team:up:sum\n    expr: sum(up)\n"


class Server:
    def __init__(self, url: str, rules: Path):
        self.url, self.rules = url, rules
        self.env = {"PROMETHEUS_URL": url, "PROMETHEUS_RULES_DIR": str(rules)}

    def loaded(self) -> set[tuple[str, str]]:
        groups = requests.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return {(Path(g["file"]).name, g["name"]) for g in groups}

    def metric(self, name: str) -> float:
        for line in requests.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in Prometheus's /metrics")

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(self.rules.iterdir())}


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The Prometheus first on PATH (`make test`: the current generation); once per generation for
    a test that also asks for `generation` (what Prometheus itself does: load, reload, reject)."""
    if "generation" in request.fixturenames:
        request.getfixturevalue("generation")      # its PATH before this Prometheus starts
    require("prometheus")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "team.yaml").write_text(FOREIGN)      # someone else's rules, next to ours
    with prometheus.start(tmp_path / "prom", {}, [rules / "*.yaml"]) as p:
        yield Server(p.url, rules)


def opts(build: Path, **kw: object) -> Options:
    return Options(catalog=Path("catalog"), from_dir=build, unit_tests=False, cache=None, **kw)  # type: ignore[arg-type]


def expected_groups(build: Path) -> set[tuple[str, str]]:
    return {(p.name, g["name"]) for p in (build / "prometheus/rules").glob("*.yaml")
            for g in yaml.safe_load(p.read_text())["groups"]}


def test_deploy_loads_exactly_the_generated_groups_and_leaves_foreign_rules(generation: str, server: Server,
                                                                           example_output: Path):
    report = deploy(opts(example_output), server.env)
    assert not report.failed, report.text()
    assert [r.status for r in report.results] == ["ok"]
    assert server.loaded() == expected_groups(example_output) | {("team.yaml", "team-rules")}
    assert (server.rules / "team.yaml").read_text() == FOREIGN
    for p in (example_output / "prometheus/rules").glob("*.yaml"):
        assert (server.rules / p.name).read_bytes() == p.read_bytes()


def test_a_second_deploy_of_an_unchanged_build_makes_zero_writes(generation: str, server: Server, example_output: Path):
    deploy(opts(example_output), server.env)
    files, reloaded = server.snapshot(), server.metric("prometheus_config_last_reload_success_timestamp_seconds")
    report = deploy(opts(example_output), server.env)
    assert not report.failed and report.writes == 0, report.text()
    assert [r.status for r in report.results] == ["unchanged"]
    assert server.snapshot() == files            # same bytes, same mtimes: nothing rewritten
    assert server.metric("prometheus_config_last_reload_success_timestamp_seconds") == reloaded   # no reload


def test_dry_run_pushes_nothing(server: Server, example_output: Path):
    files = server.snapshot()
    report = deploy(opts(example_output, dry_run=True), server.env)
    assert report.writes == 0 and [r.status for r in report.results] == ["dry run"]
    assert "+ rule file checkout.yaml" in report.text()
    assert server.snapshot() == files


def _stale_copy(build: Path, server: Server) -> None:
    """A rule file vigil deployed for a service the catalog no longer has."""
    text = (build / "prometheus/rules/payment.yaml").read_text().replace("vigil-payment", "vigil-retired")
    (server.rules / "retired.yaml").write_text(text)


def test_prune_removes_only_vigils_stale_files(server: Server, example_output: Path):
    _stale_copy(example_output, server)
    kept = deploy(opts(example_output), server.env)
    assert (server.rules / "retired.yaml").exists()
    assert "retired.yaml: no longer built; kept" in kept.text()
    assert ("retired.yaml", "vigil-retired") in server.loaded()

    pruned = deploy(opts(example_output, prune=True), server.env)
    assert not pruned.failed, pruned.text()
    assert "- rule file retired.yaml" in pruned.text()
    assert not (server.rules / "retired.yaml").exists()
    assert (server.rules / "team.yaml").read_text() == FOREIGN
    assert server.loaded() == expected_groups(example_output) | {("team.yaml", "team-rules")}


def test_prune_refuses_to_delete_everything(server: Server, example_output: Path, tmp_path: Path):
    deploy(opts(example_output), server.env)
    empty = tmp_path / "empty"
    (empty / "prometheus/rules").mkdir(parents=True)    # a build that lost every rule file
    target = PrometheusTarget(server.url, server.rules, empty)
    files = server.snapshot()
    with pytest.raises(DeployError, match="would delete all 7 of vigil's objects"):
        plan_all([target], opts(empty, prune=True), Report())
    assert server.snapshot() == files


def test_a_rejected_reload_restores_the_previous_files(generation: str, server: Server, example_output: Path,
                                                      tmp_path: Path):
    deploy(opts(example_output), server.env)
    before = server.snapshot()
    # A rule file that only the live Prometheus can reject: vigil's checks would stop it sooner,
    # so it goes to the target directly, as a broken promtool or a version skew would let it.
    bad = tmp_path / "bad"
    shutil.copytree(example_output, bad)
    path = bad / "prometheus/rules/checkout.yaml"
    path.write_text(path.read_text().replace("expr: absent(up{", "expr: absent(up{{", 1))
    target = PrometheusTarget(server.url, server.rules, bad)
    result = Result("prometheus", target.where)
    plan = target.plan(prune=False)
    assert [c.name for c in plan.changes] == ["checkout.yaml"]
    with pytest.raises(DeployError, match="rejected the reload.*restored"):
        target.apply(plan, result)
    assert result.status == "rolled back"
    assert {n: b for n, (b, _) in server.snapshot().items()} == {n: b for n, (b, _) in before.items()}
    assert server.metric("prometheus_config_last_reload_successful") == 1    # the rollback reload worked
    assert server.loaded() == expected_groups(example_output) | {("team.yaml", "team-rules")}


def test_a_reload_that_loads_nothing_is_caught_and_undone(generation: str, tmp_path: Path, example_output: Path):
    """Prometheus answers 200 to the reload but its rule_files do not cover the directory."""
    require("prometheus")
    rules = tmp_path / "rules"
    rules.mkdir()
    with prometheus.start(tmp_path / "prom", {}, [tmp_path / "elsewhere" / "*.yaml"]) as p:
        report = deploy(opts(example_output), {"PROMETHEUS_URL": p.url, "PROMETHEUS_RULES_DIR": str(rules)})
    assert report.failed
    [result] = report.results
    assert result.status == "rolled back"
    assert "not loaded" in result.message and "rule_files" in result.message
    assert list(rules.iterdir()) == []       # the files it wrote are gone again


def test_an_invalid_catalog_changes_nothing(server: Server, catalog_copy):
    catalog = catalog_copy()
    svc = catalog / "services" / "checkout.yaml"
    svc.write_text(svc.read_text().replace("owner: commerce-dev", "owner: nobody"))
    files = server.snapshot()
    reloaded = server.metric("prometheus_config_last_reload_success_timestamp_seconds")
    with pytest.raises(CatalogError):
        deploy(Options(catalog=catalog, unit_tests=False, cache=None), server.env)
    assert server.snapshot() == files
    assert server.metric("prometheus_config_last_reload_success_timestamp_seconds") == reloaded


def test_two_deploys_at_once_are_refused(server: Server, example_output: Path):
    target = PrometheusTarget(server.url, server.rules, example_output)
    with lock.held(lock.lock_path([target.where])):
        with pytest.raises(DeployError, match="another deploy to these targets is running"):
            deploy(opts(example_output), server.env)
    assert not (server.rules / "checkout.yaml").exists()


def test_cli_diff_then_deploy_then_no_diff(server: Server, example_output: Path):
    from vigil.cli import cli
    runner = CliRunner()
    others = ("MIMIR_ADDRESS", "MIMIR_TENANT_ID", "ALERTMANAGER_URL", "ALERTMANAGER_CONFIG_FILE", "GRAFANA_URL")
    server.env.update({k: None for k in others})  # type: ignore[misc]   # this test's targets only
    args = ["diff", "--from", str(example_output), "--no-unit-tests"]
    before = runner.invoke(cli, args, env=server.env)
    assert before.exit_code == 0, before.output
    assert "7 to add" in before.output and "+ rule file checkout.yaml" in before.output
    done = runner.invoke(cli, ["deploy", "--from", str(example_output), "--no-unit-tests"], env=server.env)
    assert done.exit_code == 0, done.output
    after = runner.invoke(cli, args, env=server.env)
    assert "0 to add, 0 to change, 0 to remove, 7 unchanged" in after.output
