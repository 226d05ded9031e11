"""Alertmanager: render the routing config and the cases that prove it, and check both with amtool.

- `output/alertmanager/alertmanager.yaml` comes from generators/alertmanager.jsonnet.
- `output/alertmanager/routes.test.yaml` gives, for every service and severity (and alert kind),
  the labels its alerts really carry and the receivers that must get them. The receivers are
  worked out here, in Python, by applying the propagation policy to the alert's labels; the tree
  is built in Jsonnet from label matchers. Two independent derivations of the same policy, so a
  bug in either shows up as a failing case.
- The checks run the real `amtool check-config` and `amtool config routes test --verify.receivers`.
"""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vigil.amrefs import shaped
from vigil.model import Model, Service
from vigil.render import HEADER, Artefacts, Cache, evaluate, to_yaml
from vigil.stack import tools

if TYPE_CHECKING:  # check.py lists check_alertmanager among its checks: no import cycle at run time
    from vigil.check import CheckReport

CONFIG = "alertmanager/alertmanager.yaml"
CASES = "alertmanager/routes.test.yaml"
SEVERITIES = ("critical", "warning", "info")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The routing cases hold only strings (label values, receivers): BaseLoader reads every scalar as
# a string and skips PyYAML's type resolution, a third of the time for 9000 cases; libyaml's
# parser when present.
_CasesLoader: type = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_TARGET = re.compile(r"^# Written for Alertmanager (\S+) or later", re.M)


def owners(model: Model) -> list[str]:
    """The departments that own services: `notify: owner` gives each of them a route."""
    return sorted({s["owner"] for s in model["services"]})


