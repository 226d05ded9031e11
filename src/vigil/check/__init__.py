"""Stage 3, check: prove the rendered artefacts with the real tools and vigil's own lint.

Each check is a unit, as in pint: an `id` (`promtool/check-rules`, `dashboard/lint`, ...), one
interface (`run(out, report)`), a module of its own and a test of its own. Results are keyed by id.

A check reads artefacts through its CheckReport: during `vigil build` they are still in memory
(the build hands over what it rendered, and the objects it still holds, so nothing is parsed back
from disk); under `vigil check` they are read from the output directory. Tools that need files
(promtool, amtool) are given the files the build has staged.
"""

from __future__ import annotations

from pathlib import Path

from vigil.check import amtool, dashboards, folders, kubernetes, promtool
from vigil.check import vmalert as vmalert_checks
from vigil.check.report import Check, CheckReport
from vigil.errors import CheckError
from vigil.render import Rendered
from vigil.render.cache import Cache

__all__ = ["Check", "CheckReport", "check_output", "describe", "registry", "run_checks"]


def registry(vmalert: bool = False) -> list[Check]:
    """Every check, in the order they run: the cheap ones first, so a broken build fails fast.
    `vmalert`: also vmalert's, for rules evaluated by vmalert."""
    cheap: list[Check] = [
        promtool.CheckRules(),
        amtool.CheckConfig(),
        amtool.RoutesTest(),
        dashboards.Lint(),
        dashboards.AlertPanels(),
        folders.Folders(),
        kubernetes.Objects(),
    ]
    dry_run: list[Check] = [vmalert_checks.DryRun()] if vmalert else []
    slow: list[Check] = [promtool.RuleTests()] + ([vmalert_checks.RuleTests()] if vmalert else [])
    return cheap + dry_run + slow


def run_checks(report: CheckReport, *, slow: bool, vmalert: bool = False) -> CheckReport:
    """Run every check (the slow ones too when asked) into `report`; raise CheckError listing every
    problem of every check."""
    for check in registry(vmalert):
        if slow or not check.slow:
            check.run(report)
    if report.problems:
        raise CheckError(
            "\n\n".join(f"{check_id}:\n" + "\n".join(report.problems[check_id]) for check_id in sorted(report.problems))
        )
    return report


def check_output(
    out: Path,
    *,
    tests: bool = True,
    cache_dir: Path | None = None,
    rendered: Rendered | None = None,
    vmalert: bool = False,
) -> CheckReport:
    """Every check on the output directory `out` (the unit tests too unless tests=False). With a
    cache_dir, checks already known to pass are not run again. `rendered`: what the build rendered
    into `out`, still in memory."""
    report = CheckReport(out=out, cache=Cache(cache_dir) if cache_dir else None)
    if rendered is not None:
        report.artefacts, report.parsed, report.alerts = rendered.files, dict(rendered.parsed), rendered.alerts
    return run_checks(report, slow=tests, vmalert=vmalert)


def describe(report: CheckReport) -> list[str]:
    """One line per check that ran: `id: count description (stats)`."""
    descriptions = {c.id: c.description for c in registry(vmalert=True)}
    lines = []
    for check_id, count in report.checked.items():
        stats = ", ".join(f"{v} {k}" for k, v in report.stats.get(check_id, {}).items())
        lines.append(f"{check_id}: {count} {descriptions.get(check_id, '')}" + (f" ({stats})" if stats else ""))
    return lines
