"""`vigil review --base REV`: the semantic change a pull-request reviewer needs, in all three formats.

Each test makes a git repository holding a copy of the example catalog (one folder down, as in a
monorepo), commits it, edits the work tree as a pull request would, and requires exactly the
expected records: no more, no fewer. No promtool here: review renders, it does not check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import CATALOG
from vigil.render.alertmanager import service_alerts
from vigil.build import BuildReport, compile_catalog
from vigil.cli import cli, main

NEW_SERVICE = """\
name: search-api
description: Product search API.
owner: commerce-dev
tier: 2
customer_facing: true
selector: {job: search-api}
profiles: [http]
metrics:
  latency_p99: {warning: 250ms, critical: 800ms}
slos:
  - {name: availability, objective: 99.5%}
"""
CS_ON_WARNINGS = "  - {notify: cs, severity: warning, channel: chat, when: {customer_facing: true}}\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """monitoring/catalog in a fresh repository, committed: the base of every review here."""
    repo = tmp_path / "repo"
    (repo / "monitoring").mkdir(parents=True)
    (repo / "README").write_text("before the catalog\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "no catalog yet")
    shutil.copytree(CATALOG, repo / "monitoring" / "catalog")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "catalog")
    return repo / "monitoring" / "catalog"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not once in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def render_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vigil build's render cache, shared by this module's reviews: the base catalog is the same in
    each, so it renders once. test_the_cache_changes_nothing proves the cache changes no answer."""
    return tmp_path_factory.mktemp("render-cache")


