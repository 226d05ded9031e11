"""`dashboard/folders`: folders.json places every dashboard in exactly one folder, and folder
uids clash with neither each other nor a dashboard (older Grafana keeps both in one table)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import orjson

from vigil import layout
from vigil.check.report import CheckReport


def folder_problems(manifest_text: str | None, file_uids: set[str]) -> list[str]:
    if manifest_text is None:
        return [f"{layout.FOLDERS_FILE}: missing"]
    manifest = orjson.loads(manifest_text)
    placed = [uid for f in manifest["folders"] for uid in f["dashboards"]] + list(manifest["general"])
    problems = []
    for uid in sorted(file_uids):
        if placed.count(uid) != 1:
            problems.append(f"{layout.FOLDERS_FILE}: dashboard {uid} is in {placed.count(uid)} folders, not 1")
    problems += [f"{layout.FOLDERS_FILE}: dashboard {uid} has no file" for uid in sorted(set(placed) - file_uids)]
    folder_uids = [f["uid"] for f in manifest["folders"]]
    problems += [
        f"{layout.FOLDERS_FILE}: folder uid {uid} is not unique among folders and dashboards"
        for uid in sorted(set(folder_uids))
        if folder_uids.count(uid) > 1 or uid in file_uids
    ]
    return problems


class Folders:
    id: ClassVar[str] = "dashboard/folders"
    description: ClassVar[str] = "dashboards placed in exactly one folder (folders.json)"
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        uids = {Path(rel).stem for rel in report.paths(layout.DASHBOARDS_DIR, ".json")}
        if not uids and report.text(layout.FOLDERS_FILE) is None:
            return  # an output without dashboards
        for problem in folder_problems(report.text(layout.FOLDERS_FILE), uids):
            report.fail(self.id, problem)
        report.checked[self.id] = len(uids)
