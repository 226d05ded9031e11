"""Cross-reference checks of departments.yaml: who is told what, through which channel, when.

Runs after the JSON Schema has passed, so the structure is known to be right. Everything the
Alertmanager generator relies on is checked here, so that a bad file fails with `file:line` instead
of an amtool message about a generated file the user never wrote.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any
from urllib.parse import urlparse

from vigil.catalog.load import Document, PathKey
from vigil.catalog.schema import did_you_mean
from vigil.errors import Problem

# The oldest Alertmanager vigil generates for: `time_intervals` with a `location` and the
# PagerDuty/SMTP `*_file` secrets all arrived in 0.25.
MIN_VERSION = (0, 25)
DEFAULT_VERSION = "0.25"

# Fields that hold a credential. They may only come from a file or a ${ENV} reference, so that no
# secret is ever committed to the catalog or written to output/. (A webhook URL may stand inline:
# most are internal endpoints; one that embeds a token belongs in url_file or ${ENV}.)
SECRET_FIELDS = {
    "slack": ("api_url",),
    "pagerduty": ("routing_key", "service_key"),
    "opsgenie": ("api_key",),
    "email": ("auth_password",),
    "msteams": ("webhook_url",),
}
# Per kind: the fields of which exactly one must be given (where the notification goes).
TARGET_FIELDS = {
    "webhook": ("url", "url_file"),
    "slack": ("api_url", "api_url_file"),
    "pagerduty": ("routing_key", "routing_key_file", "service_key", "service_key_file"),
    "opsgenie": ("api_key", "api_key_file"),
    "msteams": ("webhook_url", "webhook_url_file"),
}
# Fields newer than MIN_VERSION: (kind, field or None for the whole kind) → (version, why).
NEEDS_VERSION = {
    ("webhook", "url_file"): ((0, 26), "webhook url_file"),
    ("msteams", None): ((0, 28), "msteams (Teams Workflows, msteamsv2_configs)"),
}
URL_FIELDS = ("url", "api_url", "webhook_url")

ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ENV_REF = re.compile(r"\$\{" + ENV_NAME + r"\}")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


def is_env_reference(value: Any) -> bool:
    """The whole value is one `${NAME}` reference (what a secret field may hold)."""
    return isinstance(value, str) and re.fullmatch(r"\$\{" + ENV_NAME + r"\}", value) is not None


def parse_version(text: str) -> tuple[int, int] | None:
    m = _VERSION.match(text)
    return (int(m[1]), int(m[2])) if m else None


def catch_all(data: dict[str, Any]) -> tuple[str, str] | None:
    """(department, channel) that hears what no propagation line takes: `catch_all:` when given,
    else the first operations department (by id), through its `chat` channel or its only one."""
    if "catch_all" in data:
        return data["catch_all"]["department"], data["catch_all"]["channel"]
    ops = sorted((d for d in data["departments"] if d["role"] == "operations"), key=lambda d: d["id"])
    if not ops:
        return None
    channels = ops[0]["channels"]
    if "chat" in channels:
        return ops[0]["id"], "chat"
    return (ops[0]["id"], next(iter(channels))) if len(channels) == 1 else None


def _check_version(doc: Document, problems: list[Problem]) -> tuple[int, int]:
    if "alertmanager_version" not in doc.data:
        return MIN_VERSION
    text = doc.data["alertmanager_version"]
    version = parse_version(text)
    if version is None:
        problems.append(doc.problem(("alertmanager_version",), f'\'{text}\' is not a version such as "0.25" or "0.28"'))
        return MIN_VERSION
    if version < MIN_VERSION:
        problems.append(
            doc.problem(
                ("alertmanager_version",),
                f"vigil generates for Alertmanager {MIN_VERSION[0]}.{MIN_VERSION[1]} or later; got {text}",
            )
        )
    return version


def _check_intervals(doc: Document, problems: list[Problem]) -> None:
    for name, spec in (doc.data.get("time_intervals") or {}).items():
        specs = spec if isinstance(spec, list) else [spec]
        for i, one in enumerate(specs):
            base: PathKey = ("time_intervals", name, i) if isinstance(spec, list) else ("time_intervals", name)
            for j, times in enumerate(one.get("times") or []):
                start, end = times.split("-")
                minutes = [int(t[:2]) * 60 + int(t[3:]) for t in (start, end)]
                if not (0 <= minutes[0] < minutes[1] <= 24 * 60) or int(start[3:]) > 59 or int(end[3:]) > 59:
                    problems.append(
                        doc.problem(
                            base + ("times", j),
                            f"'{times}' is not a range of the day: HH:MM-HH:MM, start before end, at most 24:00",
                        )
                    )
            if "location" in one:
                try:
                    zoneinfo.ZoneInfo(one["location"])
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    problems.append(
                        doc.problem(
                            base + ("location",),
                            f"unknown time zone '{one['location']}'; use an IANA name such as Asia/Seoul or Europe/Berlin",
                        )
                    )


def _check_value(doc: Document, path: PathKey, field: str, value: Any, secret: bool, problems: list[Problem]) -> None:
    """One channel or smtp field: secrets only as a file or ${ENV}; ${...} well formed; URLs real."""
    if not isinstance(value, str):
        return
    if secret and not is_env_reference(value):
        problems.append(
            doc.problem(
                path,
                f"a secret must not be written in the catalog; use {field}_file, "
                "or a ${ENV} reference resolved at deploy time",
            )
        )
        return
    if "${" in _ENV_REF.sub("", value):
        problems.append(doc.problem(path, "malformed ${ENV} reference; write ${NAME} with letters, digits and '_'"))
    elif field.endswith("_file") and not value.startswith("/") and not _ENV_REF.match(value):
        problems.append(
            doc.problem(path, f"'{value}' must be an absolute path (Alertmanager reads it when it notifies)")
        )
    elif field in URL_FIELDS and not _ENV_REF.search(value):
        url = urlparse(value)
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(doc.problem(path, f"'{value}' is not an http(s) URL"))


def _check_channels(
    doc: Document, i: int, dept: dict[str, Any], version: tuple[int, int], problems: list[Problem]
) -> None:
    for cname, channel in dept["channels"].items():
        for kind, conf in channel.items():
            base: PathKey = ("departments", i, "channels", cname, kind)
            for field, value in conf.items():
                _check_value(doc, base + (field,), field, value, field in SECRET_FIELDS.get(kind, ()), problems)
            for (k, f), (need, what) in NEEDS_VERSION.items():
                if k == kind and (f is None or f in conf) and version < need:
                    v = f"{need[0]}.{need[1]}"
                    problems.append(
                        doc.problem(
                            base + ((f,) if f else ()),
                            f"{what} needs Alertmanager {v} or later; this catalog targets {version[0]}.{version[1]} "
                            f'(set alertmanager_version: "{v}" at the top of departments.yaml)',
                        )
                    )
            targets = TARGET_FIELDS.get(kind, ())
            given = [f for f in targets if f in conf]
            if targets and len(given) != 1:
                what = "one of: " + ", ".join(targets) if not given else f"only one of {', '.join(given)}"
                problems.append(doc.problem(base, f"{kind} needs {what}"))


def _check_departments(doc: Document, version: tuple[int, int], problems: list[Problem]) -> dict[str, dict[str, Any]]:
    data = doc.data
    depts: dict[str, dict[str, Any]] = {}
    intervals = data.get("time_intervals") or {}
    for i, dept in enumerate(data["departments"]):
        if dept["id"] in depts:
            problems.append(doc.problem(("departments", i, "id"), f"duplicate department '{dept['id']}'"))
        if dept["id"] == "owner":
            problems.append(
                doc.problem(
                    ("departments", i, "id"),
                    "'owner' is reserved: in propagation it means the service's owning department",
                )
            )
        depts[dept["id"]] = dept
        hours = dept.get("active_hours")
        for j, name in enumerate(hours if isinstance(hours, list) else [hours] if hours else []):
            if name not in intervals:
                path: PathKey = (
                    ("departments", i, "active_hours", j)
                    if isinstance(hours, list)
                    else ("departments", i, "active_hours")
                )
                known = (
                    f"; defined: {', '.join(sorted(intervals))}" if intervals else "; define it under time_intervals"
                )
                problems.append(
                    doc.problem(path, f"unknown time interval '{name}'{did_you_mean(name, intervals)}{known}")
                )
        _check_channels(doc, i, dept, version, problems)
    return depts


def _check_propagation(
    doc: Document, depts: dict[str, dict[str, Any]], owners: list[str], problems: list[Problem]
) -> None:
    for i, policy in enumerate(doc.data.get("propagation") or []):
        notify = policy["notify"] if isinstance(policy["notify"], list) else [policy["notify"]]
        for j, target in enumerate(notify):
            path: PathKey = (
                ("propagation", i, "notify", j) if isinstance(policy["notify"], list) else ("propagation", i, "notify")
            )
            if target == "owner":
                for o in [o for o in owners if policy["channel"] not in depts[o]["channels"]]:
                    problems.append(
                        doc.problem(
                            ("propagation", i, "channel"),
                            f"department '{o}' owns services but has no channel '{policy['channel']}'",
                        )
                    )
            elif target not in depts:
                problems.append(
                    doc.problem(path, f"unknown department '{target}'{did_you_mean(target, list(depts) + ['owner'])}")
                )
            elif policy["channel"] not in depts[target]["channels"]:
                have = ", ".join(sorted(depts[target]["channels"]))
                problems.append(
                    doc.problem(
                        ("propagation", i, "channel"),
                        f"department '{target}' has no channel '{policy['channel']}' (it has: {have})"
                        f"{did_you_mean(policy['channel'], depts[target]['channels'])}",
                    )
                )


def _check_catch_all(doc: Document, depts: dict[str, dict[str, Any]], problems: list[Problem]) -> None:
    data = doc.data
    found = catch_all(data)
    if found is None:
        path: PathKey = ("departments",)
        problems.append(
            doc.problem(
                path,
                "no catch-all receiver: alerts that no propagation line takes would be "
                "dropped; add a department with role operations and a `chat` channel, or set catch_all: {department, channel}",
            )
        )
        return
    dept, channel = found
    if dept not in depts:
        problems.append(
            doc.problem(("catch_all", "department"), f"unknown department '{dept}'{did_you_mean(dept, depts)}")
        )
    elif channel not in depts[dept]["channels"]:
        have = ", ".join(sorted(depts[dept]["channels"]))
        problems.append(
            doc.problem(("catch_all", "channel"), f"department '{dept}' has no channel '{channel}' (it has: {have})")
        )
    elif depts[dept].get("active_hours"):
        i = next(k for k, d in enumerate(data["departments"]) if d["id"] == dept)
        problems.append(
            doc.problem(
                ("departments", i, "active_hours"),
                f"'{dept}' is the catch-all (it hears what no other route takes) and must be told at any hour; "
                "remove active_hours or choose another catch_all",
            )
        )


def check(doc: Document, services: list[Document]) -> list[Problem]:
    """Every problem of a schema-valid departments.yaml, given the schema-valid services."""
    data = doc.data
    problems: list[Problem] = []
    version = _check_version(doc, problems)
    _check_intervals(doc, problems)
    depts = _check_departments(doc, version, problems)
    for field, value in (data.get("smtp") or {}).items():
        _check_value(doc, ("smtp", field), field, value, field == "auth_password", problems)
    owners = sorted({s.data["owner"] for s in services if s.data["owner"] in depts})
    _check_propagation(doc, depts, owners, problems)
    _check_catch_all(doc, depts, problems)
    return problems
