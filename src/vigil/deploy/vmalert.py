"""The vmalert target: rule files in VMALERT_RULES_DIR (which vmalert's `-rule` flag must cover),
`/-/reload`, then proof through `/api/v1/rules` that exactly the generated groups are loaded from
them (rule_files.py, shared with the Prometheus target), with the same rollback and prune.

vmalert reloads asynchronously: `/-/reload` only queues the reload and answers 200 whatever the
files hold. Every reload attempt increments `vmalert_config_last_reload_total` and a rejected one
`vmalert_config_last_reload_errors_total` (its log says why). An accepted one has no signal of its
own that can be relied on (the success timestamp has a resolution of a second and does not move
when nothing changed), so a reload here is: read the counters, ask, then poll (a bounded number of
times) until the attempt was rejected, or was made and vmalert's /api/v1/rules shows the rules of
vigil's files on disk, group for group and rule for rule, expression included. The count check
through /api/v1/rules that the Prometheus target also makes follows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from vigil.deploy import rules
from vigil.deploy.http import HttpSettings
from vigil.deploy.plan import Result
from vigil.deploy.rule_files import RuleFilesTarget
from vigil.errors import DeployError

POLLS, POLL_INTERVAL = 100, 0.1    # an upper bound on waiting for vmalert to act on the reload


@dataclass(frozen=True)
class ReloadState:
    total: float     # reload attempts
    errors: float    # rejected ones


class VmalertTarget(RuleFilesTarget):
    engine = "vmalert"
    dir_variable = "VMALERT_RULES_DIR"
    reads_dir = "vmalert's -rule flag"

    def __init__(self, url: str, rules_dir: Path, build: Path, http: HttpSettings | None = None,
                 auth_key: str | None = None):
        super().__init__(url, rules_dir, build, http or HttpSettings())
        # vmalert -reloadAuthKey: /-/reload then wants ?authKey=... (a secret: never in a message).
        self.auth_key = auth_key

    def reload(self, result: Result) -> None:
        before = self.reload_state()
        params = {"authKey": self.auth_key} if self.auth_key else None
        response = self.reloader.request("POST", "/-/reload", params=params)
        result.writes += 1
        if response.status_code in (401, 403):
            raise DeployError(f"vmalert refused /-/reload (HTTP {response.status_code}): set VMALERT_RELOAD_AUTH_KEY "
                              "to its -reloadAuthKey")
        if response.status_code != 200:
            raise DeployError(f"vmalert rejected the reload (HTTP {response.status_code}): "
                              f"{response.text.strip()[:1000]}")
        for _ in range(POLLS):
            now = self.reload_state()
            if now.errors > before.errors:
                raise DeployError("vmalert rejected the rule files (vmalert_config_last_reload_errors_total went up; "
                                  "its log says why: `cannot parse configuration file`)")
            if now.total > before.total and self.loaded_rules() == self.disk_rules():
                return
            time.sleep(POLL_INTERVAL)
        # Not settled (the directory is not under -rule, say): the caller's check says what differs.

    def disk_rules(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """{(file, group): [(rule name, expression)]} of vigil's files in the directory."""
        return {(name, str(g["name"])): [(str(r.get("record") or r.get("alert")), str(r["expr"]).strip())
                                          for r in g.get("rules") or []]
                for name, text in self.live_files().items() if rules.owned_file(name, text)
                for g in rules.groups_of(text)}

    def loaded_rules(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """The same, as vmalert's /api/v1/rules shows what it loaded from the directory."""
        body = self.api.expect(self.api.request("GET", "/api/v1/rules"), 200).json()
        return {key: [(str(r["name"]), str(r["query"]).strip()) for r in group.get("rules") or []]
                for group in body["data"]["groups"] if (key := self.ours(group)) is not None}

    def reload_state(self) -> ReloadState:
        text = self.api.expect(self.api.request("GET", "/metrics"), 200).text
        values = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
                  if s.name.startswith("vmalert_config_last_reload")}
        try:
            return ReloadState(values["vmalert_config_last_reload_total"],
                               values["vmalert_config_last_reload_errors_total"])
        except KeyError as e:
            raise DeployError(f"{self.url}/metrics has no {e.args[0]}: is VMALERT_URL a vmalert?") from e
