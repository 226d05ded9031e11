"""A small, fast YAML emitter for vigil's artefacts (block style, deterministic).

PyYAML's emitter (even libyaml's) costs more than everything else in a build of a thousand
services: it was 19 ms of 35 ms per service. The artefacts are plain data (dicts, lists, strings,
numbers, booleans, None), so a direct emitter does the same job several times faster. Strings are
written plain when YAML would read them back as the same string, else as JSON double-quoted
strings (valid YAML). tests/render/test_yamlout.py checks the round trip with hypothesis.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

import yaml

# Printable ASCII, not starting with a YAML indicator or a space.
_PLAIN = re.compile(r"(?![-?:,\[\]{}#&*!|>'\"%@`])[\x21-\x7e][\x20-\x7e]*\Z")
_RESOLVER = yaml.resolver.Resolver()


@lru_cache(maxsize=65536)
def _plain_ok(s: str) -> bool:
    """True when `s` written plain reads back as the same string: no indicator or comment, and not
    a word or number that PyYAML's own resolver would turn into another type ("on", "1.5", "~")."""
    return (
        bool(_PLAIN.match(s))
        and not s.endswith((" ", ":"))
        and ": " not in s
        and " #" not in s
        and _RESOLVER.resolve(yaml.ScalarNode, s, (True, False)) == "tag:yaml.org,2002:str"
    )


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        # PyYAML's resolver reads 1e-05 as a string: a float needs a dot before its exponent.
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    s = str(value)
    if _plain_ok(s):
        return s
    quoted = json.dumps(s, ensure_ascii=False)
    if quoted.isprintable():
        return quoted
    # Characters YAML treats as line breaks or refuses raw (NEL, LS, PS, BOM...) go escaped; YAML
    # has \U for those beyond the BMP, where JSON would split them into surrogates.
    return "".join(
        c if c.isprintable() else (f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else f"\\u{ord(c):04x}") for c in quoted
    )


# Strings repeat across a build (label names, severities, selectors): their YAML form is computed once.
_STRINGS: dict[str, str] = {}


def _flow(value: Any) -> str:
    """A scalar, or an empty mapping or sequence, as it follows a key or a dash."""
    if type(value) is str:
        text = _STRINGS.get(value)
        if text is None:
            text = scalar(value)
            if len(_STRINGS) < 1 << 18:
                _STRINGS[value] = text
        return text
    if type(value) is dict:
        return "{}"
    if type(value) is list:
        return "[]"
    return scalar(value)


def _key(k: Any) -> str:
    return _flow(k) if type(k) is str else scalar(str(k))


class _Order:
    """Key order of the mappings: the keys of `first` lead, in that order; the others follow sorted.
    The order of a given set of keys is worked out once (artefacts repeat a few shapes)."""

    def __init__(self, first: tuple[str, ...]):
        self.rank = {k: i for i, k in enumerate(first)}
        self.known: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def keys(self, d: dict[Any, Any]) -> tuple[Any, ...]:
        found = tuple(d)
        order = self.known.get(found)
        if order is None:
            n = len(self.rank)
            order = self.known[found] = tuple(sorted(found, key=lambda k: (self.rank.get(k, n), str(k))))
        return order


def _mapping(d: dict[Any, Any], indent: str, out: list[str], order: _Order | None, lead: str) -> None:
    """The entries of a non-empty mapping; the first line starts with `lead` (a list item's dash)."""
    nested = indent + "  "
    for k in order.keys(d) if order else d:
        v = d[k]
        head = lead + _key(k) + ":"
        lead = indent
        if v and type(v) is dict:
            out.append(head)
            _mapping(v, nested, out, order, nested)
        elif v and type(v) is list:
            out.append(head)
            _sequence(v, indent, out, order)  # PyYAML's style: a key's list items at the key's indent
        else:
            out.append(head + " " + _flow(v))


def _sequence(items: list[Any], indent: str, out: list[str], order: _Order | None) -> None:
    nested = indent + "  "
    for v in items:
        if v and type(v) is dict:
            _mapping(v, nested, out, order, indent + "- ")  # "- first: x", the other keys under it
        elif v and type(v) is list:
            out.append(indent + "-")
            _sequence(v, nested, out, order)
        else:
            out.append(indent + "- " + _flow(v))


def dump(data: Any, first: tuple[str, ...] | None = None) -> str:
    """YAML text of a dict or list. Mapping keys keep their order, or with `first`, the keys of
    `first` lead in that order and the others follow sorted."""
    if not data:
        return "{}\n" if isinstance(data, dict) else "[]\n"
    out: list[str] = []
    order = _Order(first) if first is not None else None
    if isinstance(data, dict):
        _mapping(data, "", out, order, "")
    else:
        _sequence(data, "", out, order)
    return "\n".join(out) + "\n"
