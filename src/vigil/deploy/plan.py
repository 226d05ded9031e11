"""What a deploy would change on one target, and what it did: the shared vocabulary of every
target, the diff, the report and the exit code.

A target is planned first (read-only calls only), for every target, before anything is pushed:
that is where missing secrets, foreign objects in the way and a prune that would empty a target
are found. Only then are the plans applied, one target at a time (and within a target, by a
bounded pool of workers: pool.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

ADD, CHANGE, REMOVE = "add", "change", "remove"
SIGN = {ADD: "+", CHANGE: "~", REMOVE: "-"}


@dataclass
class Change:
    kind: str  # add | change | remove
    what: str  # "rule group", "dashboard", "folder", "config", "receiver" ...
    name: str
    detail: list[str] = field(default_factory=list)  # a unified diff or a note, never a secret
    pruned: bool = False  # a removal of an object vigil owns that the build no longer has

    def line(self) -> str:
        return f"  {SIGN[self.kind]} {self.what} {self.name}"


@dataclass
class Plan:
    target: str  # "prometheus", "alertmanager", "grafana", "mimir" ...
    where: str  # the URL or path, for the report
    changes: list[Change] = field(default_factory=list)
    stale: list[Change] = field(default_factory=list)  # removals held back because --prune is off
    conflicts: list[str] = field(default_factory=list)  # foreign objects in the way: nothing is pushed
    unchanged: int = 0
    owned_live: int = 0  # objects of ours that are live now
    needs_reload: bool = False  # files are current but the server did not load them

    @property
    def empty(self) -> bool:
        return not self.changes and not self.needs_reload

    def prune_empties_target(self) -> bool:
        """True when applying this plan would delete every object of ours that is live and keep none:
        the signature of an empty or wrong input, not of an intended change."""
        removed = sum(1 for c in self.changes if c.pruned)
        kept = self.owned_live - removed
        return removed > 0 and kept <= 0 and removed >= self.owned_live


@dataclass
class Result:
    target: str
    where: str
    status: str = "not attempted"  # ok | unchanged | failed | rolled back | dry run | not attempted
    writes: int = 0  # files written or removed, reloads, API calls that change state
    applied: list[Change] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "unchanged", "dry run")


class Target(Protocol):
    name: str
    where: str
    show_progress: bool  # a progress bar on stderr for long plans and pushes

    def plan(self, prune: bool) -> Plan: ...

    def apply(self, plan: Plan, result: Result) -> None:
        """Push the plan, verify it, and roll back on failure (raising DeployError after the
        rollback). Counts every state-changing call in result.writes."""


def summary(plan: Plan) -> str:
    counts = {k: sum(1 for c in plan.changes if c.kind == k) for k in (ADD, CHANGE, REMOVE)}
    parts = [
        f"{counts[ADD]} to add",
        f"{counts[CHANGE]} to change",
        f"{counts[REMOVE]} to remove",
        f"{plan.unchanged} unchanged",
    ]
    if plan.stale:
        parts.append(f"{len(plan.stale)} no longer built (kept; --prune removes them)")
    if plan.needs_reload:
        parts.append("files current but not loaded: reload needed")
    return ", ".join(parts)


def format_plan(plan: Plan, verbose: bool = False) -> list[str]:
    lines = [f"{plan.target} ({plan.where}): {summary(plan)}"]
    for change in plan.changes:
        lines.append(change.line())
        if verbose:
            lines += [f"      {d}" for d in change.detail]
    for change in plan.stale:
        lines.append(f"  ! {change.what} {change.name}: no longer built; kept (deploy --prune removes it)")
    lines += [f"  ✗ {c}" for c in plan.conflicts]
    return lines


def format_result(result: Result) -> str:
    text = f"{result.target:<13} {result.status:<14} {result.writes:>3} writes  {result.where}"
    return text + (f"\n              {result.message}" if result.message else "")
