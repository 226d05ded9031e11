"""The catalog as it was at a git revision, read from git without touching the work tree.

`vigil review --base REV` compares it with the catalog on disk. The catalog directory may sit
anywhere inside the repository: its path relative to the repository root is found with
`git rev-parse --show-prefix`, and the same path is taken from REV with `git archive`.
"""

from __future__ import annotations

import io
import posixpath
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from vigil.errors import RevisionError


@dataclass(frozen=True)
class Revision:
    rev: str  # as the user wrote it (main, HEAD~1, a sha)
    commit: str  # the full sha it names
    prefix: str  # the catalog's path from the repository root, e.g. "catalog" ("" for the root)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as e:
        raise RevisionError("git is not installed: `vigil review` reads the base catalog from git") from e


def resolve(catalog: Path, rev: str) -> Revision:
    """Which commit REV names, and where the catalog lives in the repository."""
    if not catalog.is_dir():
        raise RevisionError(f"{catalog}: no such catalog directory")
    prefix = _git(catalog, "rev-parse", "--show-prefix")
    if prefix.returncode != 0:
        raise RevisionError(f"{catalog} is not inside a git repository: {prefix.stderr.decode().strip()}")
    # --end-of-options: a REV starting with "-" is a name, never an option.
    commit = _git(catalog, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if commit.returncode != 0:
        raise RevisionError(f"unknown revision {rev!r}: not a commit in {catalog.resolve()}'s repository")
    return Revision(rev, commit.stdout.decode().strip(), prefix.stdout.decode().strip().rstrip("/"))


def extract(catalog: Path, revision: Revision, dest: Path) -> Path | None:
    """Write the catalog at `revision` under `dest` and return its directory there, or None when
    the catalog did not exist at that revision (so everything in the work tree is new)."""
    top = _git(catalog, "rev-parse", "--show-toplevel").stdout.decode().strip()
    pathspec = revision.prefix or "."
    listed = _git(Path(top), "ls-tree", "-d", "--name-only", revision.commit, "--", pathspec)
    if revision.prefix and not listed.stdout.strip():
        return None
    archive = _git(Path(top), "archive", "--format=tar", revision.commit, "--", pathspec)
    if archive.returncode != 0:
        raise RevisionError(f"git archive {revision.rev} -- {pathspec}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")  # "data": no absolute paths, links out or devices
    root = dest / revision.prefix if revision.prefix else dest
    _extract_postmortems(Path(top), revision, root, dest)
    return root


def _extract_postmortems(top: Path, revision: Revision, root: Path, dest: Path) -> None:
    """The postmortems folder at `revision` too, where that catalog looks for it: a service's
    `because:` names a postmortem, and the base catalog is validated with its own collection."""
    settings = root / "vigil.yaml"
    try:
        where = (yaml.safe_load(settings.read_text()) or {}).get("postmortems") if settings.is_file() else None
    except (yaml.YAMLError, AttributeError):
        where = None  # the base catalog's own validation names the problem
    folder = posixpath.normpath(posixpath.join(revision.prefix, where if isinstance(where, str) else "../postmortems"))
    if folder.startswith("..") or folder == ".":
        return  # outside the repository (a catalog at its root keeps them beside it): not in git
    if not _git(top, "ls-tree", "-d", "--name-only", revision.commit, "--", folder).stdout.strip():
        return
    archive = _git(top, "archive", "--format=tar", revision.commit, "--", folder)
    if archive.returncode == 0:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(dest, filter="data")
