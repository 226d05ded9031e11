"""Stage 2: every kind of bad catalog input gets its exact `file:line: path: message`, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.small_catalog import CHECKOUT, REDIS, write_catalog

from vigil.build import build
from vigil.catalog.load import load_catalog
from vigil.catalog.validate import validate
from vigil.cli import main
from vigil.errors import CatalogError


def problems(root: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        validate(load_catalog(root))
    return [str(p) for p in info.value.problems]


F = "catalog/services/checkout.yaml"


def test_the_base_catalog_is_valid(tmp_path):
    validate(load_catalog(write_catalog(tmp_path / "catalog")))


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # 1. an unknown owner, with a suggestion
        (
            "owner: commerce-dev",
            "owner: comerce-dev",
            f"{F}:2: owner: unknown department 'comerce-dev' (did you mean 'commerce-dev'?)",
        ),
        # 2. an unknown dependency
        (
            "dependencies: [redis-cache]",
            "dependencies: [redis-cahce]",
            f"{F}:7: dependencies[0]: unknown service 'redis-cahce' (did you mean 'redis-cache'?)",
        ),
        # 3. an unknown profile
        (
            "profiles: [http, jvm]",
            "profiles: [htp, jvm]",
            f"{F}:6: profiles[0]: unknown profile 'htp' (did you mean 'http'?)",
        ),
        # 4. an unknown metric id (misspelt override)
        (
            "  error_ratio: {warning",
            "  eror_ratio: {warning",
            f"{F}:9: metrics.eror_ratio: unknown metric 'eror_ratio' (did you mean 'error_ratio'?); "
            "to add a key metric of this service's own, give it an expr and a unit",
        ),
        # 5. warning beyond critical, direction above
        (
            "{warning: 1%, critical: 5%",
            "{warning: 10%, critical: 5%",
            f"{F}:9: metrics.error_ratio.warning: warning (10%) is beyond critical (5%); for a metric where above is "
            "worse, warning must be lower than critical",
        ),
        # 6. an unparseable threshold
        (
            "critical: 5%, for",
            "critical: 5 percent, for",
            f"{F}:9: metrics.error_ratio.critical: expected a ratio such as 5% or 0.05, got '5 percent'",
        ),
        # 7. an unparseable duration (caught by the schema's pattern)
        (
            "for: 5m}",
            "for: 5 minutes}",
            f"{F}:9: metrics.error_ratio.for: '5 minutes' is not a duration such as 30s, 5m, 1h30m or 300ms",
        ),
        # 8. a misspelt field name
        ("owner: commerce-dev", "ower: commerce-dev", f"{F}:2: ower: unknown field 'ower' (did you mean 'owner'?)"),
        # 9. a bad service name
        (
            "name: checkout",
            "name: Checkout",
            f"{F}:1: name: 'Checkout' must start with a lowercase letter and use only a-z, 0-9 and '-'",
        ),
        # 10. a missing required field
        ("selector: {job: checkout}\n", "", f"{F}:1: missing required field 'selector'"),
        # 11. an SLO naming an SLI no profile has
        (
            "{name: availability, objective",
            "{name: availabilty, objective",
            f"{F}:12: slos[0].name: no SLI 'availabilty' in its profiles (did you mean 'availability'?); available: "
            "availability, latency",
        ),
        # 12. an objective that is not a percentage below 100%
        (
            "objective: 99.9%}",
            "objective: 150%}",
            f"{F}:12: slos[0].objective: an objective must be between 0% and 100% exclusive, got '150%'",
        ),
        # 13. a latency SLO without its threshold
        (
            "{name: availability, objective: 99.9%}",
            "{name: latency, objective: 99%}",
            f"{F}:12: slos[0]: SLI 'latency' needs a `threshold:` (e.g. 500ms)",
        ),
        # 15. a custom metric whose expr does not use $selector
        (
            "metrics:\n",
            "metrics:\n  queue_depth: {expr: 'sum(my_queue_depth)', critical: 100}\n",
            f"{F}:9: metrics.queue_depth.expr: expr must use $selector, or the rule would match every service's series",
        ),
        # 17. duplicate YAML key
        ("tier: 1\n", "tier: 1\ntier: 2\n", f"{F}:4: tier: duplicate key; the earlier value would be silently lost"),
        # 18. wrong type
        ("tier: 1\n", "tier: one\n", f"{F}:3: tier: expected integer, got a string"),
    ],
)
def test_bad_input(tmp_path, old, new, expected):
    assert old in CHECKOUT
    root = write_catalog(tmp_path / "catalog", CHECKOUT.replace(old, new, 1))
    assert expected in problems(root)


def test_yaml_syntax_error_names_its_line(tmp_path):
    root = write_catalog(
        tmp_path / "catalog", CHECKOUT.replace("selector: {job: checkout}", "selector: {job: checkout")
    )
    found = problems(root)
    # libyaml and PyYAML word it differently; both name the line and what was expected.
    assert len(found) == 1 and found[0].startswith(f"{F}:6: invalid YAML: ") and "',' or '}'" in found[0], found


def test_contract_label_cannot_be_overridden(tmp_path):
    root = write_catalog(tmp_path / "catalog", CHECKOUT + "labels: {team: someone-else}\n")
    assert f"{F}:13: labels.team: 'team' is set by vigil on every alert; choose another label name" in problems(root)


def test_warning_beyond_critical_for_a_below_metric(tmp_path):
    redis = REDIS + "metrics:\n  hit_ratio: {warning: 50%, critical: 80%}\n"
    root = write_catalog(tmp_path / "catalog", extra={"services/redis-cache.yaml": redis})
    assert (
        "catalog/services/redis-cache.yaml:6: metrics.hit_ratio.warning: warning (50%) is beyond critical (80%); "
        "for a metric where below is worse, warning must be higher than critical"
    ) in problems(root)


def test_trend_needs_a_critical_threshold(tmp_path):
    text = CHECKOUT.replace(
        "metrics:\n", "metrics:\n  queue_depth: {expr: 'sum(q{$selector})', warning: 10, trend: {within: 1h}}\n"
    )
    root = write_catalog(tmp_path / "catalog", text)
    assert (
        f"{F}:9: metrics.queue_depth.trend: a trend alert predicts the crossing of the critical threshold; "
        "set `critical`"
    ) in problems(root)


def test_duplicate_service_name(tmp_path):
    root = write_catalog(tmp_path / "catalog", extra={"services/checkout-copy.yaml": CHECKOUT})
    assert (
        "catalog/services/checkout.yaml:1: name: duplicate service 'checkout' "
        "(also defined at catalog/services/checkout-copy.yaml:1)"
    ) in problems(root)


def test_profile_collision_needs_a_prefix(tmp_path):
    root = write_catalog(
        tmp_path / "catalog", CHECKOUT.replace("profiles: [http, jvm]", "profiles: [http, jvm, redis, host]")
    )
    assert (
        f"{F}:6: profiles: metric 'connections' comes from both 'redis' and 'host'; include one with a prefix, "
        "e.g. {name: host, prefix: host_}"
    ) in problems(root)
    ok = CHECKOUT.replace("profiles: [http, jvm]", "profiles: [http, jvm, redis, {name: host, prefix: host_}]")
    validate(load_catalog(write_catalog(tmp_path / "ok" / "catalog", ok)))


def test_every_problem_is_reported_at_once_and_nothing_is_written(tmp_path, capsys):
    bad = CHECKOUT.replace("owner: commerce-dev", "owner: nobody").replace(
        "profiles: [http, jvm]", "profiles: [htp, jvm]"
    )
    bad = bad.replace("objective: 99.9%", "objective: 150%")
    root = write_catalog(tmp_path / "catalog", bad)
    out = tmp_path / "output"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    with pytest.raises(SystemExit) as info:
        main(["--catalog", str(root), "--out", str(out), "build", "--no-cache"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "owner: unknown department 'nobody'" in err
    assert "profiles[0]: unknown profile 'htp'" in err
    assert "slos[0].objective" in err
    assert "nothing was written" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_label_values_that_would_break_promql_are_escaped(tmp_path):
    """A selector value with a quote, a backslash and a newline must stay one string literal."""
    nasty = 'check"out\\\n{x="y"}'
    text = CHECKOUT.replace("selector: {job: checkout}", "selector: {job: " + __import__("json").dumps(nasty) + "}")
    root = write_catalog(tmp_path / "catalog", text)
    report = build(root, tmp_path / "out", run_checks=True, run_tests=True)  # promtool check + unit tests
    rules = (tmp_path / "out" / "prometheus" / "rules" / "checkout.yaml").read_text()
    assert 'job=\\"check\\\\\\"out\\\\\\\\\\\\n{x=\\\\\\"y\\\\\\"}\\"' in rules or 'check\\"out' in rules
    assert report.check is not None and not report.check.failures


def test_an_slo_may_set_its_own_burn_alert_timings(tmp_path):
    """slos[].page / .ticket override vigil's default `for` and windows (defaults.yaml slo.page/ticket);
    a field left out keeps the default, and the generated promtool tests still prove the page."""
    own = "{name: availability, objective: 99.9%, page: {for: 1m, windows: [{short: 10m, long: 2h, factor: 10}]}}"
    root = write_catalog(tmp_path / "catalog", CHECKOUT.replace("{name: availability, objective: 99.9%}", own))
    report = build(root, tmp_path / "out", run_checks=True, run_tests=True)
    assert report.check is not None and not report.check.failures
    from vigil.build import BuildReport, compile_catalog

    _, model = compile_catalog(root, BuildReport())
    slo = next(s for s in model["services"] if s["name"] == "checkout")["slos"][0]
    page, ticket = (next(a for a in slo["alerts"] if a["severity"] == sev) for sev in ("critical", "warning"))
    assert (page["for"], [(w["short"], w["long"], w["factor"]) for w in page["windows"]]) == (
        "1m",
        [("10m", "2h", 10.0)],
    )
    assert (ticket["for"], len(ticket["windows"])) == ("15m", 2)  # the ticket keeps the defaults
    assert {"5m", "1h", "10m", "2h"} <= set(
        slo["windows"]
    )  # 5m and 1h: the generators read them whatever the alerts use
    rules = (tmp_path / "out" / "prometheus" / "rules" / "checkout.yaml").read_text()
    assert 'slo:sli_error:ratio_rate10m{service="checkout",slo="availability"} > 0.01' in rules
    # Old catalogs (no page/ticket) resolve exactly as before: tests/render/test_golden.py.


@pytest.mark.parametrize(
    "page, expected",
    [
        ("{windows: [{short: 5m, long: 1h}]}", "slos[0].page.windows[0]: missing required field 'factor'"),
        ("{for: 5 minutes}", "slos[0].page.for: '5 minutes' is not a duration such as 30s, 5m, 1h30m or 300ms"),
        ("{windows: []}", "slos[0].page.windows: [] should be non-empty"),
    ],
)
def test_bad_slo_burn_alert_timings(tmp_path, page, expected):
    own = "{name: availability, objective: 99.9%, page: " + page + "}"
    root = write_catalog(tmp_path / "catalog", CHECKOUT.replace("{name: availability, objective: 99.9%}", own))
    assert f"{F}:12: {expected}" in problems(root)


def test_critical_equal_to_the_profiles_warning_is_refused_at_the_users_line(tmp_path):
    """It used to pass validation and fail the build ("the step at 0.01 is orange, not red")."""
    text = CHECKOUT.replace("error_ratio: {warning: 1%, critical: 5%, for: 5m}", "error_ratio: {critical: 1%}")
    found = problems(write_catalog(tmp_path / "catalog", text))
    [problem] = [p for p in found if "error_ratio" in p]
    assert problem.startswith(
        f"{F}:9: metrics.error_ratio.critical: warning (1%) equals critical (1%) (from profile 'http' at "
    ), problem
    assert (
        "vigil/profiles/http.yaml:60); for a metric where above is worse, warning must be lower than critical"
        in problem
    )


def test_critical_below_an_inherited_warning_points_at_the_service_not_the_profile(tmp_path):
    text = CHECKOUT.replace("error_ratio: {warning: 1%, critical: 5%, for: 5m}", "error_ratio: {critical: 0.5%}")
    [problem] = [p for p in problems(write_catalog(tmp_path / "catalog", text)) if "error_ratio" in p]
    assert problem.startswith(
        f"{F}:9: metrics.error_ratio.critical: warning (1%) is beyond critical (0.5%) (from profile 'http' at "
    ), problem


def test_schema_problems_do_not_hide_the_others(tmp_path):
    """One round of fixes, not two: a bad tier (schema) and an unknown dependency (cross-reference)."""
    text = CHECKOUT.replace("tier: 1", "tier: first").replace(
        "dependencies: [redis-cache]", "dependencies: [redis-cahce]"
    )
    found = problems(write_catalog(tmp_path / "catalog", text))
    assert any(p.startswith(f"{F}:3: tier: ") for p in found), found
    assert f"{F}:7: dependencies[0]: unknown service 'redis-cahce' (did you mean 'redis-cache'?)" in found, found
