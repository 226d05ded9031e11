"""The dashboard checks of `vigil check` (and of every `vigil build`), on output/grafana/.

On every dashboard:
- valid dashboard JSON: the fields Grafana needs, a current `schemaVersion`, a vigil uid and tag;
- unique panel ids (Grafana keys panel state, links and `viewPanel` by id);
- every panel inside the 24-column grid, none overlapping another;
- every datasource reference resolvable: a datasource variable of the dashboard, its default, or
  one of Grafana's built-in sources;
and across artefacts:
- every alert's `dashboard_url` opens an existing dashboard and panel, that panel reads every
  recording-rule series the alert's expression reads, and for a threshold alert it has a threshold
  step at the alert's number, coloured for the alert's severity.

Three checks: `dashboard/lint` (each dashboard on its own), `dashboard/alert-panel` (the alerts
against the panels they link to) and `dashboard/folders` (vigil.check.folders).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

from vigil import layout
from vigil.check.report import CheckReport
from vigil.render.dashboards import PALETTE
from vigil.render.prometheus import Alert, linked_uid, rule_alerts

# Datasource references by uid arrived in schema 36 (Grafana 9); older versions name datasources.
MIN_SCHEMA_VERSION = 36
GRID_COLUMNS = 24
BUILTIN_DATASOURCES = {"-- Grafana --", "grafana", "-- Mixed --", "-- Dashboard --"}

_UID = re.compile(r"[a-z0-9-]{1,40}")


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


# ------------------------------------------------------------------------------ per dashboard
def flat_panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside rows included."""
    return [q for p in doc.get("panels", []) for q in [p, *p.get("panels", [])]]


