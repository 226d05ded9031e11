"""`vigil routes`: the propagation matrix a reviewer reads in the PR."""

from __future__ import annotations

from click.testing import CliRunner

from conftest import CATALOG
from vigil.cli import cli
from vigil.reports.routes import matrix


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["--catalog", str(CATALOG), "routes", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_example_matrix():
    lines = run().splitlines()
    assert lines[0].split() == ["SERVICE", "SEVERITY", "TOLD", "VIA", "HOURS"]
    checkout = lines[lines.index(next(x for x in lines if x.startswith("checkout "))) :][:6]
    assert [x.split() for x in checkout] == [
        ["checkout", "critical", "commerce-dev/page", "pagerduty", "any", "time"],
        ["business/chat", "email", "office-hours", "(monday:friday", "09:00-18:00", "Asia/Seoul)"],
        ["cs/chat", "webhook", "any", "time"],
        ["operations/chat", "webhook", "any", "time"],
        ["checkout", "warning", "commerce-dev/chat", "slack", "any", "time"],
        ["checkout", "info", "operations/chat", "(catch-all)", "webhook", "any", "time"],
    ]


def test_markdown_for_a_pr_comment():
    lines = run("--markdown").splitlines()
    assert lines[:2] == ["| service | severity | told | via | hours |", "|---|---|---|---|---|"]
    assert "| redis-cache | critical | platform-dev/page | pagerduty | any time |" in lines
    assert not any(line.startswith("| redis-cache | critical | operations") for line in lines)  # tier 2


def test_the_matrix_agrees_with_the_generated_cases(example_model, example_output):
    import yaml

    cases = yaml.safe_load((example_output / "alertmanager/routes.test.yaml").read_text())["cases"]
    for row in matrix(example_model):
        told = [t.receiver.removesuffix(" (catch-all)") for t in row.told]
        mine = [c for c in cases if c["labels"]["service"] == row.service and c["labels"]["severity"] == row.severity]
        assert mine and all(c["receivers"] == told for c in mine), (row, mine)


def test_a_kind_column_when_a_policy_line_matches_on_kind(catalog_copy):
    root = catalog_copy()
    deps = root / "departments.yaml"
    deps.write_text(deps.read_text() + "  - {notify: cs, severity: warning, channel: chat, when: {kind: slo_burn}}\n")
    result = CliRunner().invoke(cli, ["--catalog", str(root), "routes"], catch_exceptions=False)
    lines = result.output.splitlines()
    assert lines[0].split() == ["SERVICE", "SEVERITY", "KINDS", "TOLD", "VIA", "HOURS"]
    assert any(
        x.split()[:4] == ["checkout", "warning", "threshold,trend,anomaly,absent", "commerce-dev/chat"] for x in lines
    )
    assert any(x.split()[:4] == ["checkout", "warning", "slo_burn", "commerce-dev/chat"] for x in lines)
