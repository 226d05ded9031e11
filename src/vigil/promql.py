"""PromQL string literals: the one place label values are quoted and unquoted.

A value with quotes, backslashes or newlines is escaped, so it can never end the string early and
change what a rule means.
"""

from __future__ import annotations

import json

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """A label value as a PromQL double-quoted string."""
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def unquote(body: str) -> str:
    """The inverse of quote() for the text between the quotes (Go escapes are JSON's for these)."""
    return json.loads('"' + body + '"')


def matchers(labels: dict[str, str]) -> str:
    """name="value",... in sorted order."""
    return ",".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))


def series(record: str, service: str) -> str:
    """A service's recorded series, selected as the generated rules select it
    (generators/lib/promql.libsonnet `series`)."""
    return f"{record}{{service={quote(service)}}}"
