"""A bounded pool of worker threads for the many small HTTP calls of a Grafana or Mimir deploy.

Every call waits on the network (a round trip, the server's own work), not on vigil's CPU, so a
few threads hide that wait: N workers keep at most N requests in flight to a target, never more
(the servers we push to are shared; a deploy must not flood them).

Failure semantics are what rollback needs:
- after the first failure no new task is started; the tasks already running finish, so that when
  `run` returns nothing of ours is still in flight and what was changed is known;
- every task records what it is about to change in a `Journal` *before* the write, so a write that
  failed halfway (a timeout after the server applied it) is rolled back too; the undo checks the
  live state first, so an intent that never took effect costs a read and no write;
- every failure is kept, and the one reported is the first in the caller's (sorted) order, not
  whichever thread lost the race, so reports are deterministic.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import click

from vigil.errors import DeployError

T = TypeVar("T")
U = TypeVar("U")


@dataclass
class Outcome(Generic[T]):
    done: list[T] = field(default_factory=list)  # completed, in the input order
    failures: list[tuple[T, BaseException]] = field(default_factory=list)  # in the input order
    interrupted: BaseException | None = None  # Ctrl-C while running

    @property
    def failed(self) -> bool:
        return bool(self.failures) or self.interrupted is not None

    def message(self) -> str:
        """The first failure, and how many more there were (their order depends on timing)."""
        if not self.failures:
            return "interrupted" if self.interrupted is not None else ""
        more = len(self.failures) - 1
        return str(self.failures[0][1]) + (f" (and {more} more failure{'s' if more > 1 else ''})" if more else "")


class Journal(Generic[U]):
    """What the workers are about to change (their undo records) and how many writes they made.
    Written from several threads; read by the main thread once the pool has drained."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.intents: list[U] = []
        self.writes = 0

    def intend(self, undo: U) -> None:
        with self._lock:
            self.intents.append(undo)

    def wrote(self, n: int = 1) -> None:
        with self._lock:
            self.writes += n


def run(
    items: Sequence[T], task: Callable[[T], object], workers: int, *, label: str = "", show: bool = False
) -> Outcome[T]:
    """Run `task` on every item with at most `workers` at a time; stop starting new ones at the
    first failure (or Ctrl-C) and wait for the running ones. Never raises for a task's failure: the
    caller rolls back from its journal, then raises (Ctrl-C comes back as `outcome.interrupted`)."""
    outcome: Outcome[T] = Outcome()
    if not items:
        return outcome
    index = {id(item): i for i, item in enumerate(items)}
    pending = iter(items)
    running: dict[Future[object], T] = {}

    def settle(future: Future[object]) -> None:
        item = running.pop(future)
        error = future.exception()
        if error is None:
            outcome.done.append(item)
        else:
            outcome.failures.append((item, error))

    def top_up(pool: ThreadPoolExecutor) -> None:
        # Submitted lazily, `workers` at a time: a queue holding every item would go on starting
        # tasks after a failure.
        while len(running) < workers and not outcome.failures:
            try:
                item = next(pending)
            except StopIteration:
                return
            running[pool.submit(task, item)] = item

    workers = max(1, workers)
    with (
        _bar(len(items), label, show) as bar,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vigil-deploy") as pool,
    ):
        try:
            top_up(pool)
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    settle(future)
                bar.update(len(finished))
                top_up(pool)
        except BaseException as interrupt:  # Ctrl-C while waiting: drain, so the caller can roll back
            outcome.interrupted = interrupt
            for future in list(running):
                wait([future])
                settle(future)
    outcome.done.sort(key=lambda i: index[id(i)])
    outcome.failures.sort(key=lambda f: index[id(f[0])])
    return outcome


def fail_after(outcome: Outcome[Any], rollback: Callable[[], str]) -> None:
    """After a pool run that failed: roll back, then raise. An interrupt (Ctrl-C) goes on as
    itself; a refusal (DeployError) becomes one DeployError naming the rollback; anything else is
    a bug and keeps its traceback, after the rollback."""
    undone = rollback()
    if outcome.interrupted is not None:
        raise outcome.interrupted
    first = outcome.failures[0][1]
    if not isinstance(first, DeployError):
        raise first
    raise DeployError(f"{outcome.message()}; {undone}") from first


def rollback_sentence(target: str, failures: list[tuple[Any, BaseException]], changes: int, result: Any) -> str:
    """What the report says after a rollback; marks `result` rolled back when every undo worked."""
    if failures:
        return f"rolling back failed, {target} holds part of this deploy: " + "; ".join(
            sorted(str(e) for _, e in failures)
        )
    result.status = "rolled back"
    return f"rolled back the {changes} change(s) it had started"


def naming(describe: Callable[[T], str], task: Callable[[T], object]) -> Callable[[T], object]:
    """The task, with its DeployError saying which object it is about (a transport error names a
    URL, and many requests share one: every dashboard is saved to /api/dashboards/db)."""

    def named(item: T) -> object:
        try:
            return task(item)
        except DeployError as e:
            what = describe(item)
            if what.split(" ", 1)[-1] in str(e):
                raise
            raise DeployError(f"{what}: {e}") from e

    return named


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _bar(length: int, label: str, show: bool) -> Any:
    """A click progress bar on stderr for long pushes (advanced by the main thread only)."""
    if not show or length < 10:
        return _NoBar()
    return click.progressbar(length=length, label=label, file=sys.stderr)
