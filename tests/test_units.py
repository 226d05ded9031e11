"""Unit and duration parsing: the catalog's notation into base units and back."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil import units
from vigil.units import parse_duration, parse_quantity, promql_number


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("300ms", 0.3),
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        (90, 90),
        ("90", 90),
        (0.5, 0.5),
    ],
)
def test_parse_duration(text, seconds):
    assert units.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5 minutes", "m5", "", "5mm", "-5m", True, -1])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        units.parse_duration(bad)


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        ("5%", "ratio", 0.05),
        ("99.9%", "ratio", 0.999),
        (0.05, "ratio", 0.05),
        ("300ms", "seconds", 0.3),
        ("1s", "seconds", 1),
        (2, "seconds", 2),
        ("512MiB", "bytes", 512 * 1024**2),
        ("2GiB", "bytes", 2 * 1024**3),
        ("1KiB", "bytes", 1024),
        ("1GB", "bytes", 1e9),
        ("10MiB/s", "bytes_per_second", 10 * 1024**2),
        (100, "count", 100),
    ],
)
def test_parse_quantity(value, unit, expected):
    assert units.parse_quantity(value, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value, unit", [("5 %", "ratio"), ("fast", "seconds"), ("12XB", "bytes"), ("5%", "count"), (False, "ratio")]
)
def test_parse_quantity_rejects(value, unit):
    with pytest.raises(ValueError):
        units.parse_quantity(value, unit)


@pytest.mark.parametrize(
    "x, unit, text",
    [
        (0.05, "ratio", "5%"),
        (0.999, "ratio", "99.9%"),
        (0.3, "seconds", "300ms"),
        (7200, "seconds", "2h"),
        (512 * 1024**2, "bytes", "512MiB"),
        (100, "count", "100"),
        (12.5, "per_second", "12.5/s"),
    ],
)
def test_format_quantity(x, unit, text):
    assert units.format_quantity(x, unit) == text


@pytest.mark.parametrize(
    "x, text", [(0.0144, "0.0144"), (14.4 * 0.001, "0.0144"), (536870912.0, "536870912"), (1e-05, "1e-05")]
)
def test_promql_number_is_short_and_exact(x, text):
    assert units.promql_number(x) == text
    assert float(text) == pytest.approx(x)


def test_format_duration_roundtrip():
    for s in (1, 59, 60, 61, 3600, 5400, 86400, 2592000):
        assert units.parse_duration(units.format_duration(s)) == s
    assert units.format_duration(2592000) == "30d"


@given(st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False))
def test_a_percentage_is_the_float_its_promql_text_reads_back_as(d):
    # The alert prints the threshold with promql_number and the dashboard step keeps the float: the
    # alert-to-panel check compares them, so 1.622% must not become 0.016220000000000002.
    x = parse_quantity(f"{d}%", "ratio")
    assert float(promql_number(x)) == x
    assert x == float(d / 100)


def test_a_threshold_of_1_622_percent_is_0_01622():
    assert parse_quantity("1.622%", "ratio") == 0.01622
    assert parse_duration("1.1ms") == 0.0011
