"""What every check reads and writes: the CheckReport, and the one interface of a check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from vigil.render.cache import Cache
from vigil.render.serialise import Artefacts


@dataclass
class CheckReport:
    out: Path
    checked: dict[str, int] = field(default_factory=dict)          # check id → how many things it checked
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # check id → further counts (shapes, cached)
    problems: dict[str, list[str]] = field(default_factory=dict)    # check id → what failed, for people
    # Where passed checks are remembered by content, so that a rebuild re-runs only what changed.
    # None: run everything.
    cache: Cache | None = None
    # The build's artefacts, still in memory (None under `vigil check`: read the files).
    artefacts: Artefacts | None = None
    # Objects the build still holds, by path under output/: read instead of parsing the text back.
    parsed: dict[str, Any] = field(default_factory=dict)
    # The alerting rules the build rendered, with their rule files (None: read the rule files).
    alerts: list[Any] | None = None
    # What one check worked out and another reuses (the parsed dashboards), by the check's module.
    shared: dict[str, Any] = field(default_factory=dict)

    def paths(self, directory: str, suffix: str) -> list[str]:
        """The artefacts (paths under output/) in one directory of vigil.layout, sorted."""
        if self.artefacts is not None:
            return sorted(p for p in self.artefacts if p.startswith(directory + "/") and p.endswith(suffix)
                          and "/" not in p[len(directory) + 1:])
        return sorted(str(p.relative_to(self.out)) for p in (self.out / directory).glob(f"*{suffix}"))

    def text(self, rel: str) -> str | None:
        if self.artefacts is not None:
            return self.artefacts.get(rel)
        path = self.out / rel
        return path.read_text(encoding="utf-8") if path.exists() else None

    def fail(self, check_id: str, message: str) -> None:
        self.problems.setdefault(check_id, []).append(message)

    @property
    def failures(self) -> list[str]:
        return [m for check_id in sorted(self.problems) for m in self.problems[check_id]]


class Check(Protocol):
    id: ClassVar[str]            # namespace/name, as pint names its checks
    description: ClassVar[str]   # what a passing count means, for people
    slow: ClassVar[bool]         # minutes for a thousand services: `vigil check` and `build --test` only

    def run(self, report: CheckReport) -> None: ...
