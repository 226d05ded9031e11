"""What every check reads and writes: the CheckReport, and the one interface of a check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from vigil.cache import digest
from vigil.render.cache import Cache
from vigil.render.files import Files


@dataclass
class CheckReport:
    out: Path
    checked: dict[str, int] = field(default_factory=dict)  # check id → how many things it checked
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # check id → further counts (shapes, cached)
    problems: dict[str, list[str]] = field(default_factory=dict)  # check id → what failed, for people
    warnings: list[str] = field(default_factory=list)  # worth saying, not failing for
    # Where passed checks are remembered by content, so that a rebuild re-runs only what changed.
    # None: run everything.
    cache: Cache | None = None
    # The build's artefacts, in memory or remembered by digest (None under `vigil check`: read
    # the files).
    artefacts: Files | None = None
    # Objects the build still holds, by path under output/: read instead of parsing the text back.
    parsed: dict[str, Any] = field(default_factory=dict)
    # The alerting rules the build rendered, with their rule files (None: read the rule files).
    alerts: list[Any] | None = None
    # What one check worked out and another reuses (the parsed dashboards), by the check's module.
    shared: dict[str, Any] = field(default_factory=dict)

    def paths(self, directory: str, suffix: str) -> list[str]:
        """The artefacts (paths under output/) in one directory of vigil.layout, sorted."""
        if self.artefacts is not None:
            return sorted(
                p
                for p in self.artefacts
                if p.startswith(directory + "/") and p.endswith(suffix) and "/" not in p[len(directory) + 1 :]
            )
        return sorted(str(p.relative_to(self.out)) for p in (self.out / directory).glob(f"*{suffix}"))

    def text(self, rel: str) -> str | None:
        if self.artefacts is not None:
            return self.artefacts.get(rel)
        path = self.out / rel
        return path.read_text(encoding="utf-8") if path.exists() else None

    def digest(self, rel: str) -> str:
        """The digest of an artefact's text: what a passed check is remembered by. A build knows
        it without reading a remembered file's text."""
        if self.artefacts is not None and rel in self.artefacts.digests:
            return self.artefacts.digests[rel]
        return digest(self.text(rel) or "")

    def passed_before(self, parts: list[Any]) -> tuple[str, bool]:
        """(key, whether a check passed before on these parts): remember a pass with
        `remember(key)`. Never true without a cache."""
        if not self.cache:
            return "", False
        key = self.cache.key(parts)
        return key, self.cache.has(key)  # only passes are remembered: no need to read one

    def remember(self, key: str, value: Any = True) -> None:
        if self.cache and key:
            self.cache.store(key, value)

    def fail(self, check_id: str, message: str) -> None:
        self.problems.setdefault(check_id, []).append(message)

    @property
    def failures(self) -> list[str]:
        return [m for check_id in sorted(self.problems) for m in self.problems[check_id]]


class Check(Protocol):
    id: ClassVar[str]  # namespace/name, as pint names its checks
    description: ClassVar[str]  # what a passing count means, for people
    slow: ClassVar[bool]  # minutes for a thousand services: `vigil check` and `build --test` only

    def run(self, report: CheckReport) -> None: ...
