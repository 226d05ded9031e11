"""Rendered files by path under output/: each one's digest, and its text while it is in memory.

A rebuild remembers most files: their renderings are in the cache, under a key that says what
they were rendered from. Such a file is known by its digest alone, and its text stays a blob in
the cache until something asks for it. The write stage links an unchanged file from the previous
output instead of writing it again; the checks skip what passed with the same digest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable

from vigil.cache import ContentCache, digest
from vigil.render.serialise import Artefacts


class Files(Mapping[str, str]):
    def __init__(self, cache: ContentCache):
        self.cache = cache
        self.digests: dict[str, str] = {}
        self._texts: dict[str, str] = {}

    # --- Mapping: path → text (texts in the cache are read when asked for)
    def __getitem__(self, rel: str) -> str:
        if rel not in self._texts:
            text = self.cache.load_text(self.digests[rel])
            if text is None:
                raise KeyError(f"{rel}: its rendering was remembered, but its text is gone from the cache")
            self._texts[rel] = text
        return self._texts[rel]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.digests))

    def __len__(self) -> int:
        return len(self.digests)

    def in_memory(self, rel: str) -> bool:
        return rel in self._texts

    # --- adding files
    def add(self, texts: Artefacts) -> dict[str, str]:
        """Files rendered now; returns {path: digest}, what a cache entry keeps of them."""
        known = {}
        for rel, text in texts.items():
            known[rel] = self.cache.store_text(text) if self.cache.root else digest(text)
            self._texts[rel] = text
        self.digests.update(known)
        return known

    def add_remembered(self, known: dict[str, str]) -> bool:
        """Files remembered by digest; False (and nothing added) when a blob is gone."""
        if not all(self.cache.has_text(sha) for sha in known.values()):
            return False
        self.digests.update(known)
        return True

    def remembered_or(self, key_parts: list[Any], render: Callable[[], Artefacts]) -> None:
        """The files of one cache entry: remembered, or rendered now and remembered."""
        key = self.cache.key(key_parts)
        hit = self.cache.load(key)
        if hit is None or not self.add_remembered(hit):
            self.cache.store(key, self.add(render()))
