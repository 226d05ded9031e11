"""The content cache behind incremental builds (`.vigil-cache/`), shared by the stages.

Every stage keys its results by a hash of their inputs *and* of the code that computes them (the
stage's `salt`), so editing vigil invalidates exactly what that code produced. Values are small
JSON documents; large texts (rendered files) are kept as content-addressed blobs, so that a
rebuild can hand on a file's digest without reading or parsing its text.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import orjson

PACKAGE = Path(__file__).parent


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def source_hash(names: tuple[str, ...], extra: tuple[tuple[Path, str], ...] = ()) -> str:
    """A hash of vigil's own code and data: the modules and folders `names` under src/vigil/, and
    the files matching each (root, glob) of `extra`. An inclusion list, so that a module moved
    elsewhere cannot silently fall out of a key."""
    paths: list[tuple[Path, Path]] = [(root, p) for root, pattern in extra for p in sorted(root.rglob(pattern))]
    for name in names:
        root = PACKAGE / name
        files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml", ".json")) if root.is_dir() else [root]
        paths += [(PACKAGE, p) for p in files]
    h = hashlib.sha256()
    for base, path in paths:
        h.update(path.relative_to(base).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


class ContentCache:
    """Results keyed by a hash of their inputs and of `salt()`, under `root` (None: no caching)."""

    def __init__(self, root: Path | None):
        self.root = root

    def salt(self) -> str:
        return ""

    def key(self, parts: list[Any]) -> str:
        return hashlib.sha256(orjson.dumps([self.salt(), *parts], option=orjson.OPT_SORT_KEYS)).hexdigest()

    def _path(self, key: str, kind: str = "json") -> Path:
        return Path(self._file(key, kind))

    def _file(self, key: str, kind: str = "json") -> str:
        # A plain string: a rebuild looks up ten thousand entries, and pathlib's joins cost more
        # than reading them.
        assert self.root is not None
        return f"{self._root}/{key[:2]}/{key}.{kind}"

    @cached_property
    def _root(self) -> str:
        return os.fspath(self.root or "")

    def load(self, key: str) -> Any:
        if self.root is None:
            return None
        try:
            with open(self._file(key), "rb") as f:
                return orjson.loads(f.read())
        except FileNotFoundError:
            return None

    def has(self, key: str) -> bool:
        """Whether a result is kept under `key`: a look-up, without reading it."""
        return self.root is not None and os.path.exists(self._file(key))

    def store(self, key: str, value: Any) -> None:
        if self.root is not None:
            self._write(self._path(key), orjson.dumps(value))

    def get_or_compute(self, key_parts: list[Any], compute: Callable[[], Any]) -> Any:
        key = self.key(key_parts)
        found = self.load(key)
        if found is None:
            found = compute()
            self.store(key, found)
        return found

    # --- blobs: texts by their own digest
    def store_text(self, text: str) -> str:
        """Keep `text` as a blob; return its digest."""
        sha = digest(text)
        if self.root is not None:
            path = self._path(sha, "txt")
            if not path.exists():
                self._write(path, text.encode())
        return sha

    def has_text(self, sha: str) -> bool:
        return self.root is not None and os.path.exists(self._file(sha, "txt"))

    def load_text(self, sha: str) -> str | None:
        if self.root is None:
            return None
        try:
            return self._path(sha, "txt").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
