"""Deploy exactly what was reviewed: the output directory (`--out`, default output/) is what gets
pushed, and only while it is what this catalog builds to with this vigil.

The reviewers read the pull request's change to output/ (and `vigil review`); a deploy that
rebuilt the catalog afresh would push what this vigil makes of it today, which is not necessarily
what they read (an output/ nobody regenerated after a catalog edit, a vigil upgraded since). So
the catalog is rendered again (build.stale_files, the comparison `vigil build --frozen` makes)
and any file that differs refuses the deploy, named. The output directory itself is then checked
as `--from` is. `vigil deploy --build` is the explicit way to push a fresh build.
"""

from __future__ import annotations

from pathlib import Path

from vigil.errors import StaleOutputError

SHOWN = 20     # files named in the message at most; the count says how many more


def require_fresh(catalog: Path, out: Path, cache: Path | None) -> None:
    """StaleOutputError unless `out` holds exactly what `catalog` builds to with this vigil."""
    from vigil.build import stale_files
    stale = stale_files(catalog, out, cache)          # an invalid catalog stops here (CatalogError)
    if not out.is_dir():
        raise StaleOutputError(f"{out}: no such directory; run `vigil build` (or deploy a fresh build with --build)")
    if stale:
        more = [f"... and {len(stale) - SHOWN} more"] if len(stale) > SHOWN else []
        raise StaleOutputError(
            f"{out} is not what {catalog} builds to with this vigil: {len(stale)} file(s) differ; nothing was pushed. "
            "Run `vigil build` and review the change, or deploy a fresh build explicitly with --build:\n  "
            + "\n  ".join(stale[:SHOWN] + more))