def shape_problems(doc: Any) -> list[str]:
    """The part of Grafana's dashboard model that Grafana needs to load a dashboard, and vigil's own
    conventions (uid format, `vigil` tag, ordered threshold steps). Plain code, not JSON Schema: it
    runs on every build, and jsonschema takes seconds for a thousand dashboards. The tests validate
    against Grafana's full schema when it is present."""
    if not _is(doc, dict):
        return ["(top): not a JSON object"]
    problems = [
        f"{key}: missing, or not a {kind.__name__}"
        for key, kind in (
            ("uid", str),
            ("title", str),
            ("tags", list),
            ("schemaVersion", int),
            ("panels", list),
            ("templating", dict),
            ("annotations", dict),
        )
        if not _is(doc.get(key), kind)
    ]
    if problems:
        return problems
    if not _UID.fullmatch(doc["uid"]):
        problems.append(f"uid: {doc['uid']!r} is not 1-40 characters of [a-z0-9-]")
    if doc["schemaVersion"] < MIN_SCHEMA_VERSION:
        problems.append(
            f"schemaVersion: {doc['schemaVersion']} is older than {MIN_SCHEMA_VERSION} (datasources referenced by uid)"
        )
    if "vigil" not in doc["tags"]:
        problems.append("tags: no `vigil` tag (the dashboards dropdown and deploy find vigil's dashboards by it)")
    for key in ("templating", "annotations"):
        if not _is(doc[key].get("list"), list) or not all(_is(x, dict) for x in doc[key]["list"]):
            problems.append(f"{key}: no list of objects")
    if any(not _is(v.get("name"), str) or not _is(v.get("type"), str) for v in doc["templating"].get("list") or []):
        problems.append("templating: a variable without a name or type")
    panels = [q for p in doc["panels"] for q in ([p, *(p.get("panels") or [])] if _is(p, dict) else [p])]
    for i, p in enumerate(panels):
        where = f"panel {p.get('id', f'#{i}')}" if _is(p, dict) else f"panel #{i}"
        if not _is(p, dict) or not _is(p.get("id"), int) or not _is(p.get("type"), str) or not p["type"]:
            problems.append(f"{where}: not an object with an integer id and a type")
            continue
        grid = p.get("gridPos")
        if not _is(grid, dict) or not all(_is(grid.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(f"{where}: gridPos needs integer x, y, w and h")
        if not _is(p.get("targets", []), list) or not all(_is(q, dict) and "refId" in q for q in p.get("targets", [])):
            problems.append(f"{where}: every query (target) needs a refId")
        steps = p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps")
        if steps is not None:
            values = [s.get("value") for s in steps]
            if (
                not values
                or values[0] is not None
                or any(v is None for v in values[1:])
                or values[1:] != sorted(values[1:])
            ):
                problems.append(f"{where}: threshold steps must start with a null base and rise: {values}")
    return problems


def id_problems(doc: dict[str, Any]) -> list[str]:
    seen: dict[int, str] = {}
    problems = []
    for p in flat_panels(doc):
        if p["id"] in seen:
            problems.append(f"panel id {p['id']} used twice ({seen[p['id']]!r} and {p.get('title', '')!r})")
        seen.setdefault(p["id"], p.get("title", ""))
    return problems


def grid_problems(doc: dict[str, Any]) -> list[str]:
    """Top-level panels share one grid; a collapsed row's panels form their own."""
    problems = []
    grids = [doc["panels"]] + [p.get("panels", []) for p in doc["panels"] if p["type"] == "row" and p.get("collapsed")]
    for panels in grids:
        placed: list[tuple[int, int, int, int, int]] = []
        for p in panels:
            g = p["gridPos"]
            x, y, w, h = g["x"], g["y"], g["w"], g["h"]
            if w < 1 or h < 1 or x < 0 or y < 0 or x + w > GRID_COLUMNS:
                problems.append(
                    f"panel {p['id']}: gridPos x={x} w={w} y={y} h={h} is outside the {GRID_COLUMNS}-column grid"
                )
            for oid, ox, oy, ow, oh in placed:
                if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                    problems.append(f"panel {p['id']} overlaps panel {oid}")
            placed.append((p["id"], x, y, w, h))
    return problems


def _datasource_refs(doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every place a Grafana dashboard names a datasource: panels (rows' too), their queries,
    annotations and variables."""
    for key in ("annotations", "templating"):
        for i, item in enumerate(doc[key]["list"]):
            if "datasource" in item:
                yield f"{key}/{i}", item["datasource"]
    for p in flat_panels(doc):
        if "datasource" in p:
            yield f"panel {p['id']}", p["datasource"]
        for q in p.get("targets", []):
            if "datasource" in q:
                yield f"panel {p['id']} query {q['refId']}", q["datasource"]


def datasource_problems(doc: dict[str, Any]) -> list[str]:
    variables = {v["name"]: v for v in doc["templating"]["list"] if v.get("type") == "datasource"}
    defaults = {str((v.get("current") or {}).get("value", "")) for v in variables.values()} - {""}
    problems = []
    for where, ref in _datasource_refs(doc):
        if not isinstance(ref, dict) or "uid" not in ref:
            problems.append(f"{where}: datasource {ref!r} is not a {{type, uid}} reference")
            continue
        uid = str(ref["uid"])
        var = re.fullmatch(r"\$\{?(\w+)\}?", uid)
        if var and var.group(1) not in variables:
            problems.append(f"{where}: datasource ${{{var.group(1)}}} is not a datasource variable of this dashboard")
        elif not var and uid not in defaults | BUILTIN_DATASOURCES:
            problems.append(
                f"{where}: unknown datasource uid {uid!r} (known: "
                f"{', '.join(sorted(defaults | {'$' + v for v in variables}))})"
            )
    return problems


def lint_dashboard(doc: Any) -> list[str]:
    problems = shape_problems(doc)
    if problems:  # the other checks assume the shape
        return problems
    return id_problems(doc) + grid_problems(doc) + datasource_problems(doc)


# ------------------------------------------------------------------------------ alerts ↔ panels
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_THRESHOLD = re.compile(r"^(?P<series>.+?)\s*(?P<op>[<>])\s*(?P<number>[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|Inf))\s*$")

Selector = tuple[str, frozenset[tuple[str, str, str]]]


def selectors(expr: str) -> set[Selector]:
    """The `name{matchers}` series selectors of a PromQL expression (recording rules and ALERTS)."""
    return {(m.group(1), frozenset(_MATCHER.findall(m.group(2)))) for m in _SELECTOR.finditer(expr)}


def reads(panel: dict[str, Any], wanted: Selector) -> bool:
    """True when a query of the panel selects the series `wanted` selects (maybe narrowed further,
    e.g. by the instance picker)."""
    name, matchers = wanted
    return any(n == name and matchers <= m for t in panel.get("targets", []) for n, m in selectors(t.get("expr", "")))


def _threshold_problem(panel: dict[str, Any], alert: dict[str, Any]) -> str | None:
    match = _THRESHOLD.match(alert["expr"])
    if not match:
        return f"cannot read the threshold of `{alert['expr']}`"
    number, severity = float(match["number"]), alert["labels"]["severity"]
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    at = [i for i, s in enumerate(steps) if s.get("value") is not None and float(s["value"]) == number]
    if not at:
        return f"no threshold step at {match['number']} (steps: {[s.get('value') for s in steps][1:]})"
    # Above (>): the step at the threshold colours the bad side. Below (<): the step before it does.
    colour = steps[at[0]]["color"] if match["op"] == ">" else steps[at[0] - 1]["color"]
    if colour != PALETTE[severity]:
        return (
            f"the {'step at' if match['op'] == '>' else 'region below'} {match['number']} is {colour}, "
            f"not {PALETTE[severity]} ({severity})"
        )
    return None


def alert_panel_problems(alerts: list[Alert], dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """alerts: (rule file, alert rule); dashboards: {uid: dashboard}. Each alert must open an
    existing dashboard and panel that reads its series and, for thresholds, shows its threshold."""
    problems = []
    for path, rule in alerts:
        name = f"{path}: alert {rule['alert']} ({rule['labels'].get('severity')})"
        url = urlsplit(rule.get("annotations", {}).get("dashboard_url", ""))
        uid = linked_uid(rule)
        if not uid or uid not in dashboards:
            problems.append(f"{name}: dashboard_url {url.geturl()!r} opens no generated dashboard")
            continue
        view = parse_qs(url.query).get("viewPanel")
        if not view:
            continue  # a service-wide alert (ServiceDown) opens the whole dashboard
        panel = next((p for p in flat_panels(dashboards[uid]) if str(p["id"]) == view[0]), None)
        if panel is None:
            problems.append(f"{name}: dashboard {uid} has no panel {view[0]} (its viewPanel)")
            continue
        where = f"{name} → {uid} panel {view[0]} ({panel.get('title', '')})"
        for sel in sorted(selectors(rule["expr"]), key=str):
            if not reads(panel, sel):
                matchers = ",".join(f'{k}{op}"{v}"' for k, op, v in sorted(sel[1]))
                problems.append(f"{where}: the panel does not read {sel[0]}{{{matchers}}}")
        if rule["labels"].get("kind") == "threshold":
            problem = _threshold_problem(panel, rule)
            if problem:
                problems.append(f"{where}: {problem}")
    return problems


def dashboard_problems(rel: str, doc: Any) -> list[str]:
    """The lint of one dashboard file, and its uid against its file name."""
    problems = [f"{rel}: {p}" for p in lint_dashboard(doc)]
    if _is(doc, dict) and doc.get("uid") != Path(rel).stem:
        problems.append(f"{rel}: uid {doc.get('uid')!r} differs from its file name")
    return problems


# ------------------------------------------------------------------------------ the checks
class _Dashboards:
    """The dashboards of a report, parsed once for both checks and only when needed: a rebuild
    whose dashboards passed before (same text, same alerts) parses none of them."""

    def __init__(self, report: CheckReport):
        self.report = report
        self.paths = report.paths(layout.DASHBOARDS_DIR, ".json")
        self._docs: dict[str, Any] = {}

    def text(self, rel: str) -> str:
        return self.report.text(rel) or ""

    def doc(self, rel: str) -> Any:
        if rel not in self._docs:
            try:
                self._docs[rel] = orjson.loads(self.text(rel))
            except orjson.JSONDecodeError as e:
                self._docs[rel] = e
        return self._docs[rel]


def _dashboards(report: CheckReport) -> _Dashboards:
    found = report.shared.get(__name__)
    if not isinstance(found, _Dashboards):
        found = report.shared[__name__] = _Dashboards(report)
    return found


class Lint:
    id: ClassVar[str] = "dashboard/lint"
    description: ClassVar[str] = "dashboards with Grafana's fields, unique panel ids, the grid, resolvable datasources"
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        dashboards = _dashboards(report)
        for rel in dashboards.paths:
            key, known = report.passed_before(["dashboard lint", rel, report.digest(rel)])
            if known:
                continue
            doc = dashboards.doc(rel)
            problems = [f"{rel}: not JSON: {doc}"] if isinstance(doc, Exception) else dashboard_problems(rel, doc)
            for problem in problems:
                report.fail(self.id, problem)
            if not problems:
                report.remember(key)
        report.checked[self.id] = len(dashboards.paths)


def _alerts(report: CheckReport) -> list[Alert]:
    """Every alert of the rule files: the build hands over those it rendered; otherwise they are
    read from the files (CBaseLoader: every value this check reads is a string)."""
    if report.alerts is not None:
        return list(report.alerts)
    alerts: list[Alert] = []
    for rel in report.paths(layout.RULES_DIR, ".yaml"):
        alerts += rule_alerts(rel, yaml.load(report.text(rel) or "", Loader=yaml.CBaseLoader))
    return alerts


class AlertPanels:
    id: ClassVar[str] = "dashboard/alert-panel"
    description: ClassVar[str] = "alerts deep-linked to a panel that reads their series and shows their threshold"
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        dashboards = _dashboards(report)
        by_uid: dict[str, list[Alert]] = {}
        alerts = _alerts(report)
        for alert in alerts:
            by_uid.setdefault(linked_uid(alert[1]) or "", []).append(alert)
        known = {Path(rel).stem: rel for rel in dashboards.paths}
        for uid, group in sorted(by_uid.items()):
            rel = known.get(uid)
            if rel is None:
                for problem in alert_panel_problems(group, {}):
                    report.fail(self.id, problem)
                continue
            # The alerts as they come (in rule-file order, the same for the same files): sorting
            # their printed forms cost more than the rest of a rebuild's check.
            key, passed = report.passed_before(["alert panels", report.digest(rel), group])
            if passed:
                continue
            doc = dashboards.doc(rel)
            if not _is(doc, dict) or (
                Lint.id in report.problems and any(p.startswith(rel) for p in report.problems[Lint.id])
            ):
                continue  # the lint already says what is wrong with it
            problems = alert_panel_problems(group, {uid: doc})
            for problem in problems:
                report.fail(self.id, problem)
            if not problems:
                report.remember(key)
        report.checked[self.id] = len(alerts)
