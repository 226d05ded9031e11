"""The Alertmanager checks: `amtool/check-config` (the real `amtool check-config` on
alertmanager.yaml, its ${NAME} references replaced by placeholders of the right shape) and
`amtool/routes-test` (every generated routing case through `amtool config routes test
--verify.receivers`: the tree routes each alert to the receivers the propagation policy names).
A Prometheus-only output has nothing to check.
"""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import yaml

from vigil import layout, tools
from vigil.check.report import CheckReport

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The routing cases hold only strings (label values, receivers): BaseLoader reads every scalar as
# a string and skips PyYAML's type resolution, a third of the time for 9000 cases; libyaml's
# parser when present.
_CasesLoader: type = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_TARGET = re.compile(r"^# Written for Alertmanager (\S+) or later", re.M)


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


def _checkable_config(text: str, tmp: Path) -> tuple[Path, dict[str, Any]]:
    config = yaml.safe_load(text)
    path = tmp / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(checkable(config), sort_keys=False), encoding="utf-8")
    return path, config


def _known(report: CheckReport, parts: list[Any]) -> tuple[str, Any]:
    """The same inputs passed with the same amtool before: a rebuild that changed a threshold
    leaves the routing alone, and amtool takes seconds for a thousand services."""
    if not report.cache:
        return "", None
    key = report.cache.key([*parts, tools.version("amtool")])
    return key, report.cache.load(key)


class CheckConfig:
    id: ClassVar[str] = "amtool/check-config"
    description: ClassVar[str] = "Alertmanager config accepted by amtool check-config"
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        text = report.text(layout.ALERTMANAGER_CONFIG)
        if text is None:
            if report.paths(layout.ALERTMANAGER_DIR, ".yaml"):
                report.fail(self.id, f"{layout.ALERTMANAGER_CONFIG}: missing; run `vigil build`")
            return
        key, known = _known(report, ["amtool check-config", report.digest(layout.ALERTMANAGER_CONFIG)])
        report.checked[self.id] = 1
        if known:
            return
        with tempfile.TemporaryDirectory(prefix="vigil-amtool-") as tmp:
            path, _ = _checkable_config(text, Path(tmp))
            result = tools.run("amtool", ["check-config", str(path)])
        if not result.ok:
            report.fail(self.id, f"{layout.ALERTMANAGER_CONFIG}:\n{result.output.strip()}"
                        + (_amtool_hint(text) if "not found in type" in result.output else ""))
        elif report.cache:
            report.cache.store(key, True)


class RoutesTest:
    id: ClassVar[str] = "amtool/routes-test"
    description: ClassVar[str] = "routing cases reach the receivers the policy names (amtool config routes test)"
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        text = report.text(layout.ALERTMANAGER_CONFIG)
        if text is None or CheckConfig.id in report.problems:
            return  # nothing to route through, or check-config already said why
        if not report.paths(layout.ALERTMANAGER_DIR, ".test.yaml"):
            report.fail(self.id, f"{layout.ROUTING_CASES}: missing; run `vigil build`")
            return
        key, known = _known(report, ["amtool routes test", report.digest(layout.ALERTMANAGER_CONFIG),
                                     report.digest(layout.ROUTING_CASES)])
        if known is not None:
            report.checked[self.id] = known
            return
        cases_text = report.text(layout.ROUTING_CASES) or ""
        doc = report.parsed.get(layout.ROUTING_CASES) or yaml.load(cases_text, Loader=_CasesLoader)
        cases = (doc or {}).get("cases") or []
        with tempfile.TemporaryDirectory(prefix="vigil-amtool-") as tmp:
            path, config = _checkable_config(text, Path(tmp))
            failures = _run_cases(path, cases, matched_labels(config["route"]))
        for failure in failures:
            report.fail(self.id, failure)
        report.checked[self.id] = len(cases)
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
