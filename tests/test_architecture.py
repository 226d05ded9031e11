"""The tree is the pipeline: no module imports a later stage, and there are no import cycles.

Read from the source with ast (imports behind TYPE_CHECKING or inside functions count too).
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src" / "vigil"

# The order data flows in. A module may import its own stage and earlier ones only.
# Base modules are plain data and helpers that every stage may use.
STAGES = ["base", "catalog", "render", "check", "build", "deploy", "stack", "backtest", "reports", "cli"]
BASE = {"errors", "units", "promql", "selectors", "model", "layout", "tools", "prometheus_api", "cache", "kube_names", "amrefs"}


def stage_of(module: str) -> str:
    top = module.split(".")[1] if module.count(".") else ""
    if top in BASE or top in ("", "profiles", "schema", "generators"):
        return "base"
    return top


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def test_every_module_belongs_to_a_known_stage() -> None:
    assert {stage_of(m) for m in modules()} <= set(STAGES)


def test_no_stage_imports_a_later_one() -> None:
    known = modules()
    wrong = []
    for module, path in sorted(known.items()):
        mine = STAGES.index(stage_of(module))
        for target in sorted(imports(module, path, known)):
            if STAGES.index(stage_of(target)) > mine:
                wrong.append(f"{module} ({stage_of(module)}) imports {target} ({stage_of(target)})")
    assert wrong == []


def test_no_import_cycles() -> None:
    known = modules()
    graph = {m: {t for t in imports(m, p, known) if not m.startswith(t + ".")} for m, p in known.items()}
    cycles = []
    for start in sorted(graph):
        todo, seen = list(graph[start]), set()
        while todo:
            node = todo.pop()
            if node == start:
                cycles.append(start)
                break
            if node not in seen:
                seen.add(node)
                todo += graph[node]
    assert cycles == []


def test_the_render_cache_key_covers_everything_render_and_check_import() -> None:
    """The cache key hashes an inclusion list (render/cache.py HASHED): a module that render or check
    reads but the list misses would let a stale rendering survive an edit."""
    from vigil.render.cache import HASHED

    known = modules()
    todo = [m for m in known if m.startswith(("vigil.render", "vigil.check"))]
    reached: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += imports(module, known[module], known)
    missing = sorted(m for m in reached if m != "vigil"
                     and known[m].relative_to(SRC).parts[0] not in HASHED)
    assert missing == []
