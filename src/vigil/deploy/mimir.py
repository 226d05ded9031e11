"""Mimir (or Cortex): the ruler's configuration API for the rules, one namespace per service, and
the Alertmanager configuration API for the routes. Every call carries the tenant (X-Scope-OrgID).

- Ruler: `GET <prefix>/config/v1/rules` lists the tenant's namespaces and groups (YAML; 404 when it
  has none), `POST <prefix>/config/v1/rules/{namespace}` sets one group (YAML body, 202),
  `DELETE <prefix>/config/v1/rules/{namespace}/{group}` removes one (202). A namespace is vigil's
  when every group in it is `vigil-<namespace>` or `vigil-<namespace>-baseline` (rules.py); prune
  deletes stale groups only there.
- Alertmanager: `GET /api/v1/alerts` (YAML `alertmanager_config` + `template_files`; 404 when none),
  `POST /api/v1/alerts` (201). The previous config is posted back if verification fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

from vigil.deploy import amconfig, rules
from vigil.deploy.http import Client, HttpSettings
from vigil.deploy.plan import ADD, CHANGE, REMOVE, Change, Plan, Result, progress
from vigil.errors import DeployError

PREFIX = "/prometheus"   # Mimir's default -http.prometheus-http-prefix
YAML = {"Content-Type": "application/yaml"}


def _client(address: str, tenant: str, http: HttpSettings) -> Client:
    return Client("Mimir", address, http, headers={"X-Scope-OrgID": tenant})


def _clean(data: Any) -> Any:
    """Drop empty fields: Mimir leaves out what is empty, and may add empty defaults."""
    if isinstance(data, dict):
        return {k: _clean(v) for k, v in data.items() if v not in (None, "", [], {})}
    if isinstance(data, list):
        return [_clean(v) for v in data]
    return data


class MimirRulerTarget:
    name = "mimir-ruler"

    def __init__(self, address: str, tenant: str, build: Path, http: HttpSettings = HttpSettings()):
        self.where = f"{address.rstrip('/')}{PREFIX}, tenant {tenant}"
        self.build = build
        self.api = _client(address, tenant, http)
        self.show_progress = False

    def wanted(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{namespace (the service): {group name: group}}."""
        return {name.removesuffix(".yaml"): {str(g["name"]): g for g in rules.groups_of(text)}
                for name, text in rules.built_files(self.build).items()}

    def live(self) -> dict[str, dict[str, dict[str, Any]]]:
        response = self.api.request("GET", f"{PREFIX}/config/v1/rules")
        if response.status_code == 404:     # "no rule groups found"
            return {}
        doc = rules.load_yaml(self.api.expect(response, 200).text) or {}
        return {ns: {str(g["name"]): g for g in groups or []} for ns, groups in doc.items()}

    def plan(self, prune: bool) -> Plan:
        plan = Plan(self.name, self.where)
        wanted, live = self.wanted(), self.live()
        owned = {ns for ns, groups in live.items() if groups and all(rules.owned_group(ns, g) for g in groups)}
        plan.owned_live = sum(len(live[ns]) for ns in owned)
        for ns, groups in sorted(wanted.items()):
            if ns in live and ns not in owned:
                plan.conflicts.append(f"namespace {ns} holds groups that are not vigil's "
                                      f"({', '.join(sorted(live[ns]))}): refusing to change it")
                continue
            for name, group in groups.items():
                current = live.get(ns, {}).get(name)
                if current is None:
                    plan.changes.append(Change(ADD, "rule group", f"{ns}/{name}"))
                elif _clean(current) != _clean(group):
                    plan.changes.append(Change(CHANGE, "rule group", f"{ns}/{name}"))
                else:
                    plan.unchanged += 1
        for ns in sorted(owned):
            for name in sorted(set(live[ns]) - set(wanted.get(ns, {}))):
                (plan.changes if prune else plan.stale).append(Change(REMOVE, "rule group", f"{ns}/{name}", pruned=True))
        return plan

    def apply(self, plan: Plan, result: Result) -> None:
        wanted = self.wanted()
        for change in progress(plan.changes, len(plan.changes), "mimir rule groups", self.show_progress):
            ns, name = change.name.split("/", 1)
            path = f"{PREFIX}/config/v1/rules/{quote(ns, safe='')}"
            if change.kind == REMOVE:
                self.api.expect(self.api.request("DELETE", f"{path}/{quote(name, safe='')}"), 202, 200)
            else:
                body = rules.dump_yaml(wanted[ns][name])
                self.api.expect(self.api.request("POST", path, data=body.encode(), headers=YAML), 202, 200)
            result.writes += 1
            result.applied.append(change)
        live = self.live()
        wrong = [c.name for c in plan.changes if _verify(c, live, wanted)]
        if wrong:
            raise DeployError(f"Mimir does not return what vigil set for {len(wrong)} group(s): {', '.join(wrong[:5])}")


def _verify(change: Change, live: dict[str, dict[str, Any]], wanted: dict[str, dict[str, Any]]) -> bool:
    """True when the group is not as the change left it."""
    ns, name = change.name.split("/", 1)
    current = live.get(ns, {}).get(name)
    if change.kind == REMOVE:
        return current is not None
    return current is None or _clean(current) != _clean(wanted[ns][name])


class MimirAlertmanagerTarget:
    name = "mimir-alertmanager"

    def __init__(self, address: str, tenant: str, build: Path, env: Mapping[str, str] = os.environ,
                 http: HttpSettings = HttpSettings()):
        self.where = f"{address.rstrip('/')}/api/v1/alerts, tenant {tenant}"
        self.build = build
        self.env = env
        self.api = _client(address, tenant, http)
        self._previous: dict[str, Any] | None = None

    def live(self) -> dict[str, Any] | None:
        response = self.api.request("GET", "/api/v1/alerts")
        if response.status_code == 404:
            return None
        return rules.load_yaml(self.api.expect(response, 200).text) or {}

    def plan(self, prune: bool) -> Plan:
        plan = Plan(self.name, self.where)
        wanted = amconfig.parse(amconfig.resolved(self.build, self.env))
        self._previous = self.live()
        current = amconfig.parse(self._previous["alertmanager_config"]) if self._previous else None
        plan.owned_live = 1 if current is not None else 0
        if current == wanted:
            plan.unchanged = 1
        else:
            plan.changes = amconfig.changes(current, wanted)
        return plan

    def apply(self, plan: Plan, result: Result) -> None:
        text = amconfig.resolved(self.build, self.env)
        self._post({"template_files": {}, "alertmanager_config": text}, result)
        result.applied += plan.changes
        live = self.live()
        if not live or amconfig.parse(live.get("alertmanager_config") or "") != amconfig.parse(text):
            if self._previous:
                self._post(self._previous, result)
            result.status = "rolled back"
            raise DeployError("Mimir's Alertmanager does not return the config vigil set; the previous one was posted back")

    def _post(self, doc: dict[str, Any], result: Result) -> None:
        body = rules.dump_yaml(doc)
        self.api.expect(self.api.request("POST", "/api/v1/alerts", data=body.encode(), headers=YAML), 201, 200)
        result.writes += 1
