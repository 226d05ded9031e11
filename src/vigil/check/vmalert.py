"""Checks for users who evaluate the rules with vmalert (`vigil check --engine vmalert`):
`vmalert -dryRun` on every rule file, and `vmalert-tool unittest` on every generated test file.

The generated tests are written for promtool and assert only what vmalert computes alike
(render/portable.py). They name no rule group: vmalert-tool runs with `-disableAlertgroupLabel`,
so it neither wants `groupname` (which promtool would reject) nor adds the `alertgroup` label.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from vigil import layout, tools
from vigil.check.report import CheckReport
from vigil.tools import free_port


class DryRun:
    id: ClassVar[str] = "vmalert/dry-run"
    description: ClassVar[str] = "rule files load in vmalert (vmalert -dryRun)"
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        files = [str(report.out / rel) for rel in report.paths(layout.RULES_DIR, ".yaml")]
        if not files:
            return
        result = tools.run("vmalert", ["-dryRun", "-loggerLevel=ERROR", *(f"-rule={f}" for f in files)])
        report.checked[self.id] = len(files)
        if not result.ok:
            report.fail(self.id, result.output.strip())


class RuleTests:
    id: ClassVar[str] = "vmalert/test-rules"
    description: ClassVar[str] = "generated unit test files pass (vmalert-tool unittest)"
    slow: ClassVar[bool] = True

    def run(self, report: CheckReport) -> None:
        """Every test file, a process per core."""
        tests = report.out / layout.TESTS_DIR
        files = [Path(rel).name for rel in report.paths(layout.TESTS_DIR, ".test.yaml")]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = list(pool.map(lambda name: (name, unittest(tests, name)), files))
        for name, result in results:
            if not result.ok or "FAILED" in result.output:
                report.fail(self.id, f"{name}:\n{result.output.strip()}")
        report.checked[self.id] = len(files)


def unittest(tests: Path, name: str) -> tools.Result:
    """One file, in a temporary directory of its own: vmalert-tool keeps its storage in
    $TMPDIR/vmalert-unittest, which two runs at once must not share. It stops at the first
    failing file, so each file runs alone and every failure is named."""
    with tempfile.TemporaryDirectory(prefix="vigil-vmalert-tool-") as tmp:
        return tools.run("vmalert-tool", ["unittest", "-disableAlertgroupLabel", f"-httpListenPort={free_port()}",
                                          f"-files={name}"], cwd=tests, env={"TMPDIR": tmp})
