"""An alert's expression over raw series: every recording rule it reads replaced by its expression.

Over history from before the rules were deployed, the recorded series an alert reads were never
written. So each selector of a recording rule (`rec{service="x"}`) becomes `(<the record's expr>)`
carrying the record's static labels (`label_replace(.., "service", "x", "", "")`), recursively; a
range over a record (`predict_linear(rec[1h], ..)`, `avg_over_time(rec[7d] offset 1h)`) becomes a
subquery at the interval of the record's rule group (`(<expr>)[1h:1m]`), which is when the live
record would have been written. What that costs and where it differs from the live rules is in
docs/backtest.md.

The scanner knows PromQL's lexical structure only as far as it needs to: string literals are
skipped, and a selector is a rule name followed by optional `{matchers}` and `[range]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vigil import promql, units
from vigil.errors import BacktestError

_IDENT_START = re.compile(r"[a-zA-Z_:]")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')\s*,?')
MAX_DEPTH = 16


@dataclass(frozen=True)
class Record:
    """One recording rule, where it lives and how often it is evaluated."""

    name: str
    expr: str
    labels: tuple[tuple[str, str], ...]
    interval: float  # seconds: its group's evaluation interval
    file: str
    group: str


@dataclass
class Records:
    """Every recording rule of the rule files, by name; an alert's own file is searched first."""

    by_name: dict[str, list[Record]] = field(default_factory=dict)
    by_file: dict[tuple[str, str], list[Record]] = field(default_factory=dict)

    def add(self, record: Record) -> None:
        self.by_name.setdefault(record.name, []).append(record)
        self.by_file.setdefault((record.file, record.name), []).append(record)

    def select(self, name: str, matchers: list[tuple[str, str, str]], file: str, where: str) -> list[Record]:
        for candidates in (self.by_file.get((file, name), []), self.by_name.get(name, [])):
            found = [r for r in candidates if _matches(r, matchers, where)]
            if found:
                return found
        return []


def _matches(record: Record, matchers: list[tuple[str, str, str]], where: str) -> bool:
    labels = dict(record.labels)
    for name, op, value in matchers:
        if name not in labels:
            # The label would come from the record's expression, not its rule: which series carry
            # it is only known at query time, and a selector cannot be applied to an expression.
            raise BacktestError(
                f"{where}: {record.name}{{{name}{op}...}} filters on a label that the "
                f"recording rule ({record.file}, group {record.group}) does not set; "
                "it cannot be expanded into raw series"
            )
        have = labels[name]
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }[op]
        if not ok:
            return False
    return True


def records_of(files: dict[str, Any], default_interval: float) -> Records:
    """The recording rules of parsed rule files ({path: {"groups": [...]}})."""
    out = Records()
    for path, doc in sorted(files.items()):
        for group in (doc or {}).get("groups") or []:
            interval = units.parse_duration(group.get("interval") or default_interval)
            for rule in group.get("rules") or []:
                if "record" in rule:
                    out.add(
                        Record(
                            rule["record"],
                            rule["expr"],
                            tuple(sorted((rule.get("labels") or {}).items())),
                            interval,
                            path,
                            group["name"],
                        )
                    )
    return out


def _skip_string(expr: str, i: int) -> int:
    """The index after the string literal that starts at i."""
    quote = expr[i]
    j = i + 1
    while j < len(expr):
        if expr[j] == "\\" and quote != "`":
            j += 2
            continue
        if expr[j] == quote:
            return j + 1
        j += 1
    raise BacktestError(f"unterminated string in {expr!r}")


def _bracketed(expr: str, i: int, close: str) -> int:
    """The index after the `close` that ends the bracket opened at i (strings skipped)."""
    j = i + 1
    while j < len(expr):
        if expr[j] in "\"'`":
            j = _skip_string(expr, j)
            continue
        if expr[j] == close:
            return j + 1
        j += 1
    raise BacktestError(f"unbalanced {expr[i]} in {expr!r}")


