"""Prometheus's alert state machine (rules/alerting.go, Eval), replayed over a series' presence.

At each evaluation of its group an alert's expression returns some series. A series that appears
makes an alert pending (activeAt = that evaluation); it fires at the first evaluation at which it
has been pending for `for` (ts - activeAt >= for; with `for: 0` at the same evaluation), and a
pending alert whose series disappears is dropped. A firing alert whose series disappears resolves
at that evaluation, unless `keep_firing_for` is set: then it stays firing until an evaluation at
least `keep_firing_for` after the first one that missed it, and a reappearing series carries on
the same firing. Timestamps are integer milliseconds, so steps compare exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Firing:
    labels: tuple[tuple[str, str], ...]
    active_at: int  # ms: the evaluation that made it pending
    fired_at: int  # ms: the evaluation at which it fired
    resolved_at: int | None  # ms: the evaluation at which it resolved; None while still firing at the end


def runs(present: Sequence[int], step: int) -> list[tuple[int, int]]:
    """Consecutive evaluations (step apart) at which the series was returned: [(first, last)]."""
    out: list[tuple[int, int]] = []
    for t in sorted(present):
        if out and t - out[-1][1] == step:
            out[-1] = (out[-1][0], t)
        elif not out or t != out[-1][1]:
            out.append((t, t))
    return out


def replay(
    labels: tuple[tuple[str, str], ...],
    present: Sequence[int],
    step: int,
    hold: float,
    keep_firing_for: float,
    last: int,
) -> list[Firing]:
    """The firings of one series, evaluated every `step` ms up to the evaluation at `last` ms."""
    hold_steps = math.ceil(hold * 1000 / step - 1e-9)
    keep_steps = math.ceil(keep_firing_for * 1000 / step - 1e-9)
    out: list[Firing] = []
    current: tuple[int, int, int] | None = None  # (active_at, fired_at, last evaluation that returned it)
    for first, end in runs(present, step):
        if current is not None:
            resolve = current[2] + step + keep_steps * step
            if first - step < resolve:  # kept firing across the gap: the same firing goes on
                current = (current[0], current[1], end)
                continue
            out.append(Firing(labels, current[0], current[1], resolve))
            current = None
        fire = first + hold_steps * step
        if fire <= end:
            current = (first, fire, end)
    if current is not None:
        resolve = current[2] + step + keep_steps * step
        out.append(Firing(labels, current[0], current[1], resolve if resolve <= last else None))
    return out
