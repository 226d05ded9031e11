"""The Alertmanager config as deploy handles it: read from the build, secrets resolved, compared
with what is live, and described without ever printing a value (a value may be a secret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vigil.deploy import rules, secrets
from vigil.deploy.plan import ADD, CHANGE, REMOVE, Change
from vigil.layout import ALERTMANAGER_CONFIG as CONFIG


def resolved(build: Path, env: Mapping[str, str]) -> str:
    return secrets.resolve((build / CONFIG).read_text(encoding="utf-8"), env, CONFIG)


def changes(live: dict[str, Any] | None, wanted: dict[str, Any]) -> list[Change]:
    """What differs, by receiver and by section: names only, never values."""
    if live is None:
        return [Change(ADD, "config", "alertmanager.yaml", [f"{len(wanted.get('receivers') or [])} receivers"])]
    out: list[Change] = []
    old = {r["name"]: r for r in live.get("receivers") or []}
    new = {r["name"]: r for r in wanted.get("receivers") or []}
    for name in sorted(set(new) | set(old)):
        if name not in old:
            out.append(Change(ADD, "receiver", name))
        elif name not in new:
            out.append(Change(REMOVE, "receiver", name))
        elif old[name] != new[name]:
            out.append(Change(CHANGE, "receiver", name))
    for section in sorted((set(live) | set(wanted)) - {"receivers"}):
        if live.get(section) != wanted.get(section):
            out.append(Change(CHANGE, "section", section))
    return out


# --- what Alertmanager reports as loaded -----------------------------------------------------------

_MATCHER_KEYS = {"matchers", "source_matchers", "target_matchers"}
SECRET = "<secret>"


def loaded_matches(ours: Any, live: Any, key: str = "") -> bool:
    """True when the config Alertmanager reports (/api/v2/status `config.original`) is ours.

    Alertmanager re-serialises what it loaded: it adds every default (http_config, templates of
    each receiver, global URLs), masks secrets as `<secret>` and quotes matchers its own way. So ours
    must be contained in it: every key we set is there with our value (a masked value matches any),
    lists have the same length and match item by item.
    """
    if isinstance(ours, dict):
        return isinstance(live, dict) and all(
            k in live and loaded_matches(v, live[k], k) for k, v in ours.items() if v not in (None, [], {})
        )
    if isinstance(ours, list):
        if not isinstance(live, list) or len(ours) != len(live):
            return False
        if key in _MATCHER_KEYS:
            return sorted(map(_matcher, ours)) == sorted(map(_matcher, live))
        return all(loaded_matches(a, b, key) for a, b in zip(ours, live))
    if live == SECRET:
        return True
    return _scalar(ours) == _scalar(live)


def _matcher(text: Any) -> str:
    return re.sub(r'[\s"]', "", str(text))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse(text: str) -> dict[str, Any]:
    return rules.load_yaml(text) or {}