def policy_receivers(departments: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """The receivers the propagation lines send an alert with these labels to, in the order of the
    lines (which is the order of the tree, and so of amtool's answer)."""
    out = []
    for policy in departments["propagation"]:
        if labels.get("severity") not in policy["severity"]:
            continue
        if any(labels.get(label) not in values for label, values in policy["when"].items()):
            continue
        for target in policy["notify"]:
            out.append(f"{labels['team'] if target == 'owner' else target}/{policy['channel']}")
    return out


def expected_receivers(departments: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Where the alert must go: the policy's receivers, or the catch-all when no line applies."""
    return policy_receivers(departments, labels) or [departments["catch_all"]["receiver"]]


def service_alerts(service: Service) -> list[dict[str, str]]:
    """The labels (alertname included) of every alert generators/prometheus.jsonnet gives the
    service. Worked out from the model, not by parsing the rendered rules (a thousand services'
    rules take many seconds to parse); tests/test_alertmanager.py proves the two agree."""
    def alert(name: str, severity: str, key_metric: str, kind: str, **extra: str) -> dict[str, str]:
        return {**service["labels"], "alertname": name, "severity": severity, "key_metric": key_metric,
                "kind": kind, **extra}

    out = [alert("ServiceDown", "critical", "up", "absent")]
    for m in service["metrics"]:
        suffix = "High" if m["direction"] == "above" else "Low"
        out += [alert(m["camel"] + suffix, t["severity"], m["id"], "threshold") for t in m["thresholds"]]
        if m["trend"]:
            out.append(alert(m["camel"] + "Trending" + suffix, "warning", m["id"], "trend"))
        if m["anomaly"]:
            out.append(alert(m["camel"] + "Anomaly", "warning", m["id"], "anomaly"))
        if m["absent"]:
            out.append(alert(m["camel"] + "Absent", "warning", m["id"], "absent"))
    for slo in service["slos"]:
        out += [alert(slo["camel"] + "ErrorBudgetBurn", burn["severity"], slo["name"], "slo_burn", slo=slo["name"])
                for burn in slo["alerts"]]
    return out


def service_cases(service: Service, departments: dict[str, Any]) -> list[dict[str, Any]]:
    """One case per severity and alert kind of the service (routes may match `kind`), with the
    labels of its first such alert by name. A severity none of its alerts has still gets a case,
    with the service's labels, so the file shows where such an alert would go."""
    alerts = sorted(service_alerts(service), key=lambda a: sorted(a.items()))
    cases = []
    for severity in SEVERITIES:
        by_kind: dict[str, dict[str, str]] = {}
        for labels in alerts:
            if labels["severity"] == severity:
                by_kind.setdefault(labels["kind"], labels)
        picked = [(f"{service['name']} {severity} {kind} ({labels['alertname']})", labels)
                  for kind, labels in sorted(by_kind.items())]
        if not picked:
            picked = [(f"{service['name']} {severity} (no such alert yet)", {**service["labels"], "severity": severity})]
        for title, labels in picked:
            labels = dict(sorted(labels.items()))
            cases.append({"name": title, "labels": labels, "receivers": expected_receivers(departments, labels)})
    return cases


def render(model: Model, cache: Cache, parsed: dict[str, Any] | None = None) -> Artefacts:
    """alertmanager.yaml and routes.test.yaml. The routing cases document also goes to `parsed`
    (when rendered, not cached), so that the check does not parse its megabytes back."""
    departments, settings = model["departments"], model["settings"]

    def config() -> Artefacts:
        doc = shaped(evaluate("alertmanager.jsonnet", departments=departments, owners=owners(model), settings=settings))
        version = departments["alertmanager_version"]
        note = (f"# Written for Alertmanager {version} or later (alertmanager_version in departments.yaml).\n"
                "# ${NAME} references are resolved by `vigil deploy`; *_file paths are read by Alertmanager.\n")
        return {CONFIG: HEADER + note + to_yaml(doc)[len(HEADER):]}

    def cases() -> Artefacts:
        doc = {"cases": [c for s in model["services"] for c in service_cases(s, departments)]}
        if parsed is not None:
            parsed[CASES] = doc
        return {CASES: to_yaml(doc)}

    return {**cache.get_or_render(["alertmanager", departments, owners(model), settings], config),
            **cache.get_or_render(["routes", departments, model["services"]], cases)}


# --- check -------------------------------------------------------------------------------------

def _placeholder(key: str, value: str) -> str:
    """A harmless value of the right shape for a ${NAME} reference, so amtool can parse the config
    it will be once deploy resolved it (amtool rejects `${X}` where it wants a URL or host:port)."""
    whole = _ENV.fullmatch(value)
    if not whole:
        return _ENV.sub("placeholder", value)
    if key.endswith("url"):
        return f"http://placeholder.invalid/{whole[1]}"
    if key.endswith("smarthost"):
        return "placeholder.invalid:25"
    if key.endswith(("from", "to")):
        return "placeholder@placeholder.invalid"
    return f"placeholder-{whole[1]}"


def checkable(data: Any, key: str = "") -> Any:
    """The config with every ${NAME} reference replaced by a placeholder. `*_file` paths stay:
    amtool 0.25 does not open them (Alertmanager reads them when it sends a notification)."""
    if isinstance(data, dict):
        return {k: checkable(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [checkable(v, key) for v in data]
    return _placeholder(key, data) if isinstance(data, str) and "${" in data else data


def matched_labels(route: dict[str, Any]) -> set[str] | None:
    """Every label name some route of the tree matches on, or None if one cannot be parsed.
    Routing depends on nothing else, so cases that agree on these labels route alike."""
    names: set[str] = set()
    for matcher in route.get("matchers") or []:
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)", matcher)
        if not m:
            return None
        names.add(m[1])
    names.update(route.get("match") or {}, route.get("match_re") or {})
    for child in route.get("routes") or []:
        more = matched_labels(child)
        if more is None:
            return None
        names |= more
    return names


def _amtool_hint(config_text: str) -> str:
    target = _TARGET.search(config_text)
    have = tools.versions(["amtool"])["amtool"]
    return (f"\n(amtool is `{have}`; this config is written for Alertmanager {target[1]} or later. "
            "An older amtool does not know newer fields: install a matching one.)" if target else "")


def check_alertmanager(out: Path, report: CheckReport) -> None:
    """amtool check-config on alertmanager.yaml, then every routing case through
    `amtool config routes test --verify.receivers`. A Prometheus-only output has nothing to check."""
    if not (out / "alertmanager").exists():
        return
    config_path, cases_path = out / CONFIG, out / CASES
    for path in (config_path, cases_path):
        if not path.exists():
            report.failures.append(f"{path}: missing; run `vigil build`")
            return
    text = config_path.read_text(encoding="utf-8")
    cases_text = cases_path.read_text(encoding="utf-8")
    # The same config and cases passed with the same amtool before: a rebuild that changed a
    # threshold leaves both alone, and amtool is seconds for a thousand services.
    key = report.cache.key(["amtool", tools.versions(["amtool"])["amtool"], text, cases_text]) if report.cache else ""
    known = report.cache.load(key) if report.cache else None
    if known is not None:
        report.checked["Alertmanager configs (amtool check-config)"] = 1
        report.checked["routing cases (amtool config routes test)"] = known
        return
    with tempfile.TemporaryDirectory(prefix="vigil-amtool-") as tmp:
        checked = Path(tmp) / "alertmanager.yaml"
        config = yaml.safe_load(text)
        checked.write_text(yaml.safe_dump(checkable(config), sort_keys=False), encoding="utf-8")
        result = tools.run("amtool", ["check-config", str(checked)])
        report.checked["Alertmanager configs (amtool check-config)"] = 1
        if not result.ok:
            report.failures.append(f"amtool check-config {CONFIG}:\n{result.output.strip()}"
                                   + (_amtool_hint(text) if "not found in type" in result.output else ""))
            return
        doc = report.parsed[CASES] if CASES in report.parsed else yaml.load(cases_text, Loader=_CasesLoader)
        cases = (doc or {}).get("cases") or []
        failures = _run_cases(checked, cases, matched_labels(config["route"]))
        report.failures += failures
        report.checked["routing cases (amtool config routes test)"] = len(cases)
        if report.cache and not failures:
            report.cache.store(key, len(cases))


def _run_cases(config: Path, cases: list[dict[str, Any]], keep: set[str] | None) -> list[str]:
    """Run amtool once per distinct (routed labels, expected receivers): with 1000 services most
    cases share both, and amtool's answer cannot differ between them."""
    runs: dict[tuple[tuple[tuple[str, str], ...], str], list[str]] = {}
    for case in cases:
        labels = {k: str(v) for k, v in case["labels"].items() if keep is None or k in keep}
        key = (tuple(sorted(labels.items())), ",".join(case["receivers"]))
        runs.setdefault(key, []).append(case["name"])

    def one(key: tuple[tuple[tuple[str, str], ...], str]) -> str | None:
        labels, receivers = key
        args = ["config", "routes", "test", f"--config.file={config}", f"--verify.receivers={receivers}"]
        result = tools.run("amtool", args + [f'{k}="{_quote(v)}"' for k, v in labels])
        if result.ok:
            return None
        got = next((line for line in result.output.splitlines() if line and not line.startswith(("WARNING", "Warning"))), "")
        names = runs[key]
        more = f" (and {len(names) - 1} more with the same routed labels)" if len(names) > 1 else ""
        return (f"routing case '{names[0]}'{more}: expected receivers {receivers}, amtool routed to {got or '?'}\n"
                f"  labels: {dict(labels)}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [f for f in pool.map(one, sorted(runs)) if f]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
