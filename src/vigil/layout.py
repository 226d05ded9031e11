"""The layout of `output/`: every path under it is spelled here, and only here.

Render writes these paths, check and deploy read them, the reports look things up in them. A path
is relative to the output directory (`--out`), with `/` separators, as the artefacts are keyed.
"""

from __future__ import annotations

from pathlib import Path

RULES_DIR = "prometheus/rules"
TESTS_DIR = "prometheus/tests"
ALERTMANAGER_DIR = "alertmanager"
ALERTMANAGER_CONFIG = f"{ALERTMANAGER_DIR}/alertmanager.yaml"
ROUTING_CASES = f"{ALERTMANAGER_DIR}/routes.test.yaml"
DASHBOARDS_DIR = "grafana/dashboards"
FOLDERS_FILE = "grafana/folders.json"
ANNOTATIONS_FILE = "grafana/annotations.json"  # the postmortems as dashboard annotations
KUBERNETES_DIR = "kubernetes"
POSTMORTEMS_PAGE = "postmortems/index.html"  # only when the catalog has postmortems


def rule_file(service: str) -> str:
    return f"{RULES_DIR}/{service}.yaml"


def test_file(service: str) -> str:
    return f"{TESTS_DIR}/{service}.test.yaml"


def rule_file_from_test() -> str:
    """How a test file names its rule file (promtool resolves it relative to the test file)."""
    return "../rules/{service}.yaml"


def dashboard_file(uid: str) -> str:
    return f"{DASHBOARDS_DIR}/{uid}.json"


def service_of_rule_file(rel: str) -> str:
    return Path(rel).name.removesuffix(".yaml")


def service_of_test_file(rel: str) -> str:
    return Path(rel).name.removesuffix(".test.yaml")


def files(out: Path, directory: str, pattern: str) -> list[str]:
    """The paths (relative to `out`) of the files in one of the directories above, sorted."""
    return sorted(str(p.relative_to(out)) for p in (out / directory).glob(pattern))
