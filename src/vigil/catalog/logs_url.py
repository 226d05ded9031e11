"""`logs_url:` in vigil.yaml: the link a postmortem draft gives to the logs of its window.

Logs are not in Prometheus, so the draft cannot quote them; it writes a ready link to the team's
log search instead. The template may use only the placeholders below, each URL-encoded when filled.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from urllib.parse import quote

from vigil.catalog.load import Document
from vigil.errors import Problem

# from/to: RFC 3339 UTC; from_ms/to_ms: epoch milliseconds (Grafana Explore, Kibana's epoch_millis).
PLACEHOLDERS = ("service", "owner", "from", "to", "from_ms", "to_ms")


def _fields(template: str) -> list[str]:
    """The placeholders of a template; ValueError for a stray brace."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def check(settings: Document) -> list[Problem]:
    """Unknown or malformed placeholders in `logs_url`, with its line."""
    template = settings.data.get("logs_url") if isinstance(settings.data, dict) else None
    if not isinstance(template, str):
        return []
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        names = _fields(template)
    except ValueError as e:
        return [settings.problem(("logs_url",), f"{e} (write a literal brace as {{{{ or }}}}; placeholders: {known})")]
    return [
        settings.problem(("logs_url",), f"unknown placeholder {{{name}}}: use {known}")
        for name in dict.fromkeys(names)
        if name not in PLACEHOLDERS
    ]


def link(template: str, service: str, owner: str, start: float, end: float) -> str:
    """The template filled for one service and window (validated templates only)."""

    def rfc3339(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    values = {
        "service": service,
        "owner": owner,
        "from": rfc3339(start),
        "to": rfc3339(end),
        "from_ms": str(round(start * 1000)),
        "to_ms": str(round(end * 1000)),
    }
    return template.format(**{k: quote(v, safe="") for k, v in values.items()})
