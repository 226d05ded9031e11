"""A backtest's results: per alerting rule, how often it would have fired, for how long, when first
and last; as text for people and as JSON (a list of objects, a contract users script against)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.backtest.evaluate import Window
from vigil.backtest.rules import AlertRule
from vigil.backtest.state import Firing
from vigil.backtest.timespec import format_time
from vigil.units import format_duration


@dataclass
class Result:
    rule: AlertRule
    firings: list[Firing]
    window: Window
    base: Result | None = None  # the same alert in the base catalog (vigil backtest --base)
    base_missing: bool = False  # the alert is new: the base catalog has no such rule

    def seconds(self) -> float:
        end = round(self.window.end * 1000)
        return sum(((f.resolved_at if f.resolved_at is not None else end) - f.fired_at) / 1000 for f in self.firings)

    def counts(self) -> dict[str, Any]:
        fired = [f.fired_at for f in self.firings]
        return {
            "firings": len(self.firings),
            "firing_seconds": self.seconds(),
            "first": format_time(min(fired) / 1000) if fired else None,
            "last": format_time(max(fired) / 1000) if fired else None,
        }

    def json(self) -> dict[str, Any]:
        r = self.rule
        out: dict[str, Any] = {
            "service": r.service,
            "alert": r.alert,
            "severity": r.severity,
            "kind": r.kind,
            "for_seconds": r.for_seconds,
            "interval_seconds": r.interval,
            **self.counts(),
            "intervals": [
                {
                    "labels": dict(f.labels),
                    "active_at": format_time(f.active_at / 1000),
                    "fired_at": format_time(f.fired_at / 1000),
                    "resolved_at": None if f.resolved_at is None else format_time(f.resolved_at / 1000),
                }
                for f in self.firings
            ],
        }
        if self.base is not None or self.base_missing:
            out["base"] = None if self.base is None else self.base.counts()
        return out


@dataclass
class Backtest:
    window: Window
    results: list[Result]
    queries: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def json(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.results]

    def text(self) -> str:
        head = ["service", "alert", "severity", "firings", "firing", "first fired", "last fired"]
        rows = []
        for r in self.results:
            c = r.counts()
            if not c["firings"] and (r.base is None or not r.base.firings):
                continue
            row = [
                r.rule.service,
                r.rule.alert,
                r.rule.severity,
                str(c["firings"]),
                format_duration(c["firing_seconds"]),
                c["first"] or "-",
                c["last"] or "-",
            ]
            if r.base is not None or r.base_missing:
                b = r.base.counts() if r.base else None
                row.append("new" if b is None else f"{b['firings']} ({format_duration(b['firing_seconds'])})")
            rows.append(row)
        if any(len(row) > len(head) for row in rows):
            head.append("base: firings (firing)")
        fired = sum(1 for r in self.results if r.firings)
        summary = (
            f"{format_time(self.window.start)} → {format_time(self.window.end)}: {fired} of "
            f"{len(self.results)} alerting rules would have fired "
            f"({self.queries} range {'query' if self.queries == 1 else 'queries'}, {self.seconds:.1f}s)"
        )
        lines = [summary]
        if rows:
            widths = [max(len(x) for x in col) for col in zip(head, *rows)]
            for row in [head, *rows]:
                lines.append("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip())
        return "\n".join(lines) + "\n"


def side_by_side(head: Sequence[Result], base: Sequence[Result]) -> list[Result]:
    """The head catalog's results, each with the same alert's (service, alert, severity) in base."""
    by_key = {r.rule.key: r for r in base}
    return [
        Result(r.rule, r.firings, r.window, base=by_key.get(r.rule.key), base_missing=r.rule.key not in by_key)
        for r in head
    ]
