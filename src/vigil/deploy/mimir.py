"""Mimir (or Cortex): the ruler's configuration API for the rules, one namespace per service, and
the Alertmanager configuration API for the routes. Every call carries the tenant (X-Scope-OrgID).

- Ruler: `GET <prefix>/config/v1/rules` lists the tenant's namespaces and groups (YAML; 404 when it
  has none), `POST <prefix>/config/v1/rules/{namespace}` sets one group (YAML body, 202),
  `DELETE <prefix>/config/v1/rules/{namespace}/{group}` removes one (202). A namespace is vigil's
  when every group in it is `vigil-<namespace>` or `vigil-<namespace>-baseline` (rules.py); prune
  deletes stale groups only there. Namespaces are pushed and read back by a bounded pool of workers
  (pool.py); a push that fails halfway, or a group that does not read back as set, rolls back every
  group the deploy changed, and nothing else. The plan parses the build's rule files in worker
  processes while it reads and parses the tenant's rules: for a thousand services each is seconds.
- Alertmanager: `GET /api/v1/alerts` (YAML `alertmanager_config` + `template_files`; 404 when none),
  `POST /api/v1/alerts` (201). The previous config is posted back if verification fails.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vigil import layout
from vigil.deploy import amconfig, pool, rules
from vigil.deploy.http import Client, HttpSettings
from vigil.deploy.plan import ADD, CHANGE, REMOVE, Change, Plan, Result
from vigil.errors import DeployError
from vigil.render.jsonnet import parallel_map

PREFIX = "/prometheus"  # Mimir's default -http.prometheus-http-prefix
YAML = {"Content-Type": "application/yaml"}
Groups = dict[str, dict[str, dict[str, Any]]]  # namespace → group name → group


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
        self.workers = http.workers
        self.api = _client(address, tenant, http)
        self.show_progress = False
        self._wanted: Groups | None = None
        self._live: Groups = {}  # as the plan read it: what a rollback restores

    def wanted(self) -> Groups:
        """{namespace (the service): {group name: group}}. Parsed once, for the plan and the apply:
        a thousand services are 15 MB of YAML, seconds of parsing."""
        if self._wanted is None:
            paths = sorted((self.build / layout.RULES_DIR).glob("*.yaml"))
            parsed = parallel_map(_parse_files, [str(path) for path in paths])
            self._wanted = {path.stem: groups for path, groups in zip(paths, parsed)}
        return self._wanted

    def live(self) -> Groups:
        response = self.api.request("GET", f"{PREFIX}/config/v1/rules")
        if response.status_code == 404:  # "no rule groups found"
            return {}
        doc = rules.load_yaml(self.api.expect(response, 200).text) or {}
        return {ns: {str(g["name"]): g for g in groups or []} for ns, groups in doc.items()}

    def namespace(self, ns: str) -> dict[str, dict[str, Any]]:
        """The groups of one namespace, as Mimir returns them now ({} when it has none)."""
        response = self.api.request("GET", _path(ns))
        if response.status_code == 404:
            return {}
        doc = rules.load_yaml(self.api.expect(response, 200).text) or {}
        return {str(g["name"]): g for g in doc.get(ns) or []}

    def plan(self, prune: bool) -> Plan:
        plan = Plan(self.name, self.where)
        with ThreadPoolExecutor(max_workers=1) as side:
            # The build's YAML is parsed by worker processes while this one reads and parses what
            # Mimir has: the two parses are most of a plan, and they need not take turns.
            pending = side.submit(self.wanted)
            live = self.live()
            wanted = pending.result()
        self._live = live
        owned = {ns for ns, groups in live.items() if groups and all(rules.owned_group(ns, g) for g in groups)}
        plan.owned_live = sum(len(live[ns]) for ns in owned)
        for ns, groups in sorted(wanted.items()):
            if ns in live and ns not in owned:
                plan.conflicts.append(
                    f"namespace {ns} holds groups that are not vigil's "
                    f"({', '.join(sorted(live[ns]))}): refusing to change it"
                )
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
                (plan.changes if prune else plan.stale).append(
                    Change(REMOVE, "rule group", f"{ns}/{name}", pruned=True)
                )
        return plan

    def apply(self, plan: Plan, result: Result) -> None:
        """Namespace by namespace in the pool: its groups set or deleted, then read back."""
        wanted = self.wanted()
        by_ns: dict[str, list[Change]] = {}
        for change in plan.changes:
            by_ns.setdefault(change.name.split("/", 1)[0], []).append(change)
        journal: pool.Journal[GroupUndo] = pool.Journal()

        def push(ns: str) -> None:
            for change in by_ns[ns]:
                name = change.name.split("/", 1)[1]
                ours = None if change.kind == REMOVE else wanted[ns][name]
                journal.intend(GroupUndo(ns, name, self._live.get(ns, {}).get(name), ours))
                if ours is None:
                    self.api.expect(self.api.request("DELETE", f"{_path(ns)}/{quote(name, safe='')}"), 202, 200)
                else:
                    self.api.expect(
                        self.api.request("POST", _path(ns), data=rules.dump_group(ours).encode(), headers=YAML),
                        202,
                        200,
                    )
                journal.wrote()
            live = self.namespace(ns)
            wrong = [c.name for c in by_ns[ns] if _verify(c, {ns: live}, wanted)]
            if wrong:
                raise DeployError(
                    f"Mimir does not return what vigil set for {len(wrong)} group(s): {', '.join(wrong[:5])}"
                )

        outcome = pool.run(
            list(by_ns),
            pool.naming(lambda ns: f"namespace {ns}", push),
            self.workers,
            label="mimir namespaces",
            show=self.show_progress,
        )
        finished = set(outcome.done)
        result.applied += [c for c in plan.changes if c.name.split("/", 1)[0] in finished]
        result.writes += journal.writes
        if outcome.failed:
            pool.fail_after(outcome, lambda: self.rollback(journal.intents, result))

    def rollback(self, intents: list[GroupUndo], result: Result) -> str:
        """Put back every group this deploy set or deleted, newest first, each only while it still
        holds what vigil wrote (read first: an intent whose write never happened costs no write;
        someone else's concurrent change is left alone and reported)."""
        by_ns: dict[str, list[GroupUndo]] = {}
        for undo in reversed(intents):
            by_ns.setdefault(undo.ns, []).append(undo)
        journal: pool.Journal[None] = pool.Journal()

        def undo_ns(ns: str) -> None:
            live = self.namespace(ns)
            for undo in by_ns[ns]:
                current = live.get(undo.name)
                if _same(current, undo.previous):
                    continue
                if not _same(current, undo.ours):
                    raise DeployError(
                        f"rule group {ns}/{undo.name} was changed by someone else during the deploy; left as it is"
                    )
                if undo.previous is None:
                    self.api.expect(self.api.request("DELETE", f"{_path(ns)}/{quote(undo.name, safe='')}"), 202, 200)
                else:
                    self.api.expect(
                        self.api.request(
                            "POST", _path(ns), data=rules.dump_group(undo.previous).encode(), headers=YAML
                        ),
                        202,
                        200,
                    )
                journal.wrote()

        failures = pool.run(
            sorted(by_ns), undo_ns, self.workers, label="mimir: rolling back", show=self.show_progress
        ).failures
        result.writes += journal.writes
        return pool.rollback_sentence("Mimir", failures, len(intents), result)


@dataclass(frozen=True)
class GroupUndo:
    ns: str
    name: str
    previous: dict[str, Any] | None  # as the plan read it; None: this deploy creates it
    ours: dict[str, Any] | None  # what this deploy sets; None: this deploy deletes it


def _parse_files(paths: list[str]) -> list[dict[str, dict[str, Any]]]:
    """Each rule file's groups by name (module-level: it runs in worker processes)."""
    return [{str(g["name"]): g for g in rules.groups_of(Path(path).read_text(encoding="utf-8"))} for path in paths]


def _path(ns: str) -> str:
    return f"{PREFIX}/config/v1/rules/{quote(ns, safe='')}"


def _same(live: dict[str, Any] | None, group: dict[str, Any] | None) -> bool:
    if live is None or group is None:
        return live is group
    return _clean(live) == _clean(group)


def _verify(change: Change, live: Groups, wanted: Groups) -> bool:
    """True when the group is not as the change left it."""
    ns, name = change.name.split("/", 1)
    current = live.get(ns, {}).get(name)
    if change.kind == REMOVE:
        return current is not None
    return current is None or _clean(current) != _clean(wanted[ns][name])


class MimirAlertmanagerTarget:
    name = "mimir-alertmanager"

    def __init__(
        self,
        address: str,
        tenant: str,
        build: Path,
        env: Mapping[str, str] = os.environ,
        http: HttpSettings = HttpSettings(),
    ):
        self.where = f"{address.rstrip('/')}/api/v1/alerts, tenant {tenant}"
        self.build = build
        self.env = env
        self.api = _client(address, tenant, http)
        self._previous: dict[str, Any] | None = None
        self.show_progress = False  # Target protocol; one config, nothing long to show

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
            raise DeployError(
                "Mimir's Alertmanager does not return the config vigil set; the previous one was posted back"
            )

    def _post(self, doc: dict[str, Any], result: Result) -> None:
        body = rules.dump_yaml(doc)
        self.api.expect(self.api.request("POST", "/api/v1/alerts", data=body.encode(), headers=YAML), 201, 200)
        result.writes += 1
