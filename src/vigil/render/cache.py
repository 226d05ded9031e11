"""The render cache: results keyed by a hash of their inputs and of the code that renders them."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any, Callable

import orjson

from vigil.render.jsonnet import generators_dir

# What rendering and checking read, under src/vigil/: editing any of it invalidates every cached
# result. An inclusion list, so that a module moved elsewhere cannot silently fall out of the key;
# tests/render/test_cache.py proves every module that render/ and check/ import is in it.
HASHED = ("render", "check", "tools.py", "layout.py", "model.py", "units.py", "promql.py", "errors.py",
          "defaults.yaml")


@cache
def generators_hash() -> str:
    """A hash of the generators and of the vigil code in HASHED: part of each cache key."""
    h = hashlib.sha256()
    package, generators = Path(__file__).parent.parent, generators_dir()
    paths = [(generators, p) for p in sorted(generators.rglob("*sonnet"))]
    for name in HASHED:
        root = package / name
        paths += [(package, p) for p in (sorted(root.rglob("*.py")) if root.is_dir() else [root])]
    for base, path in paths:
        h.update(path.relative_to(base).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


class Cache:
    """A content-addressed cache of rendered results under a directory (e.g. .vigil-cache/).

    Keys hash the inputs together with every generator source and vigil's own code, so a change
    to either invalidates them. `root=None` disables caching.
    """

    def __init__(self, root: Path | None):
        self.root = root

    def key(self, parts: list[Any]) -> str:
        return hashlib.sha256(orjson.dumps([generators_hash(), *parts], option=orjson.OPT_SORT_KEYS)).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def load(self, key: str) -> Any:
        if self.root is None or not self._path(key).exists():
            return None
        return orjson.loads(self._path(key).read_bytes())

    def store(self, key: str, value: Any) -> None:
        if self.root is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(value))
        tmp.replace(path)

    def get_or_render(self, key_parts: list[Any], render: Callable[[], Any]) -> Any:
        key = self.key(key_parts)
        found = self.load(key)
        if found is None:
            found = render()
            self.store(key, found)
        return found
