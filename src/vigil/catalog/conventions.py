"""Naming conventions within a profile: one key metric, several exporters' metric names.

The same key metric (a JVM's heap usage, say) is written under different names by Micrometer,
the Prometheus Java client and OpenTelemetry. A profile lists its `conventions:` in order, and a
metric's `expr` (and `test`, `needs`; an SLI's `errors`, `total`, `test`) may be a map from
convention name to value. A service pins one (`profiles: [{name: jvm, convention: client_java}]`);
without a pin, the expr is every convention's expr joined with `or` in the profile's order, so
that a service works out of the box. `or` keeps the left side's series, and every convention's
expr reduces to the same label set (the metric's `by`), so the first convention with data wins
and nothing is counted twice.

Everything here is picked before resolve: the resolved model still has one expr string per metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vigil.catalog.load import Document
from vigil.catalog.schema import did_you_mean
from vigil.errors import Problem

# Fields whose value may be a map from convention name to value.
METRIC_FIELDS = ("expr", "test", "needs")
SLI_FIELDS = ("errors", "total", "test")
# PromQL fields are joined with `or` when no convention is pinned; the others take the first.
JOINED = ("expr", "errors", "total")
_IDENT = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([a-zA-Z0-9_,\s]*)\})?$")


@dataclass(frozen=True)
class Convention:
    name: str
    description: str
    identify: tuple[str, ...]   # metric names (optionally `name{label,...}`) only this convention writes


def parse_conventions(data: Any) -> list[Convention]:
    """A profile document's `conventions:` list (schema-checked), in order."""
    out = []
    for c in data if isinstance(data, list) else []:
        if isinstance(c, dict) and isinstance(c.get("name"), str):
            out.append(Convention(c["name"], " ".join(str(c.get("description", "")).split()),
                                  tuple(str(m) for m in c.get("metrics") or [])))
    return out


def identifier(text: str) -> tuple[str, frozenset[str]]:
    """`jvm_memory_used_bytes{jvm_memory_type}` → (name, labels that must be on its series)."""
    m = _IDENT.match(text.strip())
    if not m:
        return text.strip(), frozenset()
    labels = frozenset(x.strip() for x in (m.group(2) or "").split(",") if x.strip())
    return m.group(1), labels


def is_map(field: str, value: Any) -> bool:
    """Whether a field's value is a convention map rather than a plain value.

    `test` is the only field whose plain value may itself be a mapping (a histogram fixture)."""
    if not isinstance(value, dict):
        return False
    return not (field == "test" and "histogram" in value)


def join(exprs: list[str]) -> str:
    """PromQL alternatives, first wins: `(a) or (b)`; identical alternatives appear once."""
    unique = list(dict.fromkeys(" ".join(e.split()) for e in exprs))
    if len(unique) == 1:
        return unique[0]
    return " or ".join(f"({e})" for e in unique)


def pick(field: str, value: Any, order: list[str], convention: str | None) -> Any:
    """A field's value for a pinned convention (None when it has none), or for all of them.

    Unpinned: PromQL fields are joined in the profile's order; fixtures and hints come from the
    first convention that has one (the left side of the join, which is the side that wins)."""
    if not is_map(field, value):
        return value
    if convention is not None:
        return value.get(convention)
    present = [value[c] for c in order if c in value]
    if not present:
        return None
    return join(present) if field in JOINED else present[0]


def check_profile(doc: Document, data: dict[str, Any], builtins: dict[str, Any] | None = None) -> list[Problem]:
    """A profile's convention maps name only conventions it declares, and each alternative reads $selector.

    A catalog profile that overrides a built-in without `conventions:` of its own keeps the
    built-in's (`builtins`: name → Profile)."""
    declared = [c.name for c in parse_conventions(data.get("conventions"))]
    if "conventions" not in data and builtins and data.get("name") in builtins:
        declared = [c.name for c in builtins[data["name"]].conventions]
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, c in enumerate(data.get("conventions") or []):
        name = str(c.get("name")) if isinstance(c, dict) else ""
        if name in seen:
            problems.append(doc.problem(("conventions", i, "name"), f"convention '{name}' is declared twice"))
        seen.add(name)
    for section, fields in (("metrics", METRIC_FIELDS), ("slis", SLI_FIELDS)):
        for mid, mdata in (data.get(section) or {}).items():
            if not isinstance(mdata, dict):
                continue
            for f in fields:
                value = mdata.get(f)
                if not isinstance(value, dict) or not is_map(f, value):
                    continue
                for key, alt in value.items():
                    path = (section, mid, f, key)
                    if key not in declared:
                        where = f"declared: {', '.join(declared)}" if declared else "no `conventions:` declared"
                        suggestion = did_you_mean(key, declared)
                        problems.append(doc.problem(path, f"unknown convention '{key}'{suggestion}; {where}"))
                    elif f in JOINED and "$selector" not in str(alt):
                        problems.append(doc.problem(
                            path, f"{f} must use $selector, or the rule would match every service's series"))
    return problems


def check_ref(service: Document, index: int, profile: str, convention: str, declared: list[str]) -> list[Problem]:
    """A service's `profiles[i].convention` names one the profile declares."""
    if convention in declared:
        return []
    path = ("profiles", index, "convention")
    if not declared:
        return [service.problem(path, f"profile '{profile}' has no conventions; remove `convention:`")]
    return [service.problem(path, f"unknown convention '{convention}' of profile '{profile}'"
                                  f"{did_you_mean(convention, declared)}; choose one of: {', '.join(declared)}")]
