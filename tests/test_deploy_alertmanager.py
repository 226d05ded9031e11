"""`vigil deploy` to a real Alertmanager: the config file written with its ${ENV} secrets resolved
(mode 0600), /-/reload, verified through /api/v2/status; idempotent; rolled back when rejected."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml

from conftest import free_port
from vigil.deploy.alertmanager import AlertmanagerTarget
from vigil.deploy.plan import Result
from vigil.deploy.run import Options, deploy
from vigil.errors import DeployError
from vigil.stack import alertmanager as am_stack
from vigil import tools

pytestmark = pytest.mark.integration

INITIAL = "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n"
SECRETS = {"OPS_NOC_WEBHOOK_URL": "http://127.0.0.1:9/noc-hook-s3cret", "SMTP_FROM": "vigil@example.com",
           "SMTP_SMARTHOST": "smtp.example.com:587"}


class AM:
    def __init__(self, url: str, config: Path):
        self.url, self.config = url, config
        self.env = {"ALERTMANAGER_URL": url, "ALERTMANAGER_CONFIG_FILE": str(config), **SECRETS}

    def metric(self, name: str) -> float:
        for line in requests.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(name)

    def receivers(self) -> set[str]:
        return {r["name"] for r in requests.get(f"{self.url}/api/v2/receivers", timeout=10).json()}


@pytest.fixture
def am(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AM]:
    """The Alertmanager first on PATH (`make test`: the current generation); once per generation
    for a test that also asks for `generation` (load, reload, reject)."""
    if "generation" in request.fixturenames:
        request.getfixturevalue("generation")      # its PATH before this Alertmanager starts
    tools.find("alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(INITIAL)
    with am_stack.running(config, tmp_path / "am", free_port()) as url:
        yield AM(url, config)


def opts(build: Path, **kw: object) -> Options:
    return Options(catalog=Path("catalog"), from_dir=build, unit_tests=False, cache=None, **kw)  # type: ignore[arg-type]


def test_deploy_resolves_secrets_into_a_private_file_and_alertmanager_loads_it(generation: str, am: AM,
                                                                              example_output: Path):
    report = deploy(opts(example_output), am.env)
    assert not report.failed, report.text()
    written = am.config.read_text()
    assert "${" not in written.replace("# ${NAME}", "")
    assert "http://127.0.0.1:9/noc-hook-s3cret" in written and "smtp.example.com:587" in written
    assert stat.S_IMODE(am.config.stat().st_mode) == 0o600
    built = yaml.safe_load((example_output / "alertmanager/alertmanager.yaml").read_text())
    assert am.receivers() == {r["name"] for r in built["receivers"]}
    # The secret is in the file Alertmanager reads, never in what vigil prints.
    assert "s3cret" not in report.text()


def test_a_second_deploy_makes_zero_writes(generation: str, am: AM, example_output: Path):
    deploy(opts(example_output), am.env)
    mtime = am.config.stat().st_mtime_ns
    reloaded = am.metric("alertmanager_config_last_reload_success_timestamp_seconds")
    report = deploy(opts(example_output), am.env)
    assert not report.failed and report.writes == 0, report.text()
    assert [r.status for r in report.results] == ["unchanged"]
    assert am.config.stat().st_mtime_ns == mtime
    assert am.metric("alertmanager_config_last_reload_success_timestamp_seconds") == reloaded


def test_a_missing_secret_stops_the_deploy_before_anything_is_written(am: AM, example_output: Path):
    env = {k: v for k, v in am.env.items() if k != "OPS_NOC_WEBHOOK_URL"}
    with pytest.raises(DeployError, match="OPS_NOC_WEBHOOK_URL"):
        deploy(opts(example_output), env)
    assert am.config.read_text() == INITIAL


def test_a_rejected_config_is_rolled_back(generation: str, am: AM, example_output: Path, tmp_path: Path):
    deploy(opts(example_output), am.env)
    good = am.config.read_text()
    # A route to a receiver that does not exist: amtool would refuse it first, so it goes to the
    # target directly, as a version skew between amtool and Alertmanager would let it through.
    bad = tmp_path / "bad"
    shutil.copytree(example_output, bad)
    path = bad / "alertmanager/alertmanager.yaml"
    path.write_text(path.read_text().replace("receiver: commerce-dev/page", "receiver: nobody/page", 1))
    target = AlertmanagerTarget(am.url, am.config, bad, am.env)
    result = Result("alertmanager", target.where)
    plan = target.plan(prune=False)
    assert plan.changes
    with pytest.raises(DeployError, match="rejected the reload.*restored"):
        target.apply(plan, result)
    assert result.status == "rolled back"
    assert am.config.read_text() == good
    assert am.metric("alertmanager_config_last_reload_successful") == 1
    assert target.loaded_is(good)
