"""The vector selectors of a PromQL expression: the raw series it reads.

`vigil coverage` queries each selector on its own to say which raw series is missing when a key
metric has no data. Prometheus 3 parses the expression for us (`GET /api/v1/parse_query`,
`from_syntax_tree`); Prometheus 2.42, Thanos, Mimir and VictoriaMetrics have no such endpoint, so
`vector_selectors` is a small tokenizer for the same answer. It does not validate PromQL (promtool
did that at build time): it only has to find `name{matchers}` and `{matchers}` while skipping what
looks like them but is not: function and aggregation names, label lists after
by/without/on/ignoring/group_left/group_right, keywords, Inf/NaN, durations and strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vigil.promql import quote

# Words that are never a metric name where they appear (PromQL keywords are case-insensitive).
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
# Followed by a parenthesised list of label names, not of expressions.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregations may put `by (...)` between their name and their parentheses: `sum by (le) (x)`.
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                 "topk", "quantile", "limitk", "limit_ratio"}
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"[0-9.][0-9A-Za-z.]*(?:[eE][+-]?[0-9]+)?")   # 0.99, 1e3, 0x1f, and durations: 5m, 1h30m
_OPERATORS = ("==", "!=", "=~", "!~", ">=", "<=")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_METRIC = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*\Z")
# Go's escapes in "..." and '...' strings (PromQL's strings are Go's).
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\'\"])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass(frozen=True, order=True)
class Matcher:
    label: str
    op: str          # = != =~ !~
    value: str

    def text(self) -> str:
        label = self.label if _LABEL.match(self.label) else quote(self.label)
        return f"{label}{self.op}{quote(self.value)}"


@dataclass(frozen=True, order=True)
class Selector:
    """`name{matchers}`: name is "" when the expression gave only matchers (`{__name__=~"x.*"}`)."""

    name: str
    matchers: tuple[Matcher, ...]

    def text(self) -> str:
        """The selector as PromQL: can be queried on its own (without its range or offset)."""
        inner = ",".join(m.text() for m in self.matchers)
        if not self.name:
            return "{" + inner + "}"
        name = self.name if _METRIC.match(self.name) else None
        if name is None:    # a UTF-8 name (Prometheus 3) goes inside the braces, quoted
            return "{" + ",".join([quote(self.name), *([inner] if inner else [])]) + "}"
        return f"{name}{{{inner}}}" if inner else name

    def without(self, keep: dict[str, str]) -> Selector:
        """Only the name and the matchers equal to `keep` (the service's own selector)."""
        return Selector(self.name, tuple(m for m in self.matchers if m.op == "=" and keep.get(m.label) == m.value))


def unique(selectors: list[Selector]) -> list[Selector]:
    """In order of first appearance, each once."""
    return list(dict.fromkeys(selectors))


# --- Prometheus's own parser -------------------------------------------------------------------

def from_syntax_tree(node: Any) -> list[Selector]:
    """The selectors in /api/v1/parse_query's answer, in source order. Prometheus appends a
    `__name__` matcher for a bare metric name; it is dropped again, as the name says it."""
    found: list[Selector] = []
    if isinstance(node, dict):
        if node.get("type") in ("vectorSelector", "matrixSelector"):
            matchers = [Matcher(m["name"], m["type"], m["value"]) for m in node["matchers"]]
            if node.get("name") and matchers and matchers[-1] == Matcher("__name__", "=", node["name"]):
                matchers.pop()
            found.append(Selector(node.get("name") or "", tuple(matchers)))
        else:
            for value in node.values():
                found += from_syntax_tree(value)
    elif isinstance(node, list):
        for item in node:
            found += from_syntax_tree(item)
    return found


# --- the tokenizer -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str        # ident | string | number | op
    text: str        # the source text; for strings, the unquoted value


def _tokens(expr: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":                                   # a comment runs to the end of the line
            end = expr.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            body = expr[i + 1:j]
            out.append(_Token("string", body if c == "`" else _unescape(body)))
            i = j + 1
        elif m := _IDENT.match(expr, i):
            out.append(_Token("ident", m.group()))
            i = m.end()
        elif m := _NUMBER.match(expr, i):
            out.append(_Token("number", m.group()))
            i = m.end()
        else:
            op = next((o for o in _OPERATORS if expr.startswith(o, i)), c)
            out.append(_Token("op", op))
            i += len(op)
    return out


def _unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        simple, *codes = m.groups()
        if simple:
            return _SIMPLE.get(simple, simple)
        code = next(c for c in codes if c)
        return chr(int(code, 8 if m.group(3) else 16))
    return _ESCAPE.sub(one, body)


def _closing(tokens: list[_Token], i: int, open_: str, close: str) -> int:
    """Index just after the bracket that closes the one at tokens[i]."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].kind == "op" and tokens[j].text == open_:
            depth += 1
        elif tokens[j].kind == "op" and tokens[j].text == close:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(tokens)


def _matchers(tokens: list[_Token], start: int, end: int) -> tuple[str, list[Matcher]]:
    """The contents of `{...}` (tokens[start:end], without the braces): a quoted metric name, if
    any (Prometheus 3), and the matchers."""
    name, matchers = "", []
    parts: list[list[_Token]] = [[]]
    for t in tokens[start:end]:
        if t.kind == "op" and t.text == ",":
            parts.append([])
        else:
            parts[-1].append(t)
    for part in parts:
        if len(part) == 1 and part[0].kind == "string":
            name = part[0].text
        elif len(part) == 3:
            matchers.append(Matcher(part[0].text, part[1].text, part[2].text))
    return name, matchers


def vector_selectors(expr: str) -> list[Selector]:
    """The selectors of a valid PromQL expression, in source order (repeats kept)."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        opens = after is not None and after.kind == "op"
        if t.kind == "ident":
            word = t.text.lower()
            if word in _LABEL_LISTS:
                i = _closing(tokens, i + 1, "(", ")") if opens and after.text == "(" else i + 1   # type: ignore[union-attr]
                continue
            called = opens and after.text == "("                                                # type: ignore[union-attr]
            grouped = word in _AGGREGATIONS and after is not None and after.text.lower() in ("by", "without")
            if word in _KEYWORDS or called or grouped:
                i += 1
                continue
            if opens and after.text == "{":                                                     # type: ignore[union-attr]
                end = _closing(tokens, i + 1, "{", "}")
                _, matchers = _matchers(tokens, i + 2, end - 1)
                found.append(Selector(t.text, tuple(matchers)))
                i = end
            else:
                found.append(Selector(t.text, ()))
                i += 1
        elif t.kind == "op" and t.text == "{":
            end = _closing(tokens, i, "{", "}")
            name, matchers = _matchers(tokens, i + 1, end - 1)
            found.append(Selector(name, tuple(matchers)))
            i = end
        elif t.kind == "op" and t.text == "[":             # a range or subquery: durations only
            i = _closing(tokens, i, "[", "]")
        else:
            i += 1
    return found
