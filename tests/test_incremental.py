"""An incremental rebuild (with the cache) writes what changed and links the rest from the output
it replaces; the result is byte for byte what a cold build gives."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from conftest import CATALOG
from vigil.build import build


def _same_tree(a: Path, b: Path) -> bool:
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def test_a_rebuild_writes_only_what_changed(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    out, cache = tmp_path / "output", tmp_path / "cache"
    build(catalog, out, cache_dir=cache)
    inodes = {str(p.relative_to(out)): p.stat().st_ino for p in out.rglob("*") if p.is_file()}

    service = catalog / "services" / "payment.yaml"
    service.write_text(service.read_text().replace("authorises and captures", "authorises, then captures", 1))
    hand_edited = out / "prometheus" / "rules" / "catalog-api.yaml"
    hand_edited.write_text(hand_edited.read_text() + "# edited by hand\n")
    build(catalog, out, cache_dir=cache)

    after = {str(p.relative_to(out)): p.stat().st_ino for p in out.rglob("*") if p.is_file()}
    rewritten = sorted(rel for rel in after if after[rel] != inodes.get(rel))
    assert "grafana/dashboards/vigil-payment.json" in rewritten
    assert "prometheus/rules/catalog-api.yaml" in rewritten            # a hand edit is never kept
    assert "grafana/dashboards/vigil-redis-cache.json" not in rewritten  # untouched: linked, not written
    assert len(rewritten) < len(after) / 2
    cold = tmp_path / "cold"
    build(catalog, cold)
    assert _same_tree(out, cold)
