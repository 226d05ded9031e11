"""The fast YAML emitter must read back, with PyYAML's safe loader, as exactly what was dumped."""

from __future__ import annotations

import math

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.render import yamlout

_keys = st.one_of(st.text(max_size=12), st.sampled_from(["expr", "for", "on", "yes", "null", "1", "-", "a: b", "#x"]))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.sampled_from(
        [
            "yes",
            "No",
            "~",
            "1e-05",
            "0x10",
            "2026-11-26",
            "- x",
            "a: b",
            "a #b",
            "x:",
            " lead",
            "trail ",
            "{{ $value | humanize }}",
            'sum(rate(x{job="a"}[5m])) > 0.05',
            "*alias",
            "&anchor",
            "!tag",
            "%x",
            "@x",
            "`x",
            "|",
            ">",
            "'q'",
            '"q"',
            "\u2028",
            "\ufeff",
            "\x85",
            "é ± ·",
            "=",
            "<<",
        ]
    ),
)
_data = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.dictionaries(_keys, _data, max_size=6), st.lists(_data, max_size=5)))
def test_round_trip(data):
    assert yaml.safe_load(yamlout.dump(data)) == data


def test_special_floats():
    back = yaml.safe_load(yamlout.dump({"a": float("inf"), "b": float("-inf"), "c": float("nan"), "d": 1e-05}))
    assert back["a"] == math.inf and back["b"] == -math.inf and math.isnan(back["c"]) and back["d"] == 1e-05


def test_artefacts_round_trip(example_output):
    for path in (example_output / "prometheus").rglob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        assert yaml.safe_load(yamlout.dump(data)) == data, path


def test_first_keys_lead_and_the_others_follow_sorted() -> None:
    text = yamlout.dump(
        {"b": 1, "expr": "x", "a": [{"z": 1, "alert": "A", "c": {"y": 2, "x": 1}}]}, first=("alert", "expr")
    )
    assert text == "expr: x\na:\n- alert: A\n  c:\n    x: 1\n    y: 2\n  z: 1\nb: 1\n"
