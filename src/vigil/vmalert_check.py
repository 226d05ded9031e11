"""The checks for users who evaluate the rules with vmalert: `vmalert -dryRun` on every rule file
and `vmalert-tool unittest` on every generated test file (`vigil check --engine vmalert`).

The generated tests are written for promtool and assert only what vmalert computes alike
(portable.py). They do not name rule groups: vmalert-tool runs with `-disableAlertgroupLabel`,
so it neither wants `groupname` (which promtool would reject) nor adds the `alertgroup` label.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.stack import tools
from vigil.stack.prometheus import free_port

if TYPE_CHECKING:  # check.py imports this module: no import cycle at run time
    from vigil.check import CheckReport


def dry_run_rules(out: Path, report: CheckReport) -> None:
    """`vmalert -dryRun`: every rule file parses as MetricsQL and its templates expand."""
    files = sorted(str(p) for p in (out / "prometheus" / "rules").glob("*.yaml"))
    if not files:
        return
    result = tools.run("vmalert", ["-dryRun", "-loggerLevel=ERROR", *(f"-rule={f}" for f in files)])
    report.checked["rule files (vmalert -dryRun)"] = len(files)
    if not result.ok:
        report.failures.append("vmalert -dryRun:\n" + result.output.strip())


def _unittest(tests: Path, name: str) -> tools.Result:
    """One file, in its own temporary directory: vmalert-tool keeps its storage in
    $TMPDIR/vmalert-unittest, which two runs at once must not share. It stops at the first
    failing file, so each file runs alone and every failure is named."""
    with tempfile.TemporaryDirectory(prefix="vigil-vmalert-tool-") as tmp:
        return tools.run("vmalert-tool", ["unittest", "-disableAlertgroupLabel", f"-httpListenPort={free_port()}",
                                          f"-files={name}"], cwd=tests, env={"TMPDIR": tmp})


def test_rules_vmalert(out: Path, report: CheckReport) -> None:
    """`vmalert-tool unittest` on every generated test file, a process per core."""
    tests = out / "prometheus" / "tests"
    files = sorted(p.name for p in tests.glob("*.test.yaml"))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda name: (name, _unittest(tests, name)), files))
    for name, result in results:
        if not result.ok or "FAILED" in result.output:
            report.failures.append(f"vmalert-tool unittest {name}:\n{result.output.strip()}")
    report.checked["rule test files (vmalert-tool unittest)"] = len(files)

