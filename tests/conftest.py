"""Shared fixtures: the example catalog's model, built outputs, free ports."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vigil.build import BuildReport, compile_catalog

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"
SHARED = ROOT.parent / "shared"
# scripts/tools.sh unpacks both tool generations here (make test sets VIGIL_TOOLS_DIR).
TOOLS = Path(os.environ.get("VIGIL_TOOLS_DIR", ROOT / ".tools"))
GENERATIONS = ("bookworm", "current")  # Prometheus 2.42 / Alertmanager 0.25, and 3.5 / 0.33


@pytest.fixture(params=GENERATIONS)
def generation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once per tool generation, with that generation's binaries first on PATH."""
    bindir = TOOLS / request.param / "bin"
    if not bindir.is_dir():
        pytest.skip(f"{bindir} missing: run `make tools` (scripts/tools.sh)")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return str(request.param)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def example_model() -> dict[str, Any]:
    _, model = compile_catalog(CATALOG, BuildReport())
    return model  # type: ignore[return-value]


@pytest.fixture(scope="session")
def example_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example catalog built (fast checks only) into a temporary directory."""
    from vigil.build import build

    out = tmp_path_factory.mktemp("example") / "output"
    build(CATALOG, out, run_checks=True, run_tests=False)
    return out


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Callable[[], Path]:
    """A writable copy of the example catalog, for tests that break it."""

    def make() -> Path:
        dest = tmp_path / "catalog"
        shutil.copytree(CATALOG, dest)
        # The postmortems live beside the catalog and are part of what it builds to.
        shutil.copytree(ROOT / "postmortems", tmp_path / "postmortems")
        return dest

    return make


def require(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} not installed")
    return path
