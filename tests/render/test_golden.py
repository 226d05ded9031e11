"""Golden files, as Sloth keeps them: each tests/testdata/in-<case>/ catalog renders exactly to
out-<case>/ (the model, and every artefact). The example catalog renders exactly to the committed
output/, so CI fails when a catalog or generator change was not rebuilt.

Accept a deliberate change with:  VIGIL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import CATALOG, ROOT
from vigil.build import BuildReport, build, compile_catalog

TESTDATA = Path(__file__).parents[1] / "testdata"
CASES = sorted(p.name[len("in-") :] for p in TESTDATA.glob("in-*"))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_same(actual: Path, expected: Path, hint: str) -> None:
    got, want = _tree(actual), _tree(expected)
    assert sorted(got) == sorted(want), f"different files ({hint})"
    for name in sorted(got):
        if got[name] != want[name]:
            diff = "".join(
                difflib.unified_diff(
                    want[name].decode().splitlines(True),
                    got[name].decode().splitlines(True),
                    f"expected/{name}",
                    f"actual/{name}",
                    n=2,
                )
            )
            pytest.fail(f"{name} differs ({hint}):\n{diff[:4000]}")


def _build(catalog: Path, out: Path) -> None:
    build(catalog, out, run_checks=False, cache_dir=None)


@pytest.mark.parametrize("case", CASES)
def test_golden(case, tmp_path):
    out = tmp_path / "out"
    _build(TESTDATA / f"in-{case}", out)
    _, model = compile_catalog(TESTDATA / f"in-{case}", BuildReport())
    (out / "model.json").write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    expected = TESTDATA / f"out-{case}"
    if os.environ.get("VIGIL_UPDATE_GOLDEN"):
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected)
    _assert_same(out, expected, "run with VIGIL_UPDATE_GOLDEN=1 to accept a deliberate change")


def test_committed_output_is_fresh(tmp_path):
    out = tmp_path / "output"
    _build(CATALOG, out)
    _assert_same(out, ROOT / "output", "output/ is stale: run `make build` and commit output/")


def test_rebuild_is_byte_identical(tmp_path):
    _build(CATALOG, tmp_path / "a")
    _build(CATALOG, tmp_path / "b")
    _assert_same(tmp_path / "a", tmp_path / "b", "two builds of the same catalog differ")
