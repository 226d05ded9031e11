"""A fake Mimir ruler and Alertmanager configuration API, per tenant, as Mimir documents them:

- every call needs `X-Scope-OrgID` (401 "no org id" without it);
- GET  /prometheus/config/v1/rules                      YAML {namespace: [group]}; 404 when none
- GET  /prometheus/config/v1/rules/{ns}                 YAML {ns: [group]}; 404 when none
- POST /prometheus/config/v1/rules/{ns}                 one group as YAML (Content-Type
  application/yaml), 202; 400 for a body that is not exactly one named group
- DELETE /prometheus/config/v1/rules/{ns}/{group}       202
- DELETE /prometheus/config/v1/rules/{ns}               202
- GET  /api/v1/alerts   YAML {template_files, alertmanager_config}; 404 when none
- POST /api/v1/alerts   201; 400 when alertmanager_config is missing or has no route
- DELETE /api/v1/alerts 200

A real Mimir answers in microseconds of CPU. This one parses each posted group once, outside its
lock, and keeps each stored group's serialisation, so that listing a thousand namespaces joins
stored text instead of running PyYAML's emitter over 15 MB (seconds, which a benchmark would
otherwise charge to the client). The stored text is the group as a JSON flow mapping: JSON is
YAML, and json.dumps is ten times faster than yaml.dump.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from fakes.base import FakeServer, Reply, Request

P = "/prometheus/config/v1/rules"
L: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
D: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml(data: Any, status: int = 200) -> Reply:
    return Reply(status, yaml.dump(data, Dumper=D, sort_keys=False), "application/yaml")


def _group(body: bytes) -> tuple[Any, str]:
    """A posted rule group, parsed, and its stored serialisation (outside the lock)."""
    group = yaml.load(body, Loader=L)
    return group, _flow(group) if isinstance(group, dict) else ""


def _flow(group: dict[str, Any]) -> str:
    """One line of YAML: JSON where JSON reads back the same in YAML (printable text, JSON types),
    else PyYAML's flow style."""
    try:
        text = json.dumps(group, ensure_ascii=False)
        if text.isprintable():
            return text
    except (TypeError, ValueError):
        pass
    return yaml.dump(group, Dumper=D, default_flow_style=True, width=1 << 30).rstrip("\n")


class FakeMimir(FakeServer):
    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.rules: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # tenant → ns → group name → group
        # (tenant, namespace, group name) → (the stored group, its text)
        self.texts: dict[tuple[str, str, str], tuple[dict[str, Any], str]] = {}
        self.alertmanager: dict[str, dict[str, Any]] = {}  # tenant → config doc
        r = self.route
        r("GET", P, self.list_all)
        r("GET", P + "/(?P<ns>[^/]+)", self.list_ns)
        r("POST", P + "/(?P<ns>[^/]+)", self.set_group, _group)
        r("DELETE", P + "/(?P<ns>[^/]+)/(?P<group>[^/]+)", self.delete_group)
        r("DELETE", P + "/(?P<ns>[^/]+)", self.delete_ns)
        r("GET", "/api/v1/alerts", self.get_am)
        r("POST", "/api/v1/alerts", self.set_am)
        r("DELETE", "/api/v1/alerts", self.delete_am)

    def authorised(self, request: Request) -> bool:
        return bool(request.headers.get("X-Scope-OrgID"))

    def dispatch(self, request: Request) -> Reply | None:
        reply = super().dispatch(request)
        if reply is not None and reply.status == 401:
            reply.body, reply.content_type = "no org id\n", "text/plain"
        return reply

    def _tenant(self, request: Request) -> dict[str, dict[str, dict[str, Any]]]:
        return self.rules.setdefault(request.headers["X-Scope-OrgID"], {})

    def _listing(self, request: Request, namespaces: list[str]) -> Reply | None:
        """{namespace: [group]} as YAML, from the stored text of each group; None when empty."""
        tenant, rules = request.headers["X-Scope-OrgID"], self._tenant(request)
        lines = []
        for ns in namespaces:
            if rules.get(ns):
                lines.append(json.dumps(ns) + ":")
                lines += ["- " + self._text(tenant, ns, name, group) for name, group in rules[ns].items()]
        return Reply(200, "\n".join(lines) + "\n", "application/yaml") if lines else None

    def _text(self, tenant: str, ns: str, name: str, group: dict[str, Any]) -> str:
        # Keyed by the stored object itself, so a group a test put into `rules` directly is
        # serialised afresh rather than answered from a stale text.
        cached = self.texts.get((tenant, ns, name))
        if cached is None or cached[0] is not group:
            cached = self.texts[(tenant, ns, name)] = (group, _flow(group))
        return cached[1]

    def list_all(self, request: Request, _: re.Match[str]) -> Reply:
        return self._listing(request, list(self._tenant(request))) or Reply(404, "no rule groups found\n", "text/plain")

    def list_ns(self, request: Request, m: re.Match[str]) -> Reply:
        return self._listing(request, [m["ns"]]) or Reply(404, "no rule groups found\n", "text/plain")

    def set_group(self, request: Request, m: re.Match[str]) -> Reply:
        if "yaml" not in request.headers.get("Content-Type", ""):
            return Reply(400, {"status": "error", "error": "unsupported content type"})
        if request.error is not None:
            return Reply(400, {"status": "error", "error": str(request.error)})
        group, text = request.data or (None, "")
        if not isinstance(group, dict) or not group.get("name") or "groups" in group:
            return Reply(400, {"status": "error", "error": "the body must be exactly one rule group"})
        self._tenant(request).setdefault(m["ns"], {})[group["name"]] = group
        self.texts[(request.headers["X-Scope-OrgID"], m["ns"], group["name"])] = (group, text)
        return Reply(202, {"status": "success", "data": None, "errorType": "", "error": ""})

    def delete_group(self, request: Request, m: re.Match[str]) -> Reply:
        groups = self._tenant(request).get(m["ns"], {})
        if groups.pop(m["group"], None) is None:
            return Reply(404, "rule group does not exist\n", "text/plain")
        return Reply(202, {"status": "success"})

    def delete_ns(self, request: Request, m: re.Match[str]) -> Reply:
        self._tenant(request).pop(m["ns"], None)
        return Reply(202, {"status": "success"})

    def get_am(self, request: Request, _: re.Match[str]) -> Reply:
        doc = self.alertmanager.get(request.headers["X-Scope-OrgID"])
        return _yaml(doc) if doc else Reply(404, "alertmanager config not found\n", "text/plain")

    def set_am(self, request: Request, _: re.Match[str]) -> Reply:
        doc = yaml.load(request.body, Loader=L) or {}
        config = yaml.load(doc.get("alertmanager_config") or "", Loader=L) if isinstance(doc, dict) else None
        if not isinstance(config, dict) or "route" not in config:
            return Reply(400, "error validating Alertmanager config: no route provided\n", "text/plain")
        self.alertmanager[request.headers["X-Scope-OrgID"]] = doc
        return Reply(201, "")

    def delete_am(self, request: Request, _: re.Match[str]) -> Reply:
        self.alertmanager.pop(request.headers["X-Scope-OrgID"], None)
        return Reply(200, "")
