"""`pip install vigil` + `vigil build --catalog X` must work outside this repo (DESIGN.md): the
wheel carries every module and every file vigil reads at run time: generators, profiles, schemas,
defaults."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT


def test_the_wheel_carries_every_runtime_file(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("vigil-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"vigil/{p.relative_to(ROOT / 'src' / 'vigil').as_posix()}"
              for p in (ROOT / "src" / "vigil").rglob("*") if p.suffix in (".py", ".yaml", ".json", ".md")}
    wanted |= {f"vigil/generators/{p.relative_to(ROOT / 'generators').as_posix()}"
               for p in (ROOT / "generators").rglob("*") if p.suffix in (".jsonnet", ".libsonnet")}
    assert wanted and wanted <= names, sorted(wanted - names)
