"""A small, fast YAML emitter for vigil's artefacts (block style, deterministic).

PyYAML's emitter (even libyaml's) costs more than everything else in a build of a thousand
services: it was 19 ms of 35 ms per service. The artefacts are plain data (dicts, lists, strings,
numbers, booleans, None), so a direct emitter does the same job several times faster. Strings are
written plain when YAML would read them back as the same string, else as JSON double-quoted
strings (valid YAML). tests/test_yamlout.py checks the round trip with hypothesis.
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
    return (bool(_PLAIN.match(s)) and not s.endswith((" ", ":")) and ": " not in s and " #" not in s
            and _RESOLVER.resolve(yaml.ScalarNode, s, (True, False)) == "tag:yaml.org,2002:str")


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
    return "".join(c if c.isprintable() else (f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else f"\\u{ord(c):04x}")
                   for c in quoted)


def _key(k: Any) -> str:
    return scalar(k) if isinstance(k, str) else scalar(str(k))


def _emit(data: Any, indent: str, out: list[str]) -> None:
    if isinstance(data, dict):
        for k, v in data.items():
            _entry(indent + _key(k) + ":", v, indent, out, nested=indent + "  ")
    else:
        for v in data:
            _entry(indent + "-", v, indent, out, nested=indent + "  ", item=True)


def _entry(head: str, value: Any, indent: str, out: list[str], nested: str, item: bool = False) -> None:
    if isinstance(value, dict) and value:
        if item:
            # "- first: x" then the other keys under it, as PyYAML writes list items.
            first = True
            for k, v in value.items():
                _entry((head + " " if first else nested) + _key(k) + ":", v, nested, out, nested=nested + "  ")
                first = False
        else:
            out.append(head)
            _emit(value, nested, out)
    elif isinstance(value, list) and value:
        out.append(head)
        _emit(value, indent if not item else nested, out)
    elif isinstance(value, dict):
        out.append(head + " {}")
    elif isinstance(value, list):
        out.append(head + " []")
    else:
        out.append(head + " " + scalar(value))


def dump(data: Any) -> str:
    """YAML text of a dict or list (keys in the order given)."""
    if not data:
        return "{}\n" if isinstance(data, dict) else "[]\n"
    out: list[str] = []
    _emit(data, "", out)
    return "\n".join(out) + "\n"
