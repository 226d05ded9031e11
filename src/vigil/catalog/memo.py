"""Per-file memory of the catalog stages, for incremental builds.

A rebuild after one service changed should not re-parse, re-validate and re-resolve the other
thousand: each service file's parse, schema check, cross-reference check and resolution are kept
by content (the file's text or data, and the catalog-wide context the step reads), salted with the
catalog code. Shared files (vigil.yaml, departments.yaml, profiles) are always read: a change there
changes the context of every service, so every service is done again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.cache import ContentCache, source_hash
from vigil.catalog.load import Document
from vigil.errors import Problem

# What the catalog stages read, under src/vigil/.
HASHED = ("catalog", "profiles", "schema", "cache.py", "model.py", "units.py", "promql.py", "errors.py",
          "defaults.yaml")


class CatalogCache(ContentCache):
    def salt(self) -> str:
        return source_hash(HASHED)


def doc_state(doc: Document) -> list[Any]:
    """What a step may read of a document: its data, where each node was written, its file; the
    digest of its text stands for all three when it has one."""
    if doc.digest:
        return [doc.file, doc.digest]
    return [doc.file, doc.data, sorted([list(path), line] for path, line in doc.lines.items())]


def context(*parts: Any) -> str:
    """A digest of the catalog-wide inputs of a per-service step."""
    return ContentCache(None).key(list(parts))


def problems_out(found: list[Problem]) -> list[list[Any]]:
    return [[p.file, p.line, p.path, p.message] for p in found]


def problems_in(stored: list[list[Any]]) -> list[Problem]:
    return [Problem(*p) for p in stored]


def cache_for(cache_dir: Path | None) -> CatalogCache | None:
    return CatalogCache(cache_dir) if cache_dir else None
