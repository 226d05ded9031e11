"""The render cache: rendered results keyed by their inputs and by the code that renders them."""

from __future__ import annotations

from functools import cache

from vigil.cache import ContentCache, source_hash
from vigil.render.jsonnet import generators_dir

# What rendering and checking read, under src/vigil/: editing any of it invalidates every cached
# render and check result. tests/test_architecture.py proves every module that render/ and check/
# import is in it.
HASHED = ("render", "check", "cache.py", "tools.py", "layout.py", "model.py", "units.py", "promql.py", "kube_names.py", "amrefs.py",
          "selectors.py", "errors.py", "defaults.yaml")


@cache
def generators_hash() -> str:
    """A hash of the generators and of the vigil code in HASHED: part of each cache key."""
    return source_hash(HASHED, ((generators_dir(), "*sonnet"),))


class Cache(ContentCache):
    """Render and check results (.vigil-cache/); `Cache(None)` caches nothing."""

    def salt(self) -> str:
        return generators_hash()

    get_or_render = ContentCache.get_or_compute
