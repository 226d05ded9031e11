"""Cross-reference checks of departments.yaml: who is told what, through which channel, when.

Runs after the JSON Schema has passed, so the structure is known to be right.
"""

from __future__ import annotations

from typing import Any

from vigil.catalog.load import Document
from vigil.catalog.schema import did_you_mean
from vigil.errors import Problem

# Fields that hold a credential. They may only come from a file or a ${ENV} reference, so that no
# secret is ever committed to the catalog or written to output/.
SECRET_FIELDS = {
    "slack": ("api_url",),
    "pagerduty": ("routing_key", "service_key"),
    "opsgenie": ("api_key",),
    "email": ("auth_password",),
    "msteams": ("webhook_url",),
}


def is_env_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}") and len(value) > 3


def check(doc: Document, services: list[Document]) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []
    depts: dict[str, dict[str, Any]] = {}
    for i, dept in enumerate(data["departments"]):
        if dept["id"] in depts:
            problems.append(doc.problem(("departments", i, "id"), f"duplicate department '{dept['id']}'"))
        depts[dept["id"]] = dept
        intervals = data.get("time_intervals") or {}
        if "active_hours" in dept and dept["active_hours"] not in intervals:
            problems.append(doc.problem(("departments", i, "active_hours"),
                f"unknown time interval '{dept['active_hours']}'{did_you_mean(dept['active_hours'], intervals)}"))
        for cname, channel in dept["channels"].items():
            for kind, conf in channel.items():
                for secret in SECRET_FIELDS.get(kind, ()):
                    if secret in conf and not is_env_reference(conf[secret]):
                        problems.append(doc.problem(("departments", i, "channels", cname, kind, secret),
                            f"a secret must not be written in the catalog; use {secret}_file, or a ${{ENV}} reference resolved at deploy time"))
    owners = sorted({s.data["owner"] for s in services if s.data["owner"] in depts})
    for i, policy in enumerate(data.get("propagation") or []):
        notify = policy["notify"] if isinstance(policy["notify"], list) else [policy["notify"]]
        for j, target in enumerate(notify):
            path = ("propagation", i, "notify", j) if isinstance(policy["notify"], list) else ("propagation", i, "notify")
            if target == "owner":
                missing = [o for o in owners if policy["channel"] not in depts[o]["channels"]]
                for o in missing:
                    problems.append(doc.problem(("propagation", i, "channel"),
                        f"department '{o}' owns services but has no channel '{policy['channel']}'"))
            elif target not in depts:
                problems.append(doc.problem(path, f"unknown department '{target}'{did_you_mean(target, list(depts) + ['owner'])}"))
            elif policy["channel"] not in depts[target]["channels"]:
                have = ", ".join(sorted(depts[target]["channels"]))
                problems.append(doc.problem(("propagation", i, "channel"),
                    f"department '{target}' has no channel '{policy['channel']}' (it has: {have}){did_you_mean(policy['channel'], depts[target]['channels'])}"))
    return problems
