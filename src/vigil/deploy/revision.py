"""The git revision a deploy carries in its messages (Grafana's version history shows it).

Read from the environment CI systems set, or from the repository's files; vigil never runs git.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_VARS = ("VIGIL_REVISION", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT", "BUILD_VCS_NUMBER")


def revision(start: Path, env: Mapping[str, str] = os.environ) -> str:
    for var in ENV_VARS:
        if env.get(var):
            return env[var][:12]
    for root in [start.resolve(), *start.resolve().parents]:
        git = root / ".git"
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (root / git.read_text().split(":", 1)[1].strip()).resolve()
        if git.is_dir():
            return _head(git) or "unknown"
    return "unknown"


def _head(git: Path) -> str | None:
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head[:12]
    ref = head.split(":", 1)[1].strip()
    common = git / "commondir"
    base = (git / common.read_text().strip()).resolve() if common.exists() else git
    for root in (git, base):
        if (root / ref).exists():
            return (root / ref).read_text().strip()[:12]
    packed = base / "packed-refs"
    if packed.exists():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    return None
