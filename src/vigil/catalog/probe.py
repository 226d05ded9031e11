"""Ask the real promtool whether PromQL returns data on an exporter's samples.

The samples become the input series of one `promtool test rules` group (ten minutes at a 1m
interval): gauges stay at their value, counting series (counters, histogram and summary counts)
grow by a thousandth of their value per minute, so that every rate is proportional to the
scraped value and ratios of rates equal the ratios of the scraped counters. Each check is a
PromQL expression that is 1 when it holds; promtool names the ones that do not.
"""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path

import yaml

from vigil import promql, tools
from vigil.catalog.exposition import Sample
from vigil.catalog.resolve import le_matcher
from vigil.errors import CheckError

JOB = "discovered"
WINDOW = "5m"
EVAL_TIME = "10m"
STEPS = 20


def render(template: str, selector: dict[str, str], le_seconds: float | None = None) -> str:
    """A profile's PromQL with $selector, $window (and $le) filled in, as resolve fills them."""
    text = template.replace("$selector", promql.matchers(selector)).replace("$window", WINDOW)
    if le_seconds is not None:
        text = text.replace("$le", le_matcher(le_seconds))
    return " ".join(text.split())


def has_data(expr: str) -> str:
    """A check that holds when `expr` returns at least one sample."""
    return f"count({expr}) > bool 0"


def equals(expr: str, value: float, tolerance: float = 1e-9) -> str:
    """A check that holds when `expr` returns one sample within `tolerance` (relative) of `value`."""
    return f"abs(sum({expr}) - {value!r}) <= bool {abs(value) * tolerance + 1e-12!r}"


def _number(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Inf" if v > 0 else "-Inf"
    return format(Decimal(repr(v)), "f")  # the series notation does not take exponents


def input_series(samples_by_instance: dict[str, list[Sample]], job: str = JOB) -> list[dict[str, str]]:
    """promtool input series: every sample with `job` and `instance` target labels added."""
    out = []
    for instance, samples in sorted(samples_by_instance.items()):
        for s in samples:
            if any(not v.isprintable() or "\ufffd" in v for _, v in s.labels):
                # Control characters and undecodable bytes (node_dmi_info of odd firmware) are
                # rejected by promtool's series notation; no profile reads such info metrics.
                continue
            labels = {**dict(s.labels), "job": job, "instance": instance}
            values = (f"{_number(s.value)}+{_number(s.value / 1000)}x{STEPS}" if s.counter and s.value == s.value
                      else f"{_number(s.value)}x{STEPS}")
            out.append({"series": s.name + "{" + promql.matchers(labels) + "}", "values": values})
    return sorted(out, key=lambda x: x["series"])


def evaluate(samples_by_instance: dict[str, list[Sample]], checks: dict[str, str], job: str = JOB) -> dict[str, bool]:
    """Which checks hold on the samples, by one run of the real promtool."""
    if not checks:
        return {}
    exprs = {key: f"({check}) or vector(0)" for key, check in checks.items()}
    test = {"evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": input_series(samples_by_instance, job),
        "promql_expr_test": [{"expr": e, "eval_time": EVAL_TIME, "exp_samples": [{"labels": "{}", "value": 1}]}
                             for e in exprs.values()]}]}
    with tempfile.TemporaryDirectory(prefix="vigil-probe-") as tmp:
        path = Path(tmp) / "probe.test.yaml"
        path.write_text(yaml.safe_dump(test, sort_keys=False, width=1 << 20))
        result = tools.run("promtool", ["test", "rules", path.name], cwd=Path(tmp))
    # promtool quotes each failing expression as Go's %q does, which for ASCII is JSON's quoting.
    failed = {key for key, e in exprs.items() if f"expr: {json.dumps(e)}" in result.output}
    if not result.ok and not failed:
        raise CheckError(f"promtool could not evaluate the probe:\n{result.output}")
    return {key: key not in failed for key in checks}
