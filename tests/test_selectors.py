"""vigil's PromQL vector-selector tokenizer (used where the server has no /api/v1/parse_query)
against Prometheus 3.5's own parser: the same selectors for every expression of the example
catalog and for generated ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import TOOLS
from vigil.promql import quote
from vigil.selectors import Matcher, Selector, from_syntax_tree, unique, vector_selectors
from vigil.stack import prometheus
from vigil.prometheus_api import PrometheusAPI


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusAPI]:
    """Prometheus 3.5, scraping nothing: only its /api/v1/parse_query is used."""
    bindir = TOOLS / "current" / "bin"
    if not (bindir / "prometheus").exists():
        pytest.skip(f"{bindir}/prometheus missing: run `make tools` (scripts/tools.sh)")
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"
    try:
        server = prometheus.start(tmp_path_factory.mktemp("parser"), {}, [])
    finally:
        os.environ["PATH"] = path
    with server:
        yield server.api


def _prometheus_says(api: PrometheusAPI, expr: str) -> list[Selector] | None:
    tree = api.parse_query(expr)
    return None if tree is None else from_syntax_tree(tree)


@pytest.mark.parametrize("expr, expected", [
    ('max(sum by (instance) (rate(foo{job="x",area=~"h.*"}[5m] offset 1m)) / on(instance) group_left bar)'
     ' or {__name__="baz"}', ['foo{job="x",area=~"h.*"}', "bar", '{__name__="baz"}']),
    ("sum(x) by (le) > bool 3 and topk(3, y{a='b\\'c'})", ["x", """y{a="b'c"}"""]),
    ("rate(z[5m:1m] @ start()) # a comment with w{a=\"b\"}\n + Inf", ["z"]),
    ('count_values("sum", on_call{l=`a\\b`}) unless ignoring(by) sum_x', ['on_call{l="a\\\\b"}', "sum_x"]),
    ("up > bool NaN or nan_count + Inf", ["up", "nan_count"]),
    ('histogram_quantile(0.99, sum without (pod) (rate(h_bucket{a="}{,"}[1m])))', ['h_bucket{a="}{,"}']),
])
def test_tokenizer_finds_the_selectors(expr: str, expected: list[str]) -> None:
    assert [s.text() for s in vector_selectors(expr)] == expected


def test_unique_keeps_first_appearance() -> None:
    a, b = Selector("a", ()), Selector("b", ())
    assert unique([b, a, b]) == [b, a]


def test_without_keeps_only_the_service_selector() -> None:
    s = Selector("m", (Matcher("job", "=", "x"), Matcher("code", "=~", "5..")))
    assert s.without({"job": "x"}).text() == 'm{job="x"}'


@pytest.mark.integration
def test_the_example_catalog_splits_as_prometheus_splits_it(parser: PrometheusAPI,
                                                            example_model: dict[str, Any]) -> None:
    exprs = [m["expr"] for s in example_model["services"] for m in s["metrics"]]
    exprs += [slo[k].replace("$window", "5m") for s in example_model["services"] for slo in s["slos"]
              for k in ("errors", "total")]
    for expr in exprs:
        theirs = _prometheus_says(parser, expr)
        assert theirs is not None, expr
        assert vector_selectors(expr) == theirs, expr


# --- generated expressions ---------------------------------------------------------------------

# Names that start like keywords, functions and aggregations, to catch a tokenizer that matches prefixes.
NAMES = st.sampled_from(["up", "http_requests_total", "a:b:c", "sum_x", "by_x", "on_call", "inf_total", "rate_x",
                         "offset_bytes", "nan_count", "bool_flag", "group_left_x", "_x"])
LABELS = st.sampled_from(["job", "code", "le", "a_b", "by", "on", "sum", "offset"])
VALUES = st.text(alphabet=st.sampled_from(list("ab5 .{}[](),#=~!\"'`\\\n\té😀")), max_size=6)
REGEXES = st.sampled_from(["5..", "a|b", ".*", "x.+", "[ab]{2}", "\\\\d+", "(?i)ab"])


@st.composite
def matcher(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(REGEXES if "~" in op else VALUES)
    style = draw(st.sampled_from(["double", "single", "raw"]))
    if style == "raw" and "`" not in value and "\\" not in value:
        text = f"`{value}`"
    elif style == "single" and "'" not in value and "\\" not in value and "\n" not in value:
        text = f"'{value}'"
    else:
        text = quote(value)
    return f"{draw(LABELS)}{draw(st.sampled_from(['', ' ']))}{op}{text}"


@st.composite
def selector(draw: st.DrawFn) -> str:
    ms = draw(st.lists(matcher(), max_size=3))
    named = draw(st.booleans()) or not ms
    name = draw(NAMES) if named else ""
    if not ms:
        return name
    return f"{name}{{{', '.join(ms)}{draw(st.sampled_from(['', ',']))}}}"


def _extend(e: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    sel = selector()
    return st.one_of(
        st.builds(lambda s: f"rate({s}[5m])", sel),
        st.builds(lambda s, d: f"{s} offset {d}", sel, st.sampled_from(["5m", "1h30m", "-1m"])),
        st.builds(lambda x, g: f"sum by ({g}) ({x})", e, st.sampled_from(["le", "job, code", ""])),
        st.builds(lambda x, g: f"max({x}) without ({g})", e, st.sampled_from(["le", "on"])),
        st.builds(lambda x: f"topk(3, {x})", e),
        st.builds(lambda x: f'count_values("sum", {x})', e),
        st.builds(lambda a, b: f"{a} / on(job) group_left(code) {b}", e, e),
        st.builds(lambda a, b, op: f"({a}) {op} ({b})", e, e, st.sampled_from(["or", "and", "unless", "+", "> bool"])),
        st.builds(lambda x: f"max_over_time(({x})[5m:1m])", e),
        st.builds(lambda x: f"histogram_quantile(0.9, {x})", e),
        st.builds(lambda x: f'label_replace({x}, "dst", "$1", "src", "(.*)")', e),
        st.builds(lambda x: f"abs({x}) # }}{{ x{{a=\"b\"}}\n", e),
    )


EXPRESSIONS = st.recursive(st.one_of(selector(), st.sampled_from(["1", "0.5", "Inf", "NaN"])), _extend, max_leaves=6)


@pytest.mark.integration
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.filter_too_much])
@given(expr=EXPRESSIONS)
@example(expr="NaN")
@example(expr="(up) + (Inf)")
def test_generated_expressions_split_as_prometheus_splits_them(parser: PrometheusAPI, expr: str) -> None:
    theirs = _prometheus_says(parser, expr)
    assume(theirs is not None)          # the generator may build what PromQL refuses; those say nothing
    assert vector_selectors(expr) == theirs


@given(name=NAMES, ms=st.lists(st.tuples(LABELS, st.sampled_from(["=", "!="]), VALUES), max_size=3))
def test_a_selector_reads_back_as_itself(name: str, ms: list[tuple[str, str, str]]) -> None:
    s = Selector(name, tuple(Matcher(*m) for m in ms))
    assert vector_selectors(s.text()) == [s]



@given(text=st.text(alphabet=st.sampled_from(list("ab_:{}[]()=~!,\"'`\\# \n5.xu")), max_size=40))
def test_the_tokenizer_never_raises_on_any_text(text: str) -> None:
    """It is handed only promtool-checked PromQL, but a typo in a custom profile must not crash it."""
    for s in vector_selectors(text):
        assert isinstance(s.text(), str)
