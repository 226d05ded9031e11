"""Times on the command line: RFC 3339 (`2026-11-27T03:00:00Z`), or relative to now (`-2h`, `-7d`, `now`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from vigil import units


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds; ValueError naming the accepted forms."""
    now = time.time() if now is None else now
    s = text.strip()
    if s == "now":
        return now
    if s.startswith("-"):
        try:
            return now - units.parse_duration(s[1:])
        except ValueError:
            raise ValueError(
                f"{text!r}: expected RFC 3339 (2026-11-27T03:00:00Z), now, or -<duration> (-2h, -7d)"
            ) from None
    try:
        parsed = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r}: expected RFC 3339 (2026-11-27T03:00:00Z), now, or -<duration> (-2h, -7d)"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r}: RFC 3339 needs a time zone (Z or +09:00)")
    return parsed.timestamp()


def format_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