@dataclass
class Reviewer:
    """`vigil review --base main` on a catalog, through the command line."""

    cache: Path | None

    def __call__(self, catalog: Path, *args: str, code: int = 0, base: str = "main") -> str:
        cache = ["--cache", str(self.cache)] if self.cache else ["--no-cache"]
        result = CliRunner().invoke(cli, ["review", "--catalog", str(catalog), "--base", base, *cache, *args],
                                    catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    def records(self, catalog: Path) -> list[dict[str, Any]]:
        return json.loads(self(catalog, "--json"))

    def markdown_rows(self, catalog: Path) -> list[str]:
        return [line for line in self(catalog, "--markdown").splitlines() if line.startswith("| ")]


@pytest.fixture
def review(render_cache: Path) -> Reviewer:
    return Reviewer(render_cache)


def keys(found: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(r["service"], r["kind"], r["name"], r["change"]) for r in found]


def test_a_threshold_change(catalog: Path, review: Reviewer):
    edit(catalog / "services/checkout.yaml", "critical: 2%", "critical: 3%")
    found = review.records(catalog)
    assert keys(found) == [("checkout", "alert", "ErrorRatioHigh", "changed"),
                           ("checkout", "dashboard", "vigil-checkout / Error ratio", "changed")]
    alert, panel = found
    assert alert["fields"] == ["expr", "threshold"]
    assert (alert["before"]["severity"], alert["after"]["severity"]) == ("critical", "critical")
    assert (alert["before"]["threshold"], alert["after"]["threshold"]) == ("> 2%", "> 3%")
    assert alert["after"]["expr"] == 'service:error_ratio:ratio_rate5m{service="checkout"} > 0.03'
    assert alert["after"]["for"] == "3m"
    assert panel["fields"] == ["thresholds"]
    assert panel["before"]["thresholds"] == ["green base", "orange 0.005", "red 0.02"]
    assert panel["after"]["thresholds"] == ["green base", "orange 0.005", "red 0.03"]

    assert review(catalog) == (
        "vigil review: main → working tree: 1 alert, 1 dashboard change\n"
        "\n"
        "checkout\n"
        "  ~ alert ErrorRatioHigh (critical): threshold > 2% → > 3%\n"
        '      - service:error_ratio:ratio_rate5m{service="checkout"} > 0.02\n'
        '      + service:error_ratio:ratio_rate5m{service="checkout"} > 0.03\n'
        "  ~ dashboard vigil-checkout / Error ratio: thresholds green base, orange 0.005, red 0.02"
        " → green base, orange 0.005, red 0.03\n")

    md = review(catalog, "--markdown")
    assert md.startswith("### vigil review against `main`\n\n**1 alert, 1 dashboard change**\n")
    assert review.markdown_rows(catalog) == [
        "| service | name | change | what |",
        "| checkout | ErrorRatioHigh (critical) | changed | threshold > 2% → > 3% |",
        "| service | name | change | what |",
        ("| checkout | vigil-checkout / Error ratio | changed | thresholds green base, orange 0.005, red 0.02"
         " → green base, orange 0.005, red 0.03 |"),
    ]
    # The long expression goes in a collapsed block, as a diff.
    assert ("<details><summary>Alert expressions (1)</summary>\n\n**checkout** `ErrorRatioHigh (critical)`\n\n"
            "```diff\n- service:error_ratio:ratio_rate5m{service=\"checkout\"} > 0.02\n"
            "+ service:error_ratio:ratio_rate5m{service=\"checkout\"} > 0.03\n```") in md


def test_a_new_service(catalog: Path, review: Reviewer):
    (catalog / "services/search-api.yaml").write_text(NEW_SERVICE)
    _, model = compile_catalog(catalog, BuildReport())
    service = next(s for s in model["services"] if s["name"] == "search-api")
    # The alerts the model says the service gets (alertmanager.py's own derivation, proven
    # equal to the rendered rules by test_alertmanager.py), not the review's parse of the rules.
    alerts = sorted((a["alertname"], a["severity"]) for a in service_alerts(service))
    assert len(alerts) == 10

    found = review.records(catalog)
    assert sorted(keys(found)) == sorted(
        [("", "dashboard", "vigil-overview / search-api", "added"),
         ("search-api", "service", "search-api", "added"),
         ("search-api", "slo", "availability", "added"),
         ("search-api", "dashboard", "vigil-search-api", "added")]
        + [("search-api", "route", severity, "added") for severity in ("critical", "warning", "info")]
        + [("search-api", "alert", name, "added") for name, _ in alerts])
    assert sorted((r["name"], r["after"]["severity"]) for r in found if r["kind"] == "alert") == alerts
    assert all(r["before"] is None and r["fields"] == [] for r in found)
    by_key = {(r["kind"], r["name"]): r["after"] for r in found}
    assert by_key[("service", "search-api")] == {
        "owner": "commerce-dev", "tier": 2, "customer_facing": True, "selector": 'job="search-api"',
        "profiles": ["http"], "dependencies": [], "runbook_url": "https://wiki.example.com/runbooks/search-api"}
    # 99.5% of 30 days: 0.005 × 43200 minutes.
    assert by_key[("slo", "availability")] == {"objective": "99.5%", "window": "30d", "threshold": None,
                                               "budget_minutes": 216.0}
    told = {sev: [t["receiver"] for t in by_key[("route", sev)]["told"]] for sev in ("critical", "warning", "info")}
    assert told == {"critical": ["commerce-dev/page", "business/chat", "cs/chat"],   # tier 2: no NOC
                    "warning": ["commerce-dev/chat"], "info": ["operations/chat (catch-all)"]}
    assert by_key[("dashboard", "vigil-search-api")] == {"title": "search-api", "folder": "commerce-dev"}

    text = review(catalog).splitlines()
    assert text[0] == ("vigil review: main → working tree: 1 service, 10 alerts, 3 routing rows, 1 SLO, "
                       "2 dashboard changes (added search-api)")
    section = text[text.index("search-api (new service)") + 1:]
    assert len(section) == len(found) - 1   # every record but the overview's, one line each
    assert "  + alert LatencyP99High (critical): threshold > 800ms, for 10m" in section
    assert "  + slo availability: objective 99.5% over 30d, error budget 216 min" in section
    assert ("  + route warning: told commerce-dev/chat via slack") in section

    md = review(catalog, "--markdown")
    assert ("<details><summary>New service <code>search-api</code>: 10 alerts, 3 routing rows, 1 SLO, "
            "1 dashboard change</summary>") in md
    rows = review.markdown_rows(catalog)
    assert "| search-api | slo | availability | added | objective 99.5% over 30d, error budget 216 min |" in rows
    assert "| search-api | alert | LatencyP99High (warning) | added | threshold > 250ms, for 10m |" in rows
    assert ("| overview dashboard | vigil-overview / search-api | added | "
            "type stat; thresholds green base, orange 1, red 2 |") in rows
    assert len([r for r in rows if r.startswith("| search-api | ")]) == len(found) - 1


def test_a_removed_service(catalog: Path, review: Reviewer):
    _, model = compile_catalog(catalog, BuildReport())
    service = next(s for s in model["services"] if s["name"] == "settlement-batch")
    alerts = sorted((a["alertname"], a["severity"]) for a in service_alerts(service))
    (catalog / "services/settlement-batch.yaml").unlink()

    found = review.records(catalog)
    assert sorted(keys(found)) == sorted(
        [("", "dashboard", "vigil-overview / settlement-batch", "removed"),
         ("settlement-batch", "service", "settlement-batch", "removed"),
         ("settlement-batch", "dashboard", "vigil-settlement-batch", "removed")]
        + [("settlement-batch", "route", severity, "removed") for severity in ("critical", "warning", "info")]
        + [("settlement-batch", "alert", name, "removed") for name, _ in alerts])
    assert sorted((r["name"], r["before"]["severity"]) for r in found if r["kind"] == "alert") == alerts
    assert all(r["after"] is None for r in found)

    text = review(catalog).splitlines()
    assert text[0] == (f"vigil review: main → working tree: 1 service, {len(alerts)} alerts, 3 routing rows, "
                       "2 dashboard changes (removed settlement-batch)")
    assert "settlement-batch (removed service)" in text
    assert "  - alert DiskUsageTrendingHigh (warning): trend > 97% within 3d, for 10m" in text
    assert "  - route critical: told payments-dev/page via opsgenie" in text

    md = review(catalog, "--markdown")
    assert (f"<details><summary>Removed service <code>settlement-batch</code>: {len(alerts)} alerts, "
            "3 routing rows, 1 dashboard change</summary>") in md
    rows = review.markdown_rows(catalog)
    assert "| settlement-batch | route | critical | removed | told payments-dev/page via opsgenie |" in rows


def test_a_propagation_change(catalog: Path, review: Reviewer):
    """Support now hears of warnings on customer-facing services: three rows of the matrix change,
    and nothing else does."""
    departments = catalog / "departments.yaml"
    departments.write_text(departments.read_text() + CS_ON_WARNINGS)
    found = review.records(catalog)
    owners = {"catalog-api": "commerce-dev", "checkout": "commerce-dev", "payment": "payments-dev"}
    assert keys(found) == [(s, "route", "warning", "changed") for s in sorted(owners)]
    for r in found:
        chat = {"receiver": f"{owners[r['service']]}/chat", "via": "slack", "hours": "any time"}
        assert r["before"] == {"severity": "warning", "told": [chat]}
        assert r["after"] == {"severity": "warning",
                              "told": [chat, {"receiver": "cs/chat", "via": "webhook", "hours": "any time"}]}

    assert review(catalog) == (
        "vigil review: main → working tree: 3 routing rows\n"
        "\n"
        "catalog-api\n"
        "  ~ route warning: told commerce-dev/chat via slack, +cs/chat via webhook\n"
        "\n"
        "checkout\n"
        "  ~ route warning: told commerce-dev/chat via slack, +cs/chat via webhook\n"
        "\n"
        "payment\n"
        "  ~ route warning: told payments-dev/chat via slack, +cs/chat via webhook\n")
    assert review.markdown_rows(catalog) == [
        "| service | name | change | what |",
        "| catalog-api | warning | changed | told commerce-dev/chat via slack, +cs/chat via webhook |",
        "| checkout | warning | changed | told commerce-dev/chat via slack, +cs/chat via webhook |",
        "| payment | warning | changed | told payments-dev/chat via slack, +cs/chat via webhook |",
    ]


def test_a_routing_change_for_some_alert_kinds_names_them(catalog: Path, review: Reviewer):
    """A policy line on `kind` changes only those kinds' rows; the rest of the matrix is unchanged."""
    departments = catalog / "departments.yaml"
    departments.write_text(departments.read_text()
                           + "  - {notify: cs, severity: warning, channel: chat, when: {kind: [trend, anomaly]}}\n")
    found = review.records(catalog)
    assert {r["name"] for r in found} == {"warning (trend,anomaly)"}
    assert len(found) == 7   # every service
    assert all(r["after"]["told"][-1]["receiver"] == "cs/chat" for r in found)


def test_an_slo_objective_change_shows_the_error_budget(catalog: Path, review: Reviewer):
    edit(catalog / "services/checkout.yaml", "{name: availability, objective: 99.9%}",
         "{name: availability, objective: 99.95%}")
    found = review.records(catalog)
    slo = next(r for r in found if r["kind"] == "slo")
    assert (slo["service"], slo["name"], slo["fields"]) == ("checkout", "availability", ["budget_minutes", "objective"])
    assert (slo["before"]["budget_minutes"], slo["after"]["budget_minutes"]) == (43.2, 21.6)
    assert slo["after"]["window"] == "30d"
    burns = [r for r in found if r["kind"] == "alert"]
    assert sorted(r["after"]["severity"] for r in burns) == ["critical", "warning"]
    assert all(r["name"] == "AvailabilityErrorBudgetBurn" and r["fields"] == ["expr", "threshold"] for r in burns)
    assert ("  ~ slo availability: budget_minutes 43.2 min → 21.6 min; objective 99.9% → 99.95%"
            in review(catalog).splitlines())


def test_a_lone_threshold_that_changes_severity_is_one_changed_alert(catalog: Path, review: Reviewer):
    """orders_completed gets a warning, then it becomes a critical: the same alert, a new severity."""
    checkout = catalog / "services/checkout.yaml"
    edit(checkout, "    operation: rate\n", "    operation: rate\n    warning: 1\n")
    git(catalog, "commit", "-qam", "a warning on orders")
    edit(checkout, "    warning: 1\n", "    critical: 0.5\n")
    found = [r for r in review.records(catalog) if r["kind"] == "alert"]
    assert keys(found) == [("checkout", "alert", "OrdersCompletedLow", "changed")]
    assert found[0]["fields"] == ["expr", "severity", "threshold"]
    assert (found[0]["before"]["threshold"], found[0]["after"]["threshold"]) == ("< 1/s", "< 0.5/s")
    assert ("  ~ alert OrdersCompletedLow (warning → critical): severity warning → critical; "
            "threshold < 1/s → < 0.5/s") in review(catalog).splitlines()


def test_no_changes_and_exit_code(catalog: Path, review: Reviewer):
    assert review(catalog) == "vigil review: main → working tree: no changes\n"
    assert review(catalog, "--json") == "[]\n"
    assert review(catalog, "--exit-code") == "vigil review: main → working tree: no changes\n"
    edit(catalog / "services/checkout.yaml", "critical: 2%", "critical: 3%")
    review(catalog, "--exit-code", code=1)
    review(catalog)   # without the flag: 0 either way


def test_json_is_sorted_and_stable(catalog: Path, review: Reviewer):
    (catalog / "services/search-api.yaml").write_text(NEW_SERVICE)
    edit(catalog / "services/checkout.yaml", "critical: 2%", "critical: 3%")
    first = review(catalog, "--json")
    assert first == review(catalog, "--json")
    found = json.loads(first)
    assert [r["service"] for r in found] == sorted(r["service"] for r in found)
    assert all(list(r) == sorted(r) for r in found)


def test_a_revision_before_the_catalog_existed_is_everything_added(catalog: Path, review: Reviewer):
    found = json.loads(review(catalog, "--json", base="main~1"))
    assert {r["change"] for r in found} == {"added"}
    assert sorted(r["name"] for r in found if r["kind"] == "service") == sorted(
        p.stem for p in (CATALOG / "services").glob("*.yaml"))


def test_the_work_tree_is_left_alone(catalog: Path, review: Reviewer):
    edit(catalog / "services/checkout.yaml", "critical: 2%", "critical: 3%")
    status = git(catalog, "status", "--porcelain", "--untracked-files=all")
    review(catalog)
    assert git(catalog, "status", "--porcelain", "--untracked-files=all") == status


def test_an_unknown_revision_is_a_clear_error(catalog: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit:
        main(["review", "--catalog", str(catalog), "--base", "no-such-branch", "--no-cache"])
    assert exit.value.code == 8
    assert "unknown revision 'no-such-branch'" in capsys.readouterr().err


def test_outside_a_git_repository_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    shutil.copytree(CATALOG, tmp_path / "catalog")
    with pytest.raises(SystemExit) as exit:
        main(["review", "--catalog", str(tmp_path / "catalog"), "--base", "main", "--no-cache"])
    assert exit.value.code == 8
    assert "is not inside a git repository" in capsys.readouterr().err


def test_an_invalid_base_catalog_names_the_revision_file_and_line(catalog: Path,
                                                                 capsys: pytest.CaptureFixture[str]):
    good = (catalog / "services/checkout.yaml").read_text()
    edit(catalog / "services/checkout.yaml", "owner: commerce-dev", "owner: nobody")
    git(catalog, "commit", "-qam", "a bad owner")
    (catalog / "services/checkout.yaml").write_text(good)
    with pytest.raises(SystemExit) as exit:
        main(["review", "--catalog", str(catalog), "--base", "main", "--no-cache"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "main:monitoring/catalog/services/checkout.yaml:" in err and "owner" in err


def test_the_cache_changes_nothing(catalog: Path, review: Reviewer):
    (catalog / "services/search-api.yaml").write_text(NEW_SERVICE)
    edit(catalog / "services/checkout.yaml", "critical: 2%", "critical: 3%")
    assert review(catalog, "--json") == Reviewer(None)(catalog, "--json")


def test_a_catalog_at_the_repository_root(tmp_path: Path, review: Reviewer):
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    git(catalog, "init", "-q", "-b", "main")
    git(catalog, "add", "-A")
    git(catalog, "commit", "-qm", "catalog")
    (catalog / "services/settlement-batch.yaml").unlink()
    assert {r["service"] for r in review.records(catalog)} == {"", "settlement-batch"}


def test_a_for_change_is_that_field_alone(catalog: Path, review: Reviewer):
    edit(catalog / "services/payment.yaml", "error_ratio: {warning: 0.5%, critical: 1%, for: 3m}",
         "error_ratio: {warning: 0.5%, critical: 1%, for: 5m}")
    found = review.records(catalog)
    assert keys(found) == [("payment", "alert", "ErrorRatioHigh", "changed")] * 2
    assert [(r["after"]["severity"], r["fields"], r["before"]["for"], r["after"]["for"]) for r in found] == [
        ("critical", ["for"], "3m", "5m"), ("warning", ["for"], "3m", "5m")]
    assert "  ~ alert ErrorRatioHigh (warning): for 3m → 5m" in review(catalog).splitlines()


def test_new_office_hours_change_when_business_is_told(catalog: Path, review: Reviewer):
    edit(catalog / "departments.yaml", 'times: ["09:00-18:00"]', 'times: ["08:00-20:00"]')
    found = review.records(catalog)
    # business hears of critical alerts on customer-facing services only.
    assert keys(found) == [(s, "route", "critical", "changed") for s in ("catalog-api", "checkout", "payment")]
    business = [t for t in found[0]["after"]["told"] if t["receiver"] == "business/chat"]
    assert business == [{"receiver": "business/chat", "via": "email",
                         "hours": "office-hours (monday:friday 08:00-20:00 Asia/Seoul)"}]
    assert review(catalog).splitlines()[3] == (
        "  ~ route critical: told commerce-dev/page via pagerduty, "
        "+business/chat via email in office-hours (monday:friday 08:00-20:00 Asia/Seoul), cs/chat via webhook, "
        "-business/chat via email in office-hours (monday:friday 09:00-18:00 Asia/Seoul)")


def test_a_latency_slo_threshold_change(catalog: Path, review: Reviewer):
    edit(catalog / "services/checkout.yaml", "{name: latency, objective: 99%, threshold: 500ms}",
         "{name: latency, objective: 99%, threshold: 300ms}")
    slos = [r for r in review.records(catalog) if r["kind"] == "slo"]
    assert [(r["service"], r["name"], r["fields"], r["before"]["threshold"], r["after"]["threshold"]) for r in slos] == [
        ("checkout", "latency", ["threshold"], "500ms", "300ms")]
    assert slos[0]["after"]["budget_minutes"] == 432.0   # 1% of 30 days, unchanged
