"""`because:` on an override names the postmortem that motivated it: validated against the
collection (file, line, did you mean), carried into the model, and onto the alerts as annotation."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from vigil import layout
from vigil.build import BuildReport, compile_catalog
from vigil.errors import CatalogError
from vigil.render import prometheus
from vigil.render.cache import Cache
from vigil.render.files import Files

PM = "2026-03-14-checkout-redis-evictions"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def problems(catalog: Path) -> list[str]:
    with pytest.raises(CatalogError) as e:
        compile_catalog(catalog, BuildReport())
    return [str(p) for p in e.value.problems]


def test_an_unknown_postmortem_is_named_with_its_line_and_a_suggestion(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    checkout = catalog / "services" / "checkout.yaml"
    edit(
        checkout,
        "latency_p99: {warning: 400ms, critical: 1s}",
        "latency_p99: {warning: 400ms, critical: 1s, because: 2026-03-14-checkout-redis-eviction}",
    )
    edit(
        checkout,
        "- {name: availability, objective: 99.9%}",
        "- {name: availability, objective: 99.9%, because: outage-of-may}",
    )
    found = problems(catalog)
    assert found == [
        f"catalog/services/checkout.yaml:{line_of(checkout, 'latency_p99:')}: metrics.latency_p99.because: "
        f"unknown postmortem '2026-03-14-checkout-redis-eviction' (did you mean '{PM}'?)",
        f"catalog/services/checkout.yaml:{line_of(checkout, 'name: availability')}: slos[0].because: "
        "unknown postmortem 'outage-of-may'",
    ]


def test_a_catalog_without_any_postmortem_builds_as_before(catalog_copy: Callable[[], Path]) -> None:
    """Copied or checked out without its postmortems (a deploy job), there is nothing to check
    `because:` against: the catalog builds, with the annotation, and says nothing."""
    catalog = catalog_copy()
    shutil.rmtree(catalog.parent / "postmortems")
    checkout = catalog / "services" / "checkout.yaml"
    edit(
        checkout,
        "latency_p99: {warning: 400ms, critical: 1s}",
        f"latency_p99: {{warning: 400ms, critical: 1s, because: {PM}}}",
    )
    report = BuildReport()
    _, model = compile_catalog(catalog, report)
    assert not [w for w in report.warnings if "because" in w]
    service = next(s for s in model["services"] if s["name"] == "checkout")
    assert next(m for m in service["metrics"] if m["id"] == "latency_p99")["because"] == PM


def test_a_known_postmortem_reaches_the_model_and_the_alerts(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    checkout = catalog / "services" / "checkout.yaml"
    edit(
        checkout,
        "latency_p99: {warning: 400ms, critical: 1s}",
        f"latency_p99: {{warning: 400ms, critical: 1s, because: {PM}}}",
    )
    edit(
        checkout,
        "- {name: availability, objective: 99.9%}",
        f"- {{name: availability, objective: 99.9%, because: {PM}}}",
    )
    _, model = compile_catalog(catalog, BuildReport())
    service = next(s for s in model["services"] if s["name"] == "checkout")
    by_id = {m["id"]: m for m in service["metrics"]}
    assert by_id["latency_p99"].get("because") == PM
    assert "because" not in by_id["error_ratio"]  # only where the catalog says so
    assert next(s for s in service["slos"] if s["name"] == "availability").get("because") == PM

    files = Files(Cache(None))
    prometheus.render_all({**model, "services": [service]}, Cache(None), files)
    rules = [
        r for g in yaml.safe_load(files[layout.rule_file("checkout")])["groups"] for r in g["rules"] if "alert" in r
    ]
    annotated = {
        (r["labels"]["key_metric"], r["labels"]["kind"], r["labels"]["severity"])
        for r in rules
        if r["annotations"].get("postmortem") == PM
    }
    assert annotated == {
        ("latency_p99", "threshold", "warning"),
        ("latency_p99", "threshold", "critical"),
        ("availability", "slo_burn", "warning"),
        ("availability", "slo_burn", "critical"),
    }
    assert all("postmortem" not in r["annotations"] for r in rules if r["labels"]["key_metric"] == "error_ratio")
