"""Deploy exactly what was reviewed: `vigil diff` and `vigil deploy` push --out, and refuse, naming
the files, when it is not what the catalog builds to; `--build` pushes a fresh build explicitly.
Against a real Prometheus (the generation first on PATH)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import require
from vigil.cli import main
from vigil.errors import DeployError, StaleOutputError
from vigil.stack import prometheus

pytestmark = pytest.mark.integration

FOREIGN = "groups:\n- name: team-rules\n  rules:\n  - record: team:up:sum\n    expr: sum(up)\n"
OTHERS = ("MIMIR_ADDRESS", "MIMIR_TENANT_ID", "VMALERT_URL", "VMALERT_RULES_DIR", "ALERTMANAGER_URL",
          "ALERTMANAGER_CONFIG_FILE", "GRAFANA_URL")


class Prom:
    def __init__(self, url: str, rules: Path):
        self.url, self.rules = url, rules
        self.env: dict[str, str | None] = {"PROMETHEUS_URL": url, "PROMETHEUS_RULES_DIR": str(rules),
                                           **{k: None for k in OTHERS}}

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(self.rules.iterdir())}

    def reloaded_at(self) -> float:
        for line in requests.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith("prometheus_config_last_reload_success_timestamp_seconds "):
                return float(line.split()[1])
        raise AssertionError("no reload timestamp in Prometheus's /metrics")

    def groups(self) -> set[str]:
        return {g["name"] for g in requests.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]}


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[Prom]:
    require("prometheus")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "team.yaml").write_text(FOREIGN)
    with prometheus.start(tmp_path / "prom", {}, [rules / "*.yaml"]) as p:
        yield Prom(p.url, rules)


@pytest.fixture
def reviewed(tmp_path: Path, example_output: Path, catalog_copy: Callable[[], Path]) -> tuple[Path, Path]:
    """(a catalog, the output it builds to), both writable."""
    out = tmp_path / "output"
    shutil.copytree(example_output, out)
    return catalog_copy(), out


@dataclass
class Run:
    exit_code: int
    output: str          # stdout and stderr


@pytest.fixture
def vigil(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run the vigil command as a user does (cli.main: its messages and exit codes)."""
    def run(catalog: Path, out: Path, env: dict[str, str | None], *args: str) -> Run:
        for key, value in env.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main(["--catalog", str(catalog), "--out", str(out), *args, "--no-unit-tests"])
            raise SystemExit(0)
        got = capsys.readouterr()
        return Run(int(exit_.value.code or 0), got.out + got.err)
    return run


def test_the_reviewed_output_is_what_gets_deployed(vigil: Callable[..., Run], prom: Prom, reviewed: tuple[Path, Path]):
    catalog, out = reviewed
    done = vigil(catalog, out, prom.env, "deploy")
    assert done.exit_code == 0, done.output
    for p in (out / "prometheus/rules").glob("*.yaml"):
        assert (prom.rules / p.name).read_bytes() == p.read_bytes()
    assert "vigil-checkout" in prom.groups()


def test_a_stale_output_is_refused_naming_the_files_and_nothing_changes(vigil: Callable[..., Run], prom: Prom,
                                                                        reviewed: tuple[Path, Path]):
    catalog, out = reviewed
    assert vigil(catalog, out, prom.env, "deploy").exit_code == 0
    files, reloaded = prom.snapshot(), prom.reloaded_at()
    # The catalog edited after output/ was built and reviewed, and a file nobody builds any more.
    svc = catalog / "services" / "checkout.yaml"
    svc.write_text(svc.read_text().replace("critical: 2%", "critical: 3%"))
    (out / "prometheus/rules/retired.yaml").write_text("groups: []\n")

    for command in ("diff", "deploy"):
        refused = vigil(catalog, out, prom.env, command)
        assert refused.exit_code == StaleOutputError.exit_code, refused.output
        message = refused.output
        assert f"{out} is not what {catalog} builds to with this vigil" in message and "nothing was pushed" in message
        named = {line.strip() for line in message.splitlines() if line.startswith("  ")}
        # Exactly the files that differ: checkout's rules, tests and dashboard, and the one not built.
        assert named == {"grafana/dashboards/vigil-checkout.json", "prometheus/rules/checkout.yaml",
                         "prometheus/rules/retired.yaml", "prometheus/tests/checkout.test.yaml"}, message
    assert prom.snapshot() == files                  # same bytes, same mtimes
    assert prom.reloaded_at() == reloaded            # and no reload


def test_build_pushes_the_catalog_built_afresh_instead(vigil: Callable[..., Run], prom: Prom,
                                                       reviewed: tuple[Path, Path]):
    catalog, out = reviewed
    svc = catalog / "services" / "checkout.yaml"
    svc.write_text(svc.read_text().replace("critical: 2%", "critical: 3%"))
    before = (out / "prometheus/rules/checkout.yaml").read_bytes()
    done = vigil(catalog, out, prom.env, "deploy", "--build")
    assert done.exit_code == 0, done.output
    deployed = (prom.rules / "checkout.yaml").read_text()
    assert "> 0.03" in deployed and "> 0.02" not in deployed
    assert (out / "prometheus/rules/checkout.yaml").read_bytes() == before      # --out is not rewritten


def test_from_and_build_exclude_each_other(vigil: Callable[..., Run], prom: Prom, reviewed: tuple[Path, Path]):
    catalog, out = reviewed
    refused = vigil(catalog, out, prom.env, "deploy", "--build", "--from", str(out))
    assert refused.exit_code == DeployError.exit_code and "--from and --build exclude each other" in refused.output
    assert set(prom.snapshot()) == {"team.yaml"}
