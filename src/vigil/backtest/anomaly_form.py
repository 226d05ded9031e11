"""The anomaly alert in a form that reads each baseline once less often, for the backtest only.

The generated anomaly alert (generators/lib/metric_rules.libsonnet) is

    x > avg + k * (sd > abs(avg) * g) or x < avg - k * (sd > abs(avg) * g)

which reads the baseline mean four times and its standard deviation twice. Deployed, those are
recorded series and cost nothing; in a backtest each is expanded into a 7-day subquery over raw
samples, and Prometheus evaluates every occurrence anew: half the backtest's time went to
anomaly alerts. The same condition reads

    abs(x - avg) > k * (sd > abs(avg) * g)

(x beyond avg ± k·sd in either direction, under the same flat-baseline guard): three subqueries
instead of six. Both return a series exactly where the other does, with the same labels (every
operand is one-to-one on the record's labels; a comparison keeps the left side's), which is all
the backtest's replay reads; only the sample value differs, and the backtest does not use it.

Only an expression of exactly the generated shape is rewritten; anything else (an older guard, a
hand-edited rule at a base revision) is evaluated as written.
"""

from __future__ import annotations

import re

_GENERATED = re.compile(
    r"(?P<x>\S+) > (?P<avg>\S+) \+ (?P<k>\S+) \* \((?P<sd>\S+) > abs\((?P=avg)\) \* (?P<g>\S+)\)"
    r" or (?P=x) < (?P=avg) - (?P=k) \* \((?P=sd) > abs\((?P=avg)\) \* (?P=g)\)"
)


def single_pass(expr: str) -> str:
    """The generated anomaly condition with each baseline read fewer times; other expressions as they are."""
    m = _GENERATED.fullmatch(expr.strip())
    if m is None:
        return expr
    x, avg, k, sd, g = m.group("x", "avg", "k", "sd", "g")
    return f"abs({x} - {avg}) > {k} * ({sd} > abs({avg}) * {g})"
