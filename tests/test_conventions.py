"""Profile conventions: a pinned one gives lean rules, none gives the `or` of all, bad pins are caught."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vigil.build import BuildReport, compile_catalog
from vigil.catalog.conventions import join
from vigil.errors import CatalogError


def _service(catalog: Path, profiles: str, metrics: str = "") -> None:
    (catalog / "services" / "probe.yaml").write_text(
        f"name: probe\nowner: commerce-dev\nselector: {{job: probe}}\nprofiles: {profiles}\n{metrics}")


def _metrics(catalog: Path) -> dict[str, Any]:
    _, model = compile_catalog(catalog, BuildReport())
    [svc] = [s for s in model["services"] if s["name"] == "probe"]
    return {m["id"]: m for m in svc["metrics"]}


def test_join_keeps_order_and_drops_duplicates() -> None:
    assert join(["a", "b", "a"]) == "(a) or (b)"
    assert join(["x{ } ", "x{ }"]) == "x{ }"


def test_pinned_convention_reads_only_its_names(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    _service(catalog, "[{name: jvm, convention: simpleclient}]")
    m = _metrics(catalog)
    assert m["threads"]["expr"] == 'max(jvm_threads_current{job="probe"})'
    assert " or " not in m["heap_usage"]["expr"] and "jvm_memory_bytes_used" in m["heap_usage"]["expr"]
    assert m["threads"]["test"] == [{"series": "jvm_threads_current", "type": "gauge", "value": [0, 1]}]


def test_unpinned_reads_every_convention_in_order(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    _service(catalog, "[jvm]")
    expr = _metrics(catalog)["threads"]["expr"]
    assert expr == ('(max(jvm_threads_live_threads{job="probe"})) or (max(jvm_threads_current{job="probe"}))'
                    ' or (max(sum by (instance) (jvm_thread_count{job="probe"})))')


def test_a_metric_the_convention_lacks_is_off_until_the_service_gives_an_expr(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    (catalog / "profiles" / "queue.yaml").write_text("""\
name: queue
conventions:
  - {name: a, description: exporter A, metrics: [a_depth]}
  - {name: b, description: exporter B, metrics: [b_depth]}
metrics:
  depth: {expr: {a: 'sum(a_depth{$selector})', b: 'sum(b_depth{$selector})'}, unit: count}
  lag: {expr: {a: 'max(a_lag{$selector})'}, unit: seconds}
""")
    _service(catalog, "[{name: queue, convention: b}]")
    assert set(_metrics(catalog)) == {"depth"}
    _service(catalog, "[{name: queue, convention: b}]", "metrics:\n  lag: {expr: 'max(b_age{$selector})'}\n")
    m = _metrics(catalog)
    assert m["lag"]["expr"] == 'max(b_age{job="probe"})' and m["lag"]["unit"] == "seconds"


def test_unknown_convention_points_at_the_line_with_a_suggestion(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    _service(catalog, "\n  - http\n  - {name: jvm, convention: micrometr}\n  - {name: host, convention: x}")
    with pytest.raises(CatalogError) as e:
        compile_catalog(catalog, BuildReport())
    text = str(e.value)
    assert ("catalog/services/probe.yaml:6: profiles[1].convention: unknown convention 'micrometr' of profile 'jvm' "
            "(did you mean 'micrometer'?); choose one of: micrometer, client_java, simpleclient, otel") in text
    assert "probe.yaml:7: profiles[2].convention: profile 'host' has no conventions; remove `convention:`" in text


def test_a_catalog_profile_may_only_map_declared_conventions(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    (catalog / "profiles" / "queue.yaml").write_text("""\
name: queue
conventions:
  - {name: a, description: exporter A, metrics: [a_depth]}
metrics:
  depth: {expr: {a: 'sum(a_depth{$selector})', c: 'sum(c_depth{$selector})'}, unit: count}
""")
    with pytest.raises(CatalogError, match=r"queue.yaml:5: metrics.depth.expr.c: unknown convention 'c'; declared: a"):
        compile_catalog(catalog, BuildReport())


def test_a_catalog_override_of_a_builtin_keeps_its_conventions(catalog_copy: Callable[[], Path]) -> None:
    catalog = catalog_copy()
    (catalog / "profiles" / "jvm.yaml").write_text(
        "name: jvm\nmetrics:\n  threads: {expr: {client_java: 'max(jvm_threads_current{$selector,area!=\"x\"})'}}\n")
    _service(catalog, "[{name: jvm, convention: client_java}]")
    assert _metrics(catalog)["threads"]["expr"] == 'max(jvm_threads_current{job="probe",area!="x"})'


def test_builtin_profiles_are_valid() -> None:
    """Built-ins are not schema-checked at load time (a problem there is a vigil bug): here they are."""
    from vigil.catalog.conventions import check_profile
    from vigil.catalog.profiles import builtin_documents
    from vigil.catalog.schema import check_schema
    for doc in builtin_documents():
        assert check_schema(doc, "profile") + check_profile(doc, doc.data) == [], doc.file


def test_every_conventions_fixture_passes_its_generated_promtool_tests(
        catalog_copy: Callable[[], Path], tmp_path: Path, generation: str) -> None:
    """Each pinned convention's fixture must give x through that convention's expr, or the
    generated threshold, trend, anomaly and absent tests fail in the real promtool."""
    from vigil.build import build
    from vigil.catalog.profiles import build_profiles, builtin_documents
    catalog = catalog_copy()
    for example in (catalog / "services").glob("*.yaml"):
        example.unlink()  # only the pinned services: their tests are the point, and quicker alone
    names = []
    for prof in build_profiles(list(builtin_documents())).values():
        for c in prof.conventions:
            name = f"pin-{prof.name}-{c.name}".replace("_", "-")
            names.append(name)
            (catalog / "services" / f"{name}.yaml").write_text(
                f"name: {name}\nowner: commerce-dev\nselector: {{job: {name}}}\n"
                f"profiles: [{{name: {prof.name}, convention: {c.name}}}]\n")
    build(catalog, tmp_path / "out", run_checks=True, run_tests=True)
    tests = {p.name for p in (tmp_path / "out" / "prometheus" / "tests").glob("pin-*.test.yaml")}
    assert tests == {f"{n}.test.yaml" for n in names}
