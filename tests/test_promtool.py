"""The generated promtool tests prove the generated rules, and they can fail.

Each mutation below breaks one generated rule the way a generator bug would; the generated unit
tests must catch every one of them when run by the real promtool.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import require
from vigil.check import check_output
from vigil import tools


def test_example_rules_pass_their_generated_tests(example_output, generation):
    """promtool 2.42 and 3.5 (left-open range selection) agree with every asserted value."""
    require("promtool")
    report = check_output(example_output, tests=True)
    assert report.checked["promtool/test-rules"] == len(list((example_output / "prometheus" / "tests").glob("*.yaml")))


def _mutated(example_output: Path, tmp_path: Path, service: str, old: str, new: str, count: int = 1) -> Path:
    out = tmp_path / "out"
    shutil.copytree(example_output / "prometheus", out / "prometheus")
    rules = out / "prometheus" / "rules" / f"{service}.yaml"
    text = rules.read_text()
    assert old in text, f"mutation target not found: {old!r}"
    rules.write_text(text.replace(old, new, count))
    return out / "prometheus" / "tests" / f"{service}.test.yaml"


MUTATIONS = [
    ("a critical threshold ten times too high",
     'service:error_ratio:ratio_rate5m{service="checkout"} > 0.02', 'service:error_ratio:ratio_rate5m{service="checkout"} > 0.2'),
    ("a comparison in the wrong direction",
     'service:error_ratio:ratio_rate5m{service="checkout"} > 0.005', 'service:error_ratio:ratio_rate5m{service="checkout"} < 0.005'),
    ("a `for` dropped (the alert would fire at once)",
     "for: 3m\n", ""),
    ("a wrong value in the description",
     "{{ $value | humanizePercentage }}, above the critical", "{{ $value | humanize }}, above the critical"),
    ("a trend that looks at the wrong horizon",
     "[1h], 7200)", "[1h], 60)"),
    ("an SLO page factor ten times too high",
     "> 0.0144 and", "> 0.144 and"),
    ("ServiceDown watching the wrong job",
     'absent(up{job="checkout"} == 1)', 'absent(up{job="checkout-typo"} == 1)'),
    ("an absent alert that never fires",
     'absent(service:heap_usage:ratio{service="checkout"})', 'absent(service:heap_usage:ratio{service="checkout"}) and on() vector(0) > 1'),
    ("a recording rule reading the wrong series",
     'rate(checkout_orders_completed_total{job="checkout"}[5m])', 'rate(checkout_orders_completed_total{job="checkout"}[5m]) * 0'),
    ("a missing contract label",
     "      key_metric: error_ratio\n", ""),
]


@pytest.mark.parametrize("what, old, new", MUTATIONS)
def test_generated_tests_catch_a_broken_rule(example_output, tmp_path, generation, what, old, new):
    require("promtool")
    test_file = _mutated(example_output, tmp_path, "checkout", old, new)
    result = tools.run("promtool", ["test", "rules", test_file.name], cwd=test_file.parent)
    assert not result.ok, f"the generated tests did not notice {what}"
    assert "FAILED" in result.output


def test_generated_tests_cover_every_alert(example_output):
    """Every alert rule of the example is named by at least one assertion of its service's tests."""
    import yaml
    for rules_file in (example_output / "prometheus" / "rules").glob("*.yaml"):
        rules = yaml.safe_load(rules_file.read_text())
        names = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
        tests = yaml.safe_load((example_output / "prometheus" / "tests" / (rules_file.stem + ".test.yaml")).read_text())
        asserted = {a["alertname"] for t in tests["tests"] for a in t["alert_rule_test"]}
        firing = {a["alertname"] for t in tests["tests"] for a in t["alert_rule_test"] if a["exp_alerts"]}
        assert names == asserted == firing, (rules_file.name, names - firing)


def test_passed_tests_are_remembered_by_content(example_output, tmp_path, generation):
    """A second `vigil check` skips tests that passed, but a changed rule file runs them again."""
    require("promtool")
    from vigil.errors import CheckError
    out = tmp_path / "out"
    shutil.copytree(example_output, out)
    first = check_output(out, tests=True, cache_dir=tmp_path / "cache")
    assert first.stats["promtool/test-rules"]["already known to pass (cache)"] == 0
    second = check_output(out, tests=True, cache_dir=tmp_path / "cache")
    assert second.stats["promtool/test-rules"]["already known to pass (cache)"] == second.checked["promtool/test-rules"]
    rules = out / "prometheus" / "rules" / "checkout.yaml"
    rules.write_text(rules.read_text().replace("{{ $value | humanizePercentage }}, above the critical",
                                               "{{ $value | humanize }}, above the critical", 1))
    with pytest.raises(CheckError, match="checkout.test.yaml"):
        check_output(out, tests=True, cache_dir=tmp_path / "cache")


