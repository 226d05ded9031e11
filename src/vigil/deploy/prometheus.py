"""The Prometheus target: rule files in PROMETHEUS_RULES_DIR, `POST /-/reload`, then proof
through `/api/v1/rules` that exactly the generated groups are loaded from them (rule_files.py,
shared with the vmalert target).

Prometheus reloads synchronously: the reply to /-/reload says whether the new files were accepted.
"""

from __future__ import annotations

from vigil.deploy.plan import Result
from vigil.deploy.rule_files import RuleFilesTarget
from vigil.errors import DeployError


class PrometheusTarget(RuleFilesTarget):
    engine = "Prometheus"
    dir_variable = "PROMETHEUS_RULES_DIR"
    reads_dir = "Prometheus's rule_files"

    def reload(self, result: Result) -> None:
        response = self.reloader.request("POST", "/-/reload")
        result.writes += 1
        if response.status_code == 403:
            raise DeployError("Prometheus refused /-/reload: start it with --web.enable-lifecycle")
        if response.status_code != 200:
            raise DeployError(f"Prometheus rejected the reload (HTTP {response.status_code}): {response.text.strip()[:1000]}")
