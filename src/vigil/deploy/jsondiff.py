"""What differs between two JSON documents (a live dashboard and the build's), for `vigil diff -v`.

A line diff of the whole pretty-printed documents (difflib over both) took 15 ms for a service
dashboard and 28 s for the overview of a thousand services: difflib is quadratic in the length of
its inputs. Instead the trees are walked (linear) down to the smallest parts that differ, and only
those are shown as unified-diff hunks, each headed by its JSON path.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Iterator

_GONE = object()       # the side of an added or removed key or list item


def diff(old: Any, new: Any, a: str, b: str, limit: int = 40) -> list[str]:
    """Unified-diff lines (`---`, `+++`, then `@@ path @@` hunks), at most `limit` of them."""
    lines = [f"--- {a}", f"+++ {b}"]
    for path, before, after in changes(old, new):
        lines.append(f"@@ {path or '.'} @@")
        hunk = difflib.unified_diff(_text(before), _text(after), n=1, lineterm="")
        lines += [line for line in hunk if not line.startswith(("---", "+++", "@@"))]
        if len(lines) > limit:
            break
    if len(lines) == 2:
        return []
    return lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])


def changes(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(JSON path, old part, new part) for each smallest part that differs, in document order."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            yield from changes(old.get(key, _GONE), new.get(key, _GONE), f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list):
        # Align the items (each compared whole, by its canonical text: one hash per item), then
        # descend into the pairs that were replaced one for one.
        keys = [[json.dumps(item, sort_keys=True) for item in side] for side in (old, new)]
        matcher = difflib.SequenceMatcher(None, keys[0], keys[1], autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                continue
            pairs = _pairs(old, range(i1, i2), new, range(j1, j2))
            for i in range(i1, i2):
                if i not in pairs:
                    yield f"{path}[{i}]", old[i], _GONE
            for j in range(j1, j2):
                paired = next((i for i, jj in pairs.items() if jj == j), None)
                if paired is None:
                    yield f"{path}[{j}]", _GONE, new[j]
                else:
                    yield from changes(old[paired], new[j], f"{path}[{j}]")
    else:
        yield path, old, new


def _pairs(old: list[Any], olds: range, new: list[Any], news: range) -> dict[int, int]:
    """Which replaced items are the same item changed: one for one when as many went as came,
    else those with the same `id` or `uid` (a Grafana panel, a dashboard link)."""
    if len(olds) == len(news):
        return dict(zip(olds, news))
    ident: dict[Any, int | None] = {}
    for j in news:
        ident.setdefault(_ident(new[j]), j)
    ident.pop(None, None)
    pairs: dict[int, int] = {}
    for i in olds:
        j = ident.pop(_ident(old[i]), None)     # pop: each new item pairs with one old item at most
        if j is not None:
            pairs[i] = j
    return pairs


def _ident(item: Any) -> Any:
    if isinstance(item, dict):
        for key in ("id", "uid"):
            if isinstance(item.get(key), (int, str)):
                return key, item[key]
    return None


def _text(part: Any) -> list[str]:
    return [] if part is _GONE else json.dumps(part, indent=1, sort_keys=True).splitlines()
