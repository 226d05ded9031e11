"""`vigil diff` and `vigil deploy`: build and check, plan every target, then push target by target.

1. What is pushed is the output directory (`--out`, default output/: what the reviewers read),
   re-checked, and only while it is exactly what this catalog builds to with this vigil
   (freshness.py); `--build` pushes the catalog built and checked afresh in a temporary directory
   instead, `--from DIR` an already built directory (re-checked). An invalid catalog, a stale
   output directory or a failing check stops here: nothing has been pushed.
2. Targets come from the environment (DESIGN.md). Every target is planned with read-only calls:
   missing secrets, foreign objects in the way, and a prune that would empty a target are refused
   here, still before the first push.
3. One deploy at a time (lock.py). Targets are applied in order: Alertmanager first, so that routes
   exist before the alerts that need them; Grafana next, so that the dashboards the alerts link to
   exist; the rules last. The first failure stops the deploy (that target rolls itself back).
   Within Grafana and Mimir, reads and writes go through a bounded pool of workers
   (`HttpSettings.workers`, `vigil deploy --workers`; pool.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from vigil.deploy import lock
from vigil.deploy.http import HttpSettings
from vigil.deploy.plan import Plan, Result, Target, format_plan, format_result
from vigil.deploy.revision import revision
from vigil.errors import DeployError


@dataclass
class Options:
    catalog: Path
    from_dir: Path | None = None      # deploy this built directory instead of building the catalog
    out: Path = Path("output")        # the reviewed output, pushed when it is what the catalog builds to
    fresh: bool = False               # --build: push the catalog built afresh instead of `out`
    only: Sequence[str] = ()
    prune: bool = False
    dry_run: bool = False
    unit_tests: bool = True           # the generated promtool tests, as `vigil check` runs them
    verbose: bool = False
    progress: bool = False
    http: HttpSettings = field(default_factory=HttpSettings)
    cache: Path | None = Path(".vigil-cache")


@dataclass
class Report:
    plans: list[Plan] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)    # what to print, in order

    @property
    def failed(self) -> bool:
        return any(not r.ok for r in self.results)   # "not attempted" is a failure too

    @property
    def writes(self) -> int:
        return sum(r.writes for r in self.results)

    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def built(options: Options) -> Iterator[Path]:
    """A checked build directory: `out` when it is what the catalog builds to, the catalog built
    afresh (--build), or --from re-checked."""
    from vigil.build import build
    from vigil.check import check_output
    from vigil.deploy.freshness import require_fresh
    if options.from_dir is not None and options.fresh:
        raise DeployError("--from and --build exclude each other: push a directory, or the catalog built afresh")
    if options.from_dir is not None:
        if not options.from_dir.is_dir():
            raise DeployError(f"--from {options.from_dir}: no such directory")
        check_output(options.from_dir, tests=options.unit_tests)
        yield options.from_dir
        return
    if not options.fresh:
        require_fresh(options.catalog, options.out, options.cache)
        check_output(options.out, tests=options.unit_tests)
        yield options.out
        return
    tmp = Path(tempfile.mkdtemp(prefix="vigil-deploy-"))
    try:
        out = tmp / "output"
        build(options.catalog, out, run_checks=True, run_tests=options.unit_tests, cache_dir=options.cache)
        yield out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def targets_from_env(build: Path, options: Options, env: Mapping[str, str] = os.environ) -> list[Target]:
    """The configured targets, in deploy order; DeployError when --only names one not configured."""
    from vigil.deploy.alertmanager import AlertmanagerTarget
    from vigil.deploy.grafana import GrafanaTarget
    from vigil.deploy.mimir import MimirAlertmanagerTarget, MimirRulerTarget
    from vigil.deploy.prometheus import PrometheusTarget
    http, rev = options.http, revision(options.catalog, env)
    found: dict[str, Target] = {}
    if env.get("ALERTMANAGER_CONFIG_FILE") or env.get("ALERTMANAGER_URL"):
        if not (env.get("ALERTMANAGER_URL") and env.get("ALERTMANAGER_CONFIG_FILE")):
            raise DeployError("set both ALERTMANAGER_URL and ALERTMANAGER_CONFIG_FILE (or neither)")
        found["alertmanager"] = AlertmanagerTarget(env["ALERTMANAGER_URL"], Path(env["ALERTMANAGER_CONFIG_FILE"]),
                                                   build, env, http)
    elif env.get("MIMIR_ADDRESS"):
        found["alertmanager"] = MimirAlertmanagerTarget(env["MIMIR_ADDRESS"], _tenant(env), build, env, http)
    if env.get("GRAFANA_URL"):
        found["grafana"] = GrafanaTarget.from_env(env, build, rev, http)
    if env.get("MIMIR_ADDRESS"):
        found["prometheus"] = MimirRulerTarget(env["MIMIR_ADDRESS"], _tenant(env), build, http)
    elif env.get("PROMETHEUS_URL") or env.get("PROMETHEUS_RULES_DIR"):
        if not (env.get("PROMETHEUS_URL") and env.get("PROMETHEUS_RULES_DIR")):
            raise DeployError("set both PROMETHEUS_URL and PROMETHEUS_RULES_DIR (or neither)")
        if env.get("VMALERT_URL") or env.get("VMALERT_RULES_DIR"):
            raise DeployError("set PROMETHEUS_URL/PROMETHEUS_RULES_DIR or VMALERT_URL/VMALERT_RULES_DIR, not both: "
                              "the rules go to one evaluator")
        found["prometheus"] = PrometheusTarget(env["PROMETHEUS_URL"], Path(env["PROMETHEUS_RULES_DIR"]), build, http)
    elif env.get("VMALERT_URL") or env.get("VMALERT_RULES_DIR"):
        found["prometheus"] = vmalert_target(build, env, http)
    if not found:
        raise DeployError("no target configured: set PROMETHEUS_URL and PROMETHEUS_RULES_DIR, VMALERT_URL and "
                          "VMALERT_RULES_DIR, MIMIR_ADDRESS and "
                          "MIMIR_TENANT_ID, ALERTMANAGER_URL and ALERTMANAGER_CONFIG_FILE, or GRAFANA_URL "
                          "(docs/deploy.md)")
    missing = [name for name in options.only if name not in found]
    if missing:
        raise DeployError(f"--only {', '.join(missing)}: not configured (docs/deploy.md lists the variables)")
    return [t for key, t in found.items() if not options.only or key in options.only]


def vmalert_target(build: Path, env: Mapping[str, str], http: HttpSettings) -> Target:
    from vigil.deploy.vmalert import VmalertTarget
    if not (env.get("VMALERT_URL") and env.get("VMALERT_RULES_DIR")):
        raise DeployError("set both VMALERT_URL and VMALERT_RULES_DIR (or neither)")
    return VmalertTarget(env["VMALERT_URL"], Path(env["VMALERT_RULES_DIR"]), build, http,
                         auth_key=env.get("VMALERT_RELOAD_AUTH_KEY") or None)


def _tenant(env: Mapping[str, str]) -> str:
    if not env.get("MIMIR_TENANT_ID"):
        raise DeployError("MIMIR_ADDRESS is set but MIMIR_TENANT_ID is not (Mimir needs a tenant: X-Scope-OrgID)")
    return env["MIMIR_TENANT_ID"]


def plan_all(targets: list[Target], options: Options, report: Report) -> None:
    """Plan every target (read-only); refuse conflicts and a prune that would empty a target."""
    for target in targets:
        setattr(target, "show_progress", options.progress)   # reading a thousand dashboards takes a while
        plan = target.plan(options.prune)
        report.plans.append(plan)
        report.lines += format_plan(plan, options.verbose)
    problems = [f"{p.target}: {c}" for p in report.plans for c in p.conflicts]
    problems += [f"{p.target}: --prune would delete all {p.owned_live} of vigil's objects there and keep none; "
                 "refusing (an empty or wrong build?). Deploy without --prune first, then prune."
                 for p in report.plans if options.prune and p.prune_empties_target()]
    if problems:
        raise DeployError("nothing was pushed:\n  " + "\n  ".join(problems))


def diff(options: Options, env: Mapping[str, str] = os.environ) -> Report:
    report = Report()
    with built(options) as build:
        targets = targets_from_env(build, options, env)
        for target in targets:
            setattr(target, "show_progress", options.progress)
            plan = target.plan(options.prune)
            report.plans.append(plan)
            report.lines += format_plan(plan, options.verbose)
    return report


def deploy(options: Options, env: Mapping[str, str] = os.environ) -> Report:
    report = Report()
    with built(options) as build:
        targets = targets_from_env(build, options, env)
        with lock.held(lock.lock_path([t.where for t in targets])):
            plan_all(targets, options, report)
            report.results = [Result(p.target, p.where) for p in report.plans]
            if options.dry_run:
                for result in report.results:
                    result.status = "dry run"
            else:
                _apply(targets, report, options)
    report.lines.append("")
    report.lines += [format_result(r) for r in report.results]
    if options.dry_run:
        report.lines.append("dry run: nothing was pushed")
    return report


def _apply(targets: list[Target], report: Report, options: Options) -> None:
    for target, plan, result in zip(targets, report.plans, report.results):
        if plan.empty:
            result.status = "unchanged"
            continue
        try:
            target.apply(plan, result)
            result.status = "ok"
        except DeployError as e:
            if result.status == "not attempted":
                result.status = "failed"
            result.message = str(e)
            return   # later targets stay "not attempted"
