"""The promtool checks: `promtool/check-rules` (every rule file parses and its templates and
PromQL are valid) and `promtool/test-rules` (the generated unit tests: the proof that each alert
fires above its threshold after `for`, and stays silent below it).

promtool takes seconds per service, so both run one service per *shape* (see service_shape) and
remember passed shapes by content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from vigil import layout, tools
from vigil.check.report import CheckReport
from vigil.render.cache import Cache

_TEAM = re.compile(r"\n\s+team: (\S+)\n")


def service_shape(name: str, *texts: str) -> str:
    """The texts of one service's files with its name and team blanked out.

    Services that share profiles and thresholds get files that differ only in these two label
    values (both [a-z][a-z0-9-]*: no character that PromQL, YAML or a template would read
    differently), consistently renamed across the rule file and its test. promtool cannot answer
    differently for two files of one shape, so one of them stands for all: a thousand services
    usually have a few dozen shapes.
    """
    joined = "\0\0".join(texts)
    team = _TEAM.search(joined)
    blank = joined.replace(name, "\0")
    return blank_static_labels(blank.replace(f": {team.group(1)}\n", ": \1\n") if team else blank)


# A `labels:` block of a rule (not a test's `exp_labels:`).
_LABELS = re.compile(r"\n( +)labels:\n((?:\1 +[a-z_][a-z0-9_]*: [^\n]*\n)+)")
_LABEL = re.compile(r" +([a-z_][a-z0-9_]*): (.*)\n")
# A value that means nothing but itself: no template, no quote or escape inside.
_PLAIN = re.compile(r'"?[A-Za-z0-9_.-]+"?')
# Keys of the rule and test file formats, whose values promtool reads (durations, series, PromQL).
_STRUCTURAL = frozenset(
    (  # noqa: SIM905 (a list of words, read as one)
        "groups name interval limit query_offset rules record alert expr for keep_firing_for labels annotations "
        "rule_files evaluation_interval group_eval_order fuzzy_compare tests input_series series values "
        "alert_rule_test eval_time alertname exp_alerts exp_labels exp_annotations promql_expr_test exp_samples "
        "external_labels external_url"
    ).split()
)


def blank_static_labels(text: str) -> str:
    """`text` with the value of every static label that nothing reads blanked out.

    The catalog stamps a service's labels (tier, customer_facing, extra_labels, its own labels) on
    each of its rules, and the tests expect them on each alert. Such a label is only carried:
    promtool compares it, never computes with it, so two services that differ only in its value
    get the same verdict, as for the team. A label is blanked only when every occurrence of its
    name in the rule and test files is a `name: value` line with one same plain value: a
    template, a matcher (`tier="1"`), a `by (tier)` or `$labels.tier` names it elsewhere, and then
    the services stay apart.
    """
    values: dict[str, set[str]] = {}
    for _, block in _LABELS.findall(text):
        for key, value in _LABEL.findall(block):
            values.setdefault(key, set()).add(value)
    for key, (value, *others) in sorted(values.items()):
        line = f" {key}: {value}\n"
        if others or key in _STRUCTURAL or not _PLAIN.fullmatch(value) or text.count(key) != text.count(line):
            continue
        text = text.replace(line, f" {key}: \2\n")
    return text


def _by_shape(report: CheckReport, names: dict[str, str], parts: list[Callable[[str], str]]) -> dict[str, list[str]]:
    """{shape: [file, ...]} for files → their service name, with the texts of `parts` (the paths
    of a service's files under output/, from vigil.layout)."""
    shapes: dict[str, list[str]] = {}
    for rel, name in sorted(names.items()):
        texts = [report.text(part(name)) or "" for part in parts]
        shapes.setdefault(service_shape(name, *texts), []).append(rel)
    return shapes


class CheckRules:
    id: ClassVar[str] = "promtool/check-rules"
    description: ClassVar[str] = "rule files parse, with valid PromQL and templates (promtool check rules)"
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        check_rules(report)


def check_rules(report: CheckReport) -> None:
    """`promtool check rules` on one real file per rule shape not already known to be good.

    promtool spends ~0.3 ms per rule (PromQL and template parsing), 20 s for a thousand services;
    see service_shape() for why one file of a shape checks them all. Shapes that passed before (same
    promtool) are not checked again. A failing shape is re-checked file by file so that every
    broken file is named.
    """
    out, check_id = report.out, CheckRules.id
    files = report.paths(layout.RULES_DIR, ".yaml")
    version = tools.version("promtool") if report.cache else ""
    # A file that passed before (same digest, same promtool) passes again: only the others are read.
    known = {rel: report.passed_before(["promtool check rules file", version, report.digest(rel)]) for rel in files}
    todo = [rel for rel in files if not known[rel][1]]
    shapes = _by_shape(report, {rel: layout.service_of_rule_file(rel) for rel in todo}, [layout.rule_file])
    cache = report.cache or Cache(None)
    keys = {group[0]: cache.key(["promtool check rules", version, shape]) for shape, group in shapes.items()}
    firsts = {group[0]: group for group in shapes.values() if not (report.cache and cache.load(keys[group[0]]))}
    bad_shapes = [
        first
        for result in tools.run_parallel("promtool", ["check", "rules"], sorted(firsts), cwd=out)
        if not result.ok
        for first in _failed_files(result, firsts)
    ]
    for first in set(firsts) - set(bad_shapes):
        cache.store(keys[first], True)
    again = sorted(rel for first in bad_shapes for rel in firsts[first])
    for result in tools.run_parallel("promtool", ["check", "rules"], again, cwd=out):
        if not result.ok:
            report.fail(check_id, _only_failures(result.output))
    for rel in set(todo) - set(again):
        report.remember(known[rel][0])
    report.checked[check_id] = len(files)
    report.stats[check_id] = {"shapes given to promtool": len(firsts)}


# promtool allocates heavily at every evaluation step; a fourfold heap target for Go's garbage
# collector (~150 MB instead of ~90 MB per process) saved about a fifth of its CPU on one spine
# test file (3.4 → 2.8 s), and changes no result.
_LESS_GC = {"GOGC": "400"}


class RuleTests:
    id: ClassVar[str] = "promtool/test-rules"
    description: ClassVar[str] = "generated unit test files pass (promtool test rules)"
    slow: ClassVar[bool] = True

    def run(self, report: CheckReport) -> None:
        run_rule_tests(report)


def run_rule_tests(report: CheckReport) -> None:
    """`promtool test rules` on one test file per shape (its test and rule file, see service_shape()) not
    already known to pass. promtool takes seconds per service: a thousand services with a few
    dozen shapes are checked in about a minute instead of half an hour. A failing shape is
    re-run file by file so that every failing service is named."""
    check_id, tests = RuleTests.id, report.out / layout.TESTS_DIR
    files = [Path(rel).name for rel in report.paths(layout.TESTS_DIR, ".test.yaml")]
    version = tools.version("promtool") if report.cache else ""
    # A test that passed before (same test and rule file, same promtool) passes again.
    known = {
        f: report.passed_before(
            [
                "promtool test rules file",
                version,
                report.digest(layout.test_file(layout.service_of_test_file(f))),
                report.digest(layout.rule_file(layout.service_of_test_file(f))),
            ]
        )
        for f in files
    }
    todo = [f for f in files if not known[f][1]]
    shapes = _by_shape(report, {f: layout.service_of_test_file(f) for f in todo}, [layout.test_file, layout.rule_file])
    cache = report.cache or Cache(None)
    keys = {group[0]: cache.key(["promtool test rules", version, shape]) for shape, group in shapes.items()}
    firsts = {group[0]: group for group in shapes.values() if not (report.cache and cache.load(keys[group[0]]))}
    failed: list[str] = []
    for result in tools.run_parallel("promtool", ["test", "rules"], sorted(firsts), cwd=tests, env=_LESS_GC):
        passed = set(_passed_tests(result, firsts))
        for first in (f for f in firsts if f in result.args):
            if first in passed:
                cache.store(keys[first], True)
            else:
                failed.append(first)
    # Every file of a failing shape is run on its own, so that each failing service is named
    # (promtool 3 no longer prints the file it is testing).
    retried = sorted(f for first in failed for f in firsts[first])
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for name, result in zip(
            retried, pool.map(lambda f: tools.run("promtool", ["test", "rules", f], cwd=tests), retried)
        ):
            if not result.ok:
                report.fail(check_id, f"{name}:\n" + _only_failures(result.output))
    for f in set(todo) - set(retried):
        report.remember(known[f][0])
    report.checked[check_id] = len(files)
    report.stats[check_id] = {"shapes given to promtool": len(firsts)}
    if report.cache:
        report.stats[check_id]["already known to pass (cache)"] = len(files) - sum(len(g) for g in firsts.values())


def _passed_tests(result: tools.Result, files: Iterable[str]) -> list[str]:
    """The files a `promtool test rules` run reports SUCCESS for."""
    blocks = re.split(r"\n(?=Unit Testing: )", result.output.strip())
    if not blocks[0].startswith("Unit Testing: "):
        # promtool 3 prints no header: one SUCCESS or FAILED per file, in the order given.
        verdicts = re.findall(r"^  (SUCCESS|FAILED)", result.output, re.M)
        given = [a for a in result.args[3:] if a in set(files)]
        return [f for f, v in zip(given, verdicts) if v == "SUCCESS"] if len(verdicts) == len(given) else []
    return [
        f
        for f in files
        if f in result.args
        and any(b.split("\n", 1)[0].strip().endswith(f) and "SUCCESS" in b and "FAILED" not in b for b in blocks)
    ]


def _failed_files(result: tools.Result, candidates: Iterable[str]) -> list[str]:
    """The files a failed `promtool check rules` run names as failing (all of them if unclear)."""
    blocks = re.split(r"\n(?=Checking )", result.output.strip())
    named = [c for c in candidates if any(b.startswith(f"Checking {c}") and "SUCCESS" not in b for b in blocks)]
    return named or [c for c in candidates if c in result.args]


def _only_failures(output: str) -> str:
    """promtool prints a SUCCESS line per good file; keep the rest, which is what needs reading."""
    blocks = re.split(r"\n(?=(?:Checking|Unit Testing:) )", output.strip())
    bad = [b for b in blocks if "SUCCESS" not in b.splitlines()[0] and b.strip()]
    return "\n".join(bad) if bad else output.strip()
