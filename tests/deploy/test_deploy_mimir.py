"""`vigil deploy` to Mimir's ruler and Alertmanager configuration APIs, against tests/fakes/mimir.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from fakes.mimir import FakeMimir
from vigil.deploy.http import HttpSettings
from vigil.deploy.run import Options, deploy
from vigil.errors import DeployError

FAST = HttpSettings(timeout=1.0, retries=3, backoff=0.01)
SECRETS = {
    "OPS_NOC_WEBHOOK_URL": "http://noc.example/hook-s3cret",
    "SMTP_FROM": "a@example.com",
    "SMTP_SMARTHOST": "smtp.example.com:25",
}
TEAM_GROUP = "name: team-rules\nrules:\n- record: team:up:sum\n  expr: sum(up)\n"


@pytest.fixture
def mimir() -> Iterator[FakeMimir]:
    fake = FakeMimir().start()
    yield fake
    fake.stop()


def env(fake: FakeMimir) -> dict[str, str]:
    return {"MIMIR_ADDRESS": fake.url, "MIMIR_TENANT_ID": "shop", **SECRETS}


def opts(build: Path, **kw: object) -> Options:
    return Options(catalog=Path("catalog"), from_dir=build, unit_tests=False, cache=None, http=FAST, **kw)  # type: ignore[arg-type]


def built_groups(build: Path) -> dict[str, set[str]]:
    return {
        p.stem: {g["name"] for g in yaml.safe_load(p.read_text())["groups"]}
        for p in (build / "prometheus/rules").glob("*.yaml")
    }


def post_group(fake: FakeMimir, ns: str, text: str) -> None:
    requests.post(
        f"{fake.url}/prometheus/config/v1/rules/{ns}",
        data=text,
        timeout=5,
        headers={"X-Scope-OrgID": "shop", "Content-Type": "application/yaml"},
    ).raise_for_status()


def test_one_namespace_per_service_and_the_alertmanager_config(mimir: FakeMimir, example_output: Path):
    report = deploy(opts(example_output), env(mimir))
    assert not report.failed, report.text()
    assert [r.target for r in report.results] == ["mimir-alertmanager", "mimir-ruler"]
    assert {ns: set(groups) for ns, groups in mimir.rules["shop"].items()} == built_groups(example_output)
    config = yaml.safe_load(mimir.alertmanager["shop"]["alertmanager_config"])
    assert config["receivers"] and "hook-s3cret" in mimir.alertmanager["shop"]["alertmanager_config"]
    assert "s3cret" not in report.text()


def test_a_second_deploy_makes_zero_writes(mimir: FakeMimir, example_output: Path):
    deploy(opts(example_output), env(mimir))
    before = len(mimir.writes())
    report = deploy(opts(example_output), env(mimir))
    assert not report.failed and report.writes == 0, report.text()
    assert len(mimir.writes()) == before


def test_prune_deletes_stale_vigil_groups_only(mimir: FakeMimir, example_output: Path):
    deploy(opts(example_output), env(mimir))
    post_group(mimir, "team", TEAM_GROUP)  # someone else's namespace
    post_group(mimir, "retired", "name: vigil-retired\nrules:\n- record: a:b:c\n  expr: vector(1)\n")
    kept = deploy(opts(example_output), env(mimir))
    assert "retired/vigil-retired: no longer built; kept" in kept.text()
    report = deploy(opts(example_output, prune=True), env(mimir))
    assert not report.failed, report.text()
    assert "retired" not in mimir.rules["shop"] or not mimir.rules["shop"]["retired"]
    assert "team-rules" in mimir.rules["shop"]["team"]
    assert [p for m, p, _ in mimir.writes() if m == "DELETE"] == ["/prometheus/config/v1/rules/retired/vigil-retired"]


def test_a_namespace_that_is_not_ours_is_refused(mimir: FakeMimir, example_output: Path):
    post_group(mimir, "checkout", TEAM_GROUP)
    before = len(mimir.writes())
    with pytest.raises(DeployError, match="namespace checkout holds groups that are not vigil's"):
        deploy(opts(example_output), env(mimir))
    assert len(mimir.writes()) == before


def test_5xx_and_timeouts_are_retried(mimir: FakeMimir, example_output: Path):
    mimir.inject("POST", "/prometheus/config/v1/rules/", times=2, status=503)
    mimir.inject("GET", "/api/v1/alerts", times=1, stall=FAST.timeout + 0.5)
    report = deploy(opts(example_output), env(mimir))
    assert not report.failed, report.text()
    assert {ns: set(g) for ns, g in mimir.rules["shop"].items()} == built_groups(example_output)


def test_the_tenant_is_required(mimir: FakeMimir, example_output: Path):
    assert requests.get(f"{mimir.url}/prometheus/config/v1/rules", timeout=5).status_code == 401
    with pytest.raises(DeployError, match="MIMIR_TENANT_ID"):
        deploy(opts(example_output), {"MIMIR_ADDRESS": mimir.url, **SECRETS})
