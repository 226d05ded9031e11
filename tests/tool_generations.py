"""The tool generation a module-scoped fixture runs under.

conftest's `generation` fixture is function-scoped (it uses pytest's monkeypatch); a process
started once for a whole module (a stack, an Alertmanager) needs the generation's binaries first
on PATH for as long as that process and its tests live, which is what `on_path` gives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from conftest import GENERATIONS, TOOLS

__all__ = ["GENERATIONS", "on_path"]


@contextmanager
def on_path(generation: str) -> Iterator[str]:
    """PATH with `.tools/<generation>/bin` first while the block runs; skip when it is missing."""
    bindir = TOOLS / generation / "bin"
    if not bindir.is_dir():
        pytest.skip(f"{bindir} missing: run `make tools` (scripts/tools.sh)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        yield generation
