"""Rule files in a directory that a rule evaluator reads, then its reload endpoint, then proof
through its `/api/v1/rules` that exactly the generated groups are loaded from them: the part that
the Prometheus target (prometheus.py) and the vmalert target (vmalert.py) share. Each of those only
says how its engine is reloaded and how it is configured to read the directory.

A failed reload, or a reload that "succeeded" without loading our groups (the directory is not in
the engine's rule files, a file it could not read), restores the previous files and reloads again,
so that what is on disk is what the engine runs. Only vigil's own files are changed or pruned
(rules.owned_file).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from vigil.deploy import rules
from vigil.deploy.http import Client, HttpSettings
from vigil.deploy.plan import ADD, CHANGE, REMOVE, Change, Plan, Result
from vigil.deploy.secrets import write_atomic
from vigil.errors import DeployError


class RuleFilesTarget:
    name = "prometheus"  # --only prometheus: the rules, wherever they go
    engine: str  # "Prometheus", "vmalert": for messages
    dir_variable: str  # the environment variable that names the directory
    reads_dir: str  # where the engine is told to read the directory

    def __init__(self, url: str, rules_dir: Path, build: Path, http: HttpSettings = HttpSettings()):
        self.url = url.rstrip("/")
        self.rules_dir = Path(rules_dir)
        self.where = f"{self.url}, {self.rules_dir}"
        self.build = build
        self.api = Client(self.engine, url, http)
        self.reloader = Client(self.engine, url, http, retry_status=False)
        self.show_progress = False  # Target protocol; a few files, nothing long to show

    # --- plan -----------------------------------------------------------------------------------

    def live_files(self) -> dict[str, str]:
        if not self.rules_dir.is_dir():
            raise DeployError(f"{self.dir_variable} {self.rules_dir} is not a directory")
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(self.rules_dir.glob("*.yaml"))}

    def plan(self, prune: bool) -> Plan:
        plan = Plan(self.name, self.where)
        wanted = rules.built_files(self.build)
        live = self.live_files()
        owned = {n: t for n, t in live.items() if rules.owned_file(n, t)}
        plan.owned_live = len(owned)
        for name, text in wanted.items():
            if name not in live:
                plan.changes.append(Change(ADD, "rule file", name, [f"groups: {', '.join(rules.group_names(text))}"]))
            elif name not in owned:
                plan.conflicts.append(
                    f"{self.rules_dir / name} exists and is not vigil's (its groups are not "
                    f"vigil-{name.removesuffix('.yaml')}*): refusing to overwrite it"
                )
            elif live[name] != text:
                plan.changes.append(Change(CHANGE, "rule file", name, _diff(live[name], text, name)))
            else:
                plan.unchanged += 1
        for name in sorted(set(owned) - set(wanted)):
            change = Change(
                REMOVE, "rule file", name, [f"groups: {', '.join(rules.group_names(owned[name]))}"], pruned=True
            )
            (plan.changes if prune else plan.stale).append(change)
        if plan.empty and not plan.conflicts:
            plan.needs_reload = bool(self.mismatch(wanted))
        return plan

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, plan: Plan, result: Result) -> None:
        wanted = rules.built_files(self.build)
        before = {c.name: self._read(c.name) for c in plan.changes}
        try:
            for change in plan.changes:
                path = self.rules_dir / change.name
                if change.kind == REMOVE:
                    path.unlink()
                else:
                    write_atomic(path, wanted[change.name])
                result.writes += 1
                result.applied.append(change)
            self.reload(result)
            problem = self.mismatch(wanted)
            if problem:
                raise DeployError(f"{self.engine} reloaded but {problem}")
        except DeployError as e:
            self._restore(before, result)
            result.status = "rolled back"
            raise DeployError(f"{e}; the previous rule files were restored and reloaded") from e

    def reload(self, result: Result) -> None:
        """Ask the engine to re-read its rule files; DeployError when it refuses or rejects them."""
        raise NotImplementedError

    def _read(self, name: str) -> str | None:
        path = self.rules_dir / name
        return path.read_text(encoding="utf-8") if path.exists() else None

    def _restore(self, before: dict[str, str | None], result: Result) -> None:
        for name, text in before.items():
            path = self.rules_dir / name
            if text is None:
                if path.exists():
                    path.unlink()
            else:
                write_atomic(path, text)
            result.writes += 1
        try:
            self.reload(result)
        except DeployError as e:
            raise DeployError(f"rollback: the previous files are back on disk but {e}") from e

    # --- verify ---------------------------------------------------------------------------------

    def mismatch(self, wanted: dict[str, str]) -> str | None:
        """None when the groups loaded from our files are exactly the generated ones, rule for rule;
        otherwise what differs."""
        body = self.api.expect(self.api.request("GET", "/api/v1/rules"), 200).json()
        loaded = {
            key: len(group.get("rules") or [])
            for group in body["data"]["groups"]
            if (key := self.ours(group)) is not None
        }
        expected = {
            (name, str(g["name"])): len(g.get("rules") or [])
            for name, text in wanted.items()
            for g in rules.groups_of(text)
        }
        # Stale files of ours that prune kept are on disk and loaded too: they are not a mismatch.
        extra = {k for k in set(loaded) - set(expected) if (self.rules_dir / k[0]).exists() and k[0] not in wanted}
        missing = sorted(set(expected) - set(loaded))
        unexpected = sorted(set(loaded) - set(expected) - extra)
        counts = sorted(k for k in set(expected) & set(loaded) if expected[k] != loaded[k])
        if not (missing or unexpected or counts):
            return None
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} generated group(s) are not loaded ({_names(missing)}); is "
                f"{self.rules_dir} in {self.reads_dir}?"
            )
        if unexpected:
            parts.append(f"{len(unexpected)} group(s) loaded that the files no longer have ({_names(unexpected)})")
        if counts:
            parts.append(f"{len(counts)} group(s) loaded with a different number of rules ({_names(counts)})")
        return "; ".join(parts)

    def ours(self, group: dict[str, Any]) -> tuple[str, str] | None:
        """(file name, group name) of a group the engine loaded from one of vigil's files in the
        rules directory (both engines name the file each group came from); None for any other."""
        file = str(group.get("file", ""))
        name = os.path.basename(file)
        in_dir = not os.path.isabs(file) or os.path.realpath(os.path.dirname(file)) == os.path.realpath(self.rules_dir)
        ours = in_dir and rules.owned_group(name.removesuffix(".yaml"), group["name"])
        return (name, str(group["name"])) if ours else None


def _names(keys: list[tuple[str, str]], limit: int = 5) -> str:
    shown = ", ".join(f"{g} in {f}" for f, g in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _diff(old: str, new: str, name: str, limit: int = 60) -> list[str]:
    lines = list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), f"live/{name}", f"build/{name}", n=1, lineterm="")
    )
    return lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])
