"""Stage 1: safe YAML loading that remembers lines, and never lets a traceback reach the user."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.catalog.load import load_catalog, parse
from vigil.cli import main
from vigil.errors import CatalogError


def test_lines_are_remembered():
    doc, problems = parse("name: a\nmetrics:\n  error_ratio:\n    critical: 5%\n", "f.yaml")
    assert not problems
    assert doc.line(("metrics", "error_ratio", "critical")) == 4
    assert doc.line(("metrics", "error_ratio")) == 3
    assert doc.line(("metrics", "nothing", "here")) == 2  # nearest existing ancestor


def test_duplicate_key_is_a_problem():
    _, problems = parse("name: a\nowner: x\nname: b\n", "f.yaml")
    assert [str(p) for p in problems] == ["f.yaml:3: name: duplicate key; the earlier value would be silently lost"]


def test_non_string_key_is_a_problem():
    # YAML 1.1 reads `on` as a boolean: as a key it would silently become True.
    _, problems = parse("selector:\n  on: x\n", "f.yaml")
    assert [str(p) for p in problems] == ["f.yaml:2: selector: key True must be a string; quote it"]


def test_syntax_error_has_line():
    _, problems = parse("name: a\nowner: [unclosed\n", "f.yaml")
    assert len(problems) == 1 and problems[0].line == 3 and "invalid YAML" in problems[0].message


def test_unsafe_tags_are_refused():
    _, problems = parse("name: !!python/object/apply:os.system ['true']\n", "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:1: name: unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system"
    ]
    _, problems = parse("name: !!python/name:os.system x\n", "f.yaml")
    assert problems and "invalid YAML" in problems[0].message


def test_merge_keys_work():
    doc, problems = parse("base: &b {a: 1}\nx:\n  <<: *b\n  c: 2\n", "f.yaml")
    assert not problems and doc.data["x"] == {"a": 1, "c": 2}


def _minimal(tmp: Path, service_text: str) -> Path:
    (tmp / "services").mkdir(parents=True, exist_ok=True)
    (tmp / "departments.yaml").write_text(
        "departments:\n  - {id: team, role: engineering, channels: {chat: {webhook: {url: 'http://x'}}}}\n"
        "  - {id: ops, role: operations, channels: {chat: {webhook: {url: 'http://y'}}}}\n"
    )
    (tmp / "services" / "s.yaml").write_text(service_text, encoding="utf-8")
    return tmp


# Structured junk: YAML documents made of the catalog's own words, nested at random.
_words = st.sampled_from(
    [
        "name",
        "owner",
        "selector",
        "metrics",
        "profiles",
        "slos",
        "tier",
        "error_ratio",
        "critical",
        "warning",
        "for",
        "expr",
        "unit",
        "trend",
        "http",
        "team",
        "5%",
        "1h",
        "job",
    ]
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), _words)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_words, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(_words, _values, max_size=8))
def test_fuzz_structured_documents_never_traceback(tmp_path_factory, capsys, doc):
    import yaml

    tmp = _minimal(tmp_path_factory.mktemp("fuzz"), yaml.safe_dump(doc))
    _run_cli(tmp)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_fuzz_raw_text_never_tracebacks(tmp_path_factory, capsys, text):
    tmp = _minimal(tmp_path_factory.mktemp("fuzz"), text)
    _run_cli(tmp)


def _run_cli(catalog: Path) -> None:
    """The CLI exits 0 (valid) or 2 (invalid, with problems printed), never with a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--catalog", str(catalog), "validate"])
        raise SystemExit(0)
    assert exit_info.value.code in (0, 2)


def test_missing_catalog_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError):
        load_catalog(tmp_path / "nope")
