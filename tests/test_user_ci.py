"""The CI we ship for users: the GitHub Actions workflow and the pre-commit hooks (docs/ci.md).

GitHub cannot run here, so the workflow is validated against the GitHub workflow schema that
check-jsonschema vendors from SchemaStore, and every vigil command it runs is checked to exist with
the options it passes. The hooks run for real, through `pre-commit try-repo` in a temporary
repository.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import CATALOG, ROOT
from vigil.cli import cli

WORKFLOW = ROOT / ".github" / "workflows" / "vigil.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent


def test_the_workflow_is_a_valid_github_workflow() -> None:
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _vigil_commands(doc: dict) -> list[list[str]]:
    runs = [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]
    return [shlex.split(line.split(" > ")[0].split(" || ")[0]) for run in runs for line in run.splitlines()
            if line.strip().startswith("vigil ")]


def test_every_vigil_command_of_the_workflow_exists_with_its_options() -> None:
    commands = _vigil_commands(yaml.safe_load(WORKFLOW.read_text()))
    assert {c[1] for c in commands} >= {"validate", "build", "check", "review", "deploy"}
    for command in commands:
        args = ["x" if "$" in a else a for a in command[1:]]   # values come from the environment there
        # --help after the options: click parses them all (an unknown one fails) and runs nothing.
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, f"{command}: {result.output}"


def test_the_hooks_manifest_is_valid() -> None:
    result = subprocess.run([str(BIN / "pre-commit"), "validate-manifest", str(HOOKS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "monitoring"
    shutil.copytree(CATALOG, repo / "catalog")
    shutil.copytree(ROOT / "output", repo / "output")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "catalog")
    return repo


def _try_repo(repo: Path, hook: str) -> subprocess.CompletedProcess[str]:
    # try-repo installs vigil from this checkout (uncommitted changes included) into pre-commit's
    # own environment, as a user's `repo:` entry would.
    env = {**os.environ, "PRE_COMMIT_HOME": str(ROOT / ".vigil-cache" / "pre-commit")}
    return subprocess.run([str(BIN / "pre-commit"), "try-repo", str(ROOT), hook, "--all-files"], cwd=repo,
                          capture_output=True, text=True, env=env, timeout=900)


def test_the_validate_hook_passes_a_good_catalog_and_names_the_line_of_a_bad_one(user_repo: Path) -> None:
    assert _try_repo(user_repo, "vigil-validate").returncode == 0
    service = user_repo / "catalog" / "services" / "checkout.yaml"
    service.write_text(service.read_text().replace("owner: commerce-dev", "owner: comerce-dev"))
    _git(user_repo, "add", "-A")
    result = _try_repo(user_repo, "vigil-validate")
    assert result.returncode != 0
    assert "catalog/services/checkout.yaml:" in result.stdout and "unknown department 'comerce-dev'" in result.stdout


def test_the_build_hook_stops_a_commit_whose_output_is_stale(user_repo: Path) -> None:
    assert _try_repo(user_repo, "vigil-build").returncode == 0, "the committed output/ is fresh"
    service = user_repo / "catalog" / "services" / "checkout.yaml"
    service.write_text(service.read_text().replace("warning: 0.5%", "warning: 0.6%"))
    _git(user_repo, "add", "-A")
    result = _try_repo(user_repo, "vigil-build")
    assert result.returncode != 0 and "files were modified by this hook" in result.stdout, result.stdout
    assert "0.006" in (user_repo / "output" / "prometheus" / "rules" / "checkout.yaml").read_text()
