"""`because:` on a service's override: the postmortem that motivated a threshold, `for`, trend or
anomaly setting of a key metric, or an SLO's objective (docs/postmortems.md, "Thresholds that learn").

It must name a postmortem of the collection, so that a reviewer (`vigil review`) and the person
paged (the alert's `postmortem` annotation) can open the incident it came from. Checked apart from
the per-service checks: those are memoised on the catalog's names and profiles, and the
postmortem ids are not part of that context.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import PurePath
from typing import Any

from vigil.catalog.load import Document, MarkdownDocument, PathKey
from vigil.catalog.schema import did_you_mean
from vigil.errors import Problem


def postmortem_ids(docs: Sequence[MarkdownDocument]) -> set[str]:
    """Every postmortem's id. The id must be its file name (checked with the postmortem), so the
    file name is read: a postmortem with problems of its own is still a known id here, and its
    problems are reported once, at the postmortem."""
    return {PurePath(d.file.replace("\\", "/")).name.removesuffix(".md") for d in docs}


def references(data: dict[str, Any]) -> Iterator[tuple[PathKey, Any]]:
    """(path, value) of every `because:` in a schema-valid service."""
    for mid, metric in sorted((data.get("metrics") or {}).items()):
        if isinstance(metric, dict) and "because" in metric:
            yield ("metrics", mid, "because"), metric["because"]
    for i, slo in enumerate(data.get("slos") or []):
        if isinstance(slo, dict) and "because" in slo:
            yield ("slos", i, "because"), slo["because"]


def check(services: Sequence[Document], docs: Sequence[MarkdownDocument]) -> list[Problem]:
    """A problem for each `because:` that names no postmortem of the collection, with a suggestion.

    Without any postmortem beside the catalog there is nothing to check against: the catalog was
    copied or checked out alone (into a deploy job, a test), and it builds as it did. A collection
    that lacks the id is an error: a typo, or a postmortem renamed."""
    known = postmortem_ids(docs)
    if not known:
        return []
    return [
        service.problem(path, f"unknown postmortem '{value}'{did_you_mean(value, sorted(known))}")
        for service in services
        for path, value in references(service.data)
        if value not in known
    ]
