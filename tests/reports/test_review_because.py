"""`vigil review` shows the postmortem that motivated a change (`because:`) beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_review import Reviewer, edit, git, render_cache  # noqa: F401  (render_cache: a fixture)

from conftest import CATALOG, ROOT

PM = "2026-03-14-checkout-redis-evictions"


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """The example catalog and its postmortems, committed: the base of each review."""
    repo = tmp_path / "repo"
    shutil.copytree(CATALOG, repo / "catalog")
    shutil.copytree(ROOT / "postmortems", repo / "postmortems")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "catalog")
    return repo / "catalog"


@pytest.fixture
def review(render_cache: Path) -> Reviewer:  # noqa: F811
    return Reviewer(render_cache)


def test_a_threshold_change_names_its_postmortem(catalog: Path, review: Reviewer) -> None:
    edit(
        catalog / "services/checkout.yaml",
        "latency_p99: {warning: 400ms, critical: 1s}",
        f"latency_p99: {{warning: 300ms, critical: 1s, because: {PM}}}",
    )
    text = review(catalog)
    assert f"  ~ alert LatencyP99High (warning): threshold > 400ms → > 300ms (because {PM})\n" in text
    # The critical alert's threshold did not move: only its annotation did, and it says why.
    assert f"  ~ alert LatencyP99High (critical): because {PM}\n" in text
    records = {(r["name"], r["after"]["severity"]): r for r in review.records(catalog) if r["kind"] == "alert"}
    warning = records[("LatencyP99High", "warning")]
    assert warning["fields"] == ["because", "expr", "threshold"]
    assert (warning["before"].get("because"), warning["after"]["because"]) == (None, PM)
    assert f"| checkout | LatencyP99High (warning) | changed | threshold > 400ms → > 300ms (because {PM}) |" in (
        review(catalog, "--markdown")
    )


def test_an_slo_objective_change_names_its_postmortem(catalog: Path, review: Reviewer) -> None:
    edit(
        catalog / "services/checkout.yaml",
        "- {name: availability, objective: 99.9%}",
        f"- {{name: availability, objective: 99.95%, because: {PM}}}",
    )
    text = review(catalog)
    assert f"objective 99.9% → 99.95% (because {PM})" in text


def test_taking_because_out_says_so(catalog: Path, review: Reviewer) -> None:
    services = catalog / "services/checkout.yaml"
    edit(
        services,
        "latency_p99: {warning: 400ms, critical: 1s}",
        f"latency_p99: {{warning: 400ms, critical: 1s, because: {PM}}}",
    )
    git(catalog.parent, "commit", "-qam", "because")
    edit(services, f", because: {PM}}}", "}")
    assert f"  ~ alert LatencyP99High (warning): no longer because {PM}\n" in review(catalog)
