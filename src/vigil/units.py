"""Parsing of the catalog's human units into numbers, and back into short text.

`5%` → 0.05, `300ms` → 0.3, `512MiB` → 536870912, `2h` → 7200. Every function raises ValueError
with a message meant for the user; the validator attaches file and line.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
BYTE_UNITS = {
    "B": 1,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
    "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
}  # fmt: skip
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_BYTES = re.compile(rf"^({_NUMBER})\s*({'|'.join(BYTE_UNITS)})?$")
_PERCENT = re.compile(rf"^({_NUMBER})%$")
_PLAIN = re.compile(rf"^{_NUMBER}$")

UNITS = ("ratio", "seconds", "bytes", "bytes_per_second", "per_second", "count")


@lru_cache(maxsize=4096)  # a catalog repeats the same few durations thousands of times
def parse_duration(text: str | int | float) -> float:
    """`90s`, `1h30m`, `300ms` or a bare number of seconds → seconds."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as 5m, got {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"a duration cannot be negative, got {text}")
        return float(text)
    s = str(text).strip()
    if _PLAIN.match(s):
        return parse_duration(float(s))
    pos, total = 0, Decimal(0)
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        # Decimal for the same reason as percentages: 1.1ms is 0.0011, not 0.0011000000000000001.
        total += Decimal(m.group(1)) * Decimal(str(DURATION_UNITS[m.group(2)]))
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"expected a duration such as 30s, 5m, 1h30m or 300ms, got {text!r}")
    return float(total)


@lru_cache(maxsize=4096)
def format_duration(seconds: float) -> str:
    """Seconds → the shortest Prometheus duration (`3600` → `1h`, `90` → `1m30s`)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


def parse_quantity(value: str | int | float, unit: str) -> float:
    """A threshold in the metric's unit → a number in base units (ratio 0..1, seconds, bytes)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip()
    if _PLAIN.match(s):
        return float(s)
    if unit == "ratio":
        m = _PERCENT.match(s)
        if not m:
            raise ValueError(f"expected a ratio such as 5% or 0.05, got {value!r}")
        # In decimal, so that 1.622% is the float nearest 0.01622 (as the alert's PromQL prints it),
        # not 1.622 / 100 = 0.016220000000000002, which a dashboard step would then disagree with.
        return float(Decimal(m.group(1)) / 100)
    if unit == "seconds":
        return parse_duration(s)
    if unit in ("bytes", "bytes_per_second"):
        m = _BYTES.match(s.removesuffix("/s"))
        if not m:
            raise ValueError(f"expected a size such as 512MiB, 2GiB or 1GB, got {value!r}")
        return float(m.group(1)) * BYTE_UNITS[m.group(2) or "B"]
    raise ValueError(f"expected a plain number for a {unit} metric, got {value!r}")


def promql_number(x: float) -> str:
    """A float as PromQL text, short and exact enough (0.0144, not 0.014400000000000001)."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return format(x, ".12g")


def format_quantity(x: float, unit: str) -> str:
    """A threshold back into catalog notation, for summaries and panel titles."""
    if unit == "ratio":
        return promql_number(round(x * 100, 10)) + "%"
    if unit == "seconds":
        return format_duration(x) if x >= 1 else promql_number(round(x * 1000, 6)) + "ms"
    if unit in ("bytes", "bytes_per_second"):
        suffix = "/s" if unit == "bytes_per_second" else ""
        for name in ("TiB", "GiB", "MiB", "KiB"):
            if abs(x) >= BYTE_UNITS[name]:
                return promql_number(round(x / BYTE_UNITS[name], 2)) + name + suffix
        return promql_number(x) + "B" + suffix
    if unit == "per_second":
        return promql_number(x) + "/s"
    return promql_number(x)
