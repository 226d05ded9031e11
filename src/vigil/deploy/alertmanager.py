"""The Alertmanager target (file mode): ALERTMANAGER_CONFIG_FILE written with the `${ENV}` secrets
resolved (mode 0600), `POST /-/reload`, then proof through `/api/v2/status` that the loaded
config is ours. A rejected reload, or a loaded config that is not ours, restores the previous file
and reloads again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from vigil.deploy import amconfig
from vigil.deploy.http import Client, HttpSettings
from vigil.deploy.plan import Plan, Result
from vigil.deploy.secrets import write_private
from vigil.errors import DeployError


class AlertmanagerTarget:
    name = "alertmanager"

    def __init__(
        self,
        url: str,
        config_file: Path,
        build: Path,
        env: Mapping[str, str] = os.environ,
        http: HttpSettings = HttpSettings(),
    ):
        self.url = url.rstrip("/")
        self.config_file = Path(config_file)
        self.where = f"{self.url}, {self.config_file}"
        self.build = build
        self.env = env
        self.api = Client("Alertmanager", url, http)
        self.reloader = Client("Alertmanager", url, http, retry_status=False)
        self._text: str | None = None
        self.show_progress = False  # Target protocol; one config file, nothing long to show

    def wanted(self) -> str:
        if self._text is None:
            self._text = amconfig.resolved(self.build, self.env)
        return self._text

    def plan(self, prune: bool) -> Plan:
        plan = Plan(self.name, self.where)
        text = self.wanted()  # missing secrets fail here, before anything is pushed
        current = self.config_file.read_text(encoding="utf-8") if self.config_file.exists() else None
        plan.owned_live = 1 if current is not None else 0
        if current == text:
            plan.unchanged = 1
            plan.needs_reload = not self.loaded_is(text)
        else:
            plan.changes = (
                amconfig.changes(amconfig.parse(current) if current is not None else None, amconfig.parse(text)) or []
            )
            if not plan.changes:  # same config, other bytes (formatting, comments): still rewrite it
                plan.changes = amconfig.changes(None, amconfig.parse(text))
        return plan

    def apply(self, plan: Plan, result: Result) -> None:
        text = self.wanted()
        previous = self.config_file.read_text(encoding="utf-8") if self.config_file.exists() else None
        try:
            if plan.changes:
                write_private(self.config_file, text)
                result.writes += 1
                result.applied += plan.changes
            self.reload(result)
            if not self.loaded_is(text):
                raise DeployError("Alertmanager reloaded, but /api/v2/status does not report the config vigil wrote")
        except DeployError as e:
            if plan.changes and previous is None:
                self.config_file.unlink(missing_ok=True)
                result.writes += 1
            elif plan.changes and previous is not None:
                write_private(self.config_file, previous)
                result.writes += 1
                try:
                    self.reload(result)
                except DeployError as again:
                    raise DeployError(f"{e}; the previous file is restored but {again}") from e
            result.status = "rolled back"
            raise DeployError(f"{e}; the previous config was restored and reloaded") from e

    def reload(self, result: Result) -> None:
        response = self.reloader.request("POST", "/-/reload")
        result.writes += 1
        if response.status_code != 200:
            raise DeployError(
                f"Alertmanager rejected the reload (HTTP {response.status_code}): {response.text.strip()[:1000]}"
            )

    def loaded_is(self, text: str) -> bool:
        status = self.api.expect(self.api.request("GET", "/api/v2/status"), 200).json()
        original = (status.get("config") or {}).get("original") or ""
        return amconfig.loaded_matches(amconfig.parse(text), amconfig.parse(original))