def parse_matchers(body: str) -> list[tuple[str, str, str]]:
    out, pos = [], 0
    while body[pos:].strip():
        m = _MATCHER.match(body, pos)
        if not m:
            raise BacktestError(f"cannot read the label matchers {{{body}}}")
        raw = m.group(3)
        value = promql.unquote(raw[1:-1]) if raw[0] == '"' else raw[1:-1]
        out.append((m.group(1), m.group(2), value))
        pos = m.end()
    return out


def carry(expr: str, labels: Iterable[tuple[str, str]]) -> str:
    """`expr` with each label set, as the recording rule's `labels:` would set it."""
    for name, value in labels:
        expr = f'label_replace({expr}, "{name}", {promql.quote(value)}, "", "")'
    return expr


class Expander:
    """Expands expressions against one set of recording rules; each record is expanded once."""

    def __init__(self, records: Records):
        self.records = records
        self._done: dict[Record, str] = {}
        self.notes: list[str] = []  # selectors of record names that no rule of the catalog records

    def record(self, record: Record, depth: int) -> str:
        if record not in self._done:
            inner = self.expand(
                record.expr, record.file, f"{record.file}: record {record.name}", record.interval, depth + 1
            )
            self._done[record] = carry(f"({inner})", record.labels)
        return self._done[record]

    def expand(self, expr: str, file: str, where: str, interval: float, depth: int = 0) -> str:
        """`expr` (read in rule file `file`, by a group evaluated every `interval` seconds) with every
        recording-rule selector expanded.

        A record of a slower group (the baselines, every 5m) is read as the live rule reads it: its
        latest value, recorded at that group's last evaluation. `last_over_time((<expr>)[5m:5m])`
        evaluates it only at the slower group's steps, which also saves most of its cost."""
        if depth > MAX_DEPTH:
            raise BacktestError(f"{where}: recording rules nest deeper than {MAX_DEPTH} (a cycle?)")
        out: list[str] = []
        i = 0
        while i < len(expr):
            c = expr[i]
            if c in "\"'`":
                j = _skip_string(expr, i)
                out.append(expr[i:j])
                i = j
                continue
            if not (_IDENT_START.match(c) and (i == 0 or not re.match(r"[a-zA-Z0-9_:]", expr[i - 1]))):
                out.append(c)
                i += 1
                continue
            name = _IDENT.match(expr, i).group(0)  # type: ignore[union-attr]
            j = i + len(name)
            if name not in self.records.by_name:
                out.append(name)
                i = j
                continue
            k = j
            while k < len(expr) and expr[k].isspace():
                k += 1
            matchers: list[tuple[str, str, str]] = []
            if k < len(expr) and expr[k] == "{":
                end = _bracketed(expr, k, "}")
                matchers = parse_matchers(expr[k + 1 : end - 1])
                j = k = end
            while k < len(expr) and expr[k].isspace():
                k += 1
            window = None
            if k < len(expr) and expr[k] == "[":
                end = _bracketed(expr, k, "]")
                window = expr[k + 1 : end - 1].strip()
                j = end
            found = self.records.select(name, matchers, file, where)
            if not found:
                self.notes.append(f"{where}: {expr[i:j]} is not recorded by any rule of this catalog; read as stored")
                out.append(expr[i:j])
                i = j
                continue
            parts = []
            for r in found:
                body = self.record(r, depth)
                if window is None and r.interval > interval:
                    every = units.format_duration(r.interval)
                    body = f"last_over_time(({body})[{every}:{every}])"
                parts.append(body)
            body = " or ".join(parts)
            body = f"({body})" if len(found) > 1 else body
            if window is not None:
                step = units.format_duration(min(r.interval for r in found))
                body = f"({body})[{window}]" if ":" in window else f"({body})[{window}:{step}]"
            out.append(body)
            i = j
        return "".join(out)
