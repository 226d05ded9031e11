"""Stage 5, check: run the real tools on a built output directory.

- `promtool check rules` on every rule file;
- `promtool test rules` on every generated test file (the proof that alerts fire and stay silent).

Every failure is collected, then raised once as a CheckError.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from vigil.alertmanager import check_alertmanager
from vigil.dashboard_checks import check_dashboard_files, check_folders
from vigil.errors import CheckError
from vigil.render import Cache
from vigil.stack import tools


@dataclass
class CheckReport:
    checked: dict[str, int] = field(default_factory=dict)   # what → how many files
    failures: list[str] = field(default_factory=list)
    # Where passed unit tests are remembered (by the content of the test and its rules, and the
    # promtool version), so that `vigil check` re-runs only what changed. None: run everything.
    cache: Cache | None = None
    # Documents the build still holds in memory, by path under output/: a check reads these
    # instead of parsing the file back (the build wrote them from these very objects).
    parsed: dict[str, Any] = field(default_factory=dict)


def _files(out: Path, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.glob(pattern))


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
    return blank.replace(f": {team.group(1)}\n", ": \1\n") if team else blank


def _by_shape(out: Path, names: dict[str, str], parts: list[str]) -> dict[str, list[str]]:
    """{shape: [file, ...]} for files (relative to out) → their service name, with the texts of
    `parts` (format strings of paths under out, filled with the service name)."""
    shapes: dict[str, list[str]] = {}
    for rel, name in sorted(names.items()):
        texts = [(out / part.format(name=name)).read_text(encoding="utf-8") for part in parts]
        shapes.setdefault(service_shape(name, *texts), []).append(rel)
    return shapes


def check_rules(out: Path, report: CheckReport) -> None:
    """`promtool check rules` on one real file per rule shape not already known to be good.

    promtool spends ~0.3 ms per rule (PromQL and template parsing), 20 s for a thousand services;
    see service_shape() for why one file of a shape checks them all. Shapes that passed before (same
    promtool) are not checked again. A failing shape is re-checked file by file so that every
    broken file is named.
    """
    files = _files(out, "prometheus/rules/*.yaml")
    shapes = _by_shape(out, {rel: Path(rel).name.removesuffix(".yaml") for rel in files}, ["prometheus/rules/{name}.yaml"])
    cache = report.cache or Cache(None)
    version = tools.versions(["promtool"])["promtool"] if report.cache else ""
    keys = {group[0]: cache.key(["promtool check rules", version, shape]) for shape, group in shapes.items()}
    firsts = {group[0]: group for group in shapes.values() if not (report.cache and cache.load(keys[group[0]]))}
    bad_shapes = [first for result in tools.run_parallel("promtool", ["check", "rules"], sorted(firsts), cwd=out)
                  if not result.ok for first in _failed_files(result, firsts)]
    for first in set(firsts) - set(bad_shapes):
        cache.store(keys[first], True)
    again = sorted(rel for first in bad_shapes for rel in firsts[first])
    for result in tools.run_parallel("promtool", ["check", "rules"], again, cwd=out):
        if not result.ok:
            report.failures.append("promtool check rules:\n" + _only_failures(result.output))
    report.checked["rule files (promtool check rules)"] = len(files)
    report.checked["distinct rule shapes given to promtool"] = len(firsts)


def test_rules(out: Path, report: CheckReport) -> None:
    """`promtool test rules` on one test file per shape (its test and rule file, see service_shape()) not
    already known to pass. promtool takes seconds per service: a thousand services with a few
    dozen shapes are checked in about a minute instead of half an hour. A failing shape is
    re-run file by file so that every failing service is named."""
    tests = out / "prometheus" / "tests"
    files = sorted(p.name for p in tests.glob("*.test.yaml"))
    shapes = _by_shape(out, {f: f.removesuffix(".test.yaml") for f in files},
                       ["prometheus/tests/{name}.test.yaml", "prometheus/rules/{name}.yaml"])
    cache = report.cache or Cache(None)
    version = tools.versions(["promtool"])["promtool"] if report.cache else ""
    keys = {group[0]: cache.key(["promtool test rules", version, shape]) for shape, group in shapes.items()}
    firsts = {group[0]: group for group in shapes.values() if not (report.cache and cache.load(keys[group[0]]))}
    failed: list[str] = []
    for result in tools.run_parallel("promtool", ["test", "rules"], sorted(firsts), cwd=tests):
        passed = set(_passed_tests(result, firsts))
        for first in (f for f in firsts if f in result.args):
            if first in passed:
                cache.store(keys[first], True)
            else:
                failed.append(first)
    # Every file of a failing shape is run on its own, so that each failing service is named
    # (promtool 3 no longer prints the file it is testing).
    again = sorted(f for first in failed for f in firsts[first])
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for name, result in zip(again, pool.map(lambda f: tools.run("promtool", ["test", "rules", f], cwd=tests), again)):
            if not result.ok:
                report.failures.append(f"promtool test rules {name}:\n" + _only_failures(result.output))
    report.checked["rule test files (promtool test rules)"] = len(files)
    report.checked["distinct test shapes given to promtool"] = len(firsts)
    if report.cache:
        report.checked["of them already known to pass (cache)"] = len(files) - sum(len(g) for g in firsts.values())


def _passed_tests(result: tools.Result, files: Iterable[str]) -> list[str]:
    """The files a `promtool test rules` run reports SUCCESS for."""
    blocks = re.split(r"\n(?=Unit Testing: )", result.output.strip())
    if not blocks[0].startswith("Unit Testing: "):
        # promtool 3 prints no header: one SUCCESS or FAILED per file, in the order given.
        verdicts = re.findall(r"^  (SUCCESS|FAILED)", result.output, re.M)
        given = [a for a in result.args[3:] if a in set(files)]
        return [f for f, v in zip(given, verdicts) if v == "SUCCESS"] if len(verdicts) == len(given) else []
    return [f for f in files if f in result.args and any(b.split("\n", 1)[0].strip().endswith(f) and "SUCCESS" in b
                                                         and "FAILED" not in b for b in blocks)]


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


# Checks that take seconds even for a thousand services; `vigil build` always runs them.
# Each target adds its own (amtool for Alertmanager, the dashboard lint for Grafana).
FAST_CHECKS: list[Callable[[Path, CheckReport], None]] = [check_rules]
FAST_CHECKS.append(check_alertmanager)  # amtool check-config and the generated routing cases
FAST_CHECKS.append(check_dashboard_files)  # dashboard lint, alerts ↔ their panels
FAST_CHECKS.append(check_folders)  # folders.json
# What `vigil build` checks on the objects it renders, before it writes them (see dashboards.render):
# on the files, it would parse back everything it has just serialised.
RENDER_TIME_CHECKS = [check_dashboard_files]
# The generated promtool unit tests: minutes for a thousand services. `vigil check` and
# `vigil build --test` run them.
SLOW_CHECKS: list[Callable[[Path, CheckReport], None]] = [test_rules]


def check_output(out: Path, *, tests: bool = True, cache_dir: Path | None = None,
                 rendered: CheckReport | None = None, vmalert: bool = False) -> CheckReport:
    """Run every check on `out` (the unit tests too unless tests=False); raise CheckError listing
    every failure. With a cache_dir, checks already known to pass are not run again. `rendered`:
    the results of RENDER_TIME_CHECKS, run by the build on the objects it rendered; they are not
    run again on the files. `vmalert`: also `vmalert -dryRun` (and `vmalert-tool unittest` with
    the unit tests), for rules evaluated by vmalert."""
    from vigil.vmalert_check import dry_run_rules, test_rules_vmalert
    report = CheckReport(cache=Cache(cache_dir) if cache_dir else None)
    checks = FAST_CHECKS + (SLOW_CHECKS if tests else [])
    if vmalert:
        checks = checks + [dry_run_rules] + ([test_rules_vmalert] if tests else [])
    if rendered is not None:
        report.checked.update(rendered.checked)
        report.failures += rendered.failures
        report.parsed.update(rendered.parsed)
        checks = [c for c in checks if c not in RENDER_TIME_CHECKS]
    for check in checks:
        check(out, report)
    if report.failures:
        raise CheckError("\n\n".join(report.failures))
    return report
