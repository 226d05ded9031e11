"""Running the Jsonnet generators: one evaluation for a batch of items, on every core.

The generators are pure functions of the model (no clock, no environment), so the same model
always gives byte-identical files.
"""

from __future__ import annotations

import importlib.resources
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _gojsonnet
import orjson

from vigil.errors import RenderError


def generators_dir() -> Path:
    return Path(str(importlib.resources.files("vigil.generators")))


def evaluate(program: str, **tla: Any) -> Any:
    """Evaluate generators/<program> (a function) with top-level arguments; return its JSON value."""
    return evaluate_each(program, [tla])[0]


def evaluate_each(program: str, items: list[dict[str, Any]], **shared: Any) -> list[Any]:
    """[program(**item, **shared) for item in items] in one Jsonnet evaluation: the generator's
    libraries are parsed once for the whole batch instead of once per item. Every item has the
    same keys (the per-item arguments); `shared` are the arguments common to all.

    Arguments travel as JSON strings decoded by std.parseJson: a third faster than handing them
    over as Jsonnet code, which the Jsonnet parser would have to read."""
    if not items:
        return []
    names = sorted(shared)
    decoded = ", ".join(f"{n}: std.parseJson({n})" for n in names)
    call = ", ".join([f"{k}=item.{k}" for k in sorted(items[0])] + [f"{n}=shared.{n}" for n in names])
    snippet = (
        f"local program = import '{program}';\n"
        f"function(items, {', '.join(names)})\n"
        f"  local shared = {{ {decoded} }};\n"
        f"  [program({call}) for item in std.parseJson(items)]"
    )
    tla = {k: orjson.dumps(v).decode() for k, v in {"items": items, **shared}.items()}
    try:
        text = _gojsonnet.evaluate_snippet(program, snippet, jpathdir=[str(generators_dir())], tla_vars=tla)
    except RuntimeError as e:
        raise RenderError(f"generators/{program}: {e}") from e
    return orjson.loads(text)


# Below this many items, starting worker processes costs more than it saves.
PARALLEL_FROM = 24


def parallel_map(fn: Callable[[list[Any]], list[Any]], items: list[Any], workers: int | None = None) -> list[Any]:
    """fn over chunks of items in worker processes (one per core); results in the items' order.

    fn takes a chunk and returns one result per item; it must be a module-level function.
    Workers are spawned, not forked: the Go runtime inside gojsonnet does not survive a fork.
    """
    workers = workers or os.cpu_count() or 1
    if len(items) < PARALLEL_FROM or workers == 1:
        return fn(items) if items else []
    # Interleaved chunks, a few per worker, so that one slow item does not idle a core.
    n = workers * 4
    chunks = [items[i::n] for i in range(n) if items[i::n]]
    with _worker_go_env(), ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(fn, chunks))
    out: list[Any] = [None] * len(items)
    for i, chunk_results in enumerate(results):
        out[i::n] = chunk_results
    return out


# Generators allocate many short-lived objects, and Go's default GOGC (collect at 100% heap
# growth) spends a quarter of the render in the collector: at 400 a thousand dashboards render
# ~25% faster, for a peak of ~1.4 GB per worker. GOMEMLIMIT makes it collect sooner if memory gets
# tight. A GOGC or GOMEMLIMIT set by the user wins.
WORKER_GO_ENV = {"GOGC": "400", "GOMEMLIMIT": "2GiB"}


@contextmanager
def _worker_go_env() -> Iterator[None]:
    """WORKER_GO_ENV in the environment while the render workers are spawned, and only then.

    The Go runtime reads it from the environment a process *starts* with (setting os.environ
    after gojsonnet is loaded changes nothing in this process), so it must be there when the
    workers start; and it must not stay, or promtool, amtool and the stack's Prometheus that vigil
    starts later would inherit it."""
    added = {k: v for k, v in WORKER_GO_ENV.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)