def test_services_of_one_shape_are_tested_once_and_a_broken_one_is_still_named(tmp_path, generation):
    """Services that differ only in name and team share one promtool run (check.service_shape);
    a service whose files differ is run on its own, and when a shared shape fails, every
    service of it is run and named."""
    require("promtool")
    import sys
    from vigil.build import build
    from vigil.errors import CheckError
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    from synth import write_catalog
    import yaml
    catalog = write_catalog(tmp_path / "catalog", 4, "spine")
    for path in (catalog / "services").glob("*.yaml"):   # alike but for name, owner and dependencies
        doc = yaml.safe_load(path.read_text())
        doc.update(tier=1, customer_facing=True, metrics={"error_ratio": {"warning": "1%", "critical": "3%"}})
        path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    build(catalog, out, run_checks=False)
    report = check_output(out, tests=True)
    assert report.checked["promtool/test-rules"] == 4
    assert report.stats["promtool/test-rules"]["shapes given to promtool"] == 1

    rules = sorted((out / "prometheus" / "rules").glob("*.yaml"))
    broken = "{{ $value | humanize }}, above the critical"
    for path in rules[:2]:   # the same mutation in two files: one shape, which fails
        text = path.read_text()
        assert "{{ $value | humanizePercentage }}, above the critical" in text
        path.write_text(text.replace("{{ $value | humanizePercentage }}, above the critical", broken, 1))
    with pytest.raises(CheckError) as failed:
        check_output(out, tests=True)
    for path in rules:
        assert (f"{path.stem}.test.yaml" in str(failed.value)) == (path in rules[:2])


# --- vmalert (VictoriaMetrics 1.145, current generation only) -------------------------------------

@pytest.fixture
def vmalert_tools(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current generation first on PATH: vmalert and vmalert-tool exist only there."""
    from conftest import TOOLS
    bindir = TOOLS / "current" / "bin"
    if not (bindir / "vmalert-tool").exists():
        pytest.skip(f"{bindir}/vmalert-tool missing: run `make tools` (scripts/tools.sh)")
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return bindir


def test_example_rules_pass_their_generated_tests_under_vmalert_tool(example_output, vmalert_tools):
    """The same files, unchanged, under `vmalert-tool unittest` (which reads records an evaluation
    late and selects ranges left-open): every file, every group, passes."""
    from vigil.check import CheckReport
    from vigil.check.vmalert import RuleTests
    report = CheckReport(out=example_output)
    RuleTests().run(report)
    assert report.failures == []
    assert report.checked[RuleTests.id] == len(list((example_output / "prometheus" / "tests").glob("*.yaml")))


@pytest.mark.parametrize("what, old, new", [m for m in MUTATIONS if m[0] in {
    "a wrong value in the description", "a trend that looks at the wrong horizon",
    "an SLO page factor ten times too high", "a `for` dropped (the alert would fire at once)"}])
def test_generated_tests_catch_a_broken_rule_under_vmalert_tool(example_output, tmp_path, vmalert_tools, what, old, new):
    from vigil.check.vmalert import unittest
    test_file = _mutated(example_output, tmp_path, "checkout", old, new)
    result = unittest(test_file.parent, test_file.name)
    assert not result.ok and "FAILED" in result.output, f"vmalert-tool did not notice {what}"


def test_vmalert_dry_run_loads_every_rule_file_and_rejects_a_broken_one(example_output, tmp_path, vmalert_tools):
    from vigil.check import CheckReport
    from vigil.check.vmalert import DryRun
    report = CheckReport(out=example_output)
    DryRun().run(report)
    assert report.failures == []
    assert report.checked[DryRun.id] == len(list((example_output / "prometheus" / "rules").glob("*.yaml")))
    # The control: a rule vmalert cannot parse makes the same check fail, naming the file.
    out = tmp_path / "out"
    shutil.copytree(example_output / "prometheus", out / "prometheus")
    rules = out / "prometheus" / "rules" / "checkout.yaml"
    rules.write_text(rules.read_text().replace("predict_linear(", "predict_linear((", 1))
    broken = CheckReport(out=out)
    DryRun().run(broken)
    assert len(broken.failures) == 1 and "checkout.yaml" in broken.failures[0]
