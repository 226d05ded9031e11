"""The dashboard checks of `vigil check` (and of every `vigil build`), on output/grafana/.

On every dashboard:
- valid dashboard JSON: the fields Grafana needs, a current `schemaVersion`, a vigil uid and tag;
- unique panel ids (Grafana keys panel state, links and `viewPanel` by id);
- every panel inside the 24-column grid, none overlapping another;
- every datasource reference resolvable: a datasource variable of the dashboard, its default, or
  one of Grafana's built-in sources;
and across artefacts:
- folders.json places every dashboard in exactly one folder;
- every alert's `dashboard_url` opens an existing dashboard and panel, that panel reads every
  recording-rule series the alert's expression reads, and for a threshold alert it has a threshold
  step at the alert's number, coloured for the alert's severity.

Each check returns messages; the CheckReport collects them, and check.py raises one CheckError.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import parse_qs, urlsplit

import yaml

from vigil.dashboards import DASHBOARDS_DIR, FOLDERS_FILE, PALETTE

if TYPE_CHECKING:  # check.py imports this module to list its checks
    from vigil.check import CheckReport

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
    problems = [f"{key}: missing, or not a {kind.__name__}"
                for key, kind in (("uid", str), ("title", str), ("tags", list), ("schemaVersion", int),
                                  ("panels", list), ("templating", dict), ("annotations", dict))
                if not _is(doc.get(key), kind)]
    if problems:
        return problems
    if not _UID.fullmatch(doc["uid"]):
        problems.append(f"uid: {doc['uid']!r} is not 1-40 characters of [a-z0-9-]")
    if doc["schemaVersion"] < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion: {doc['schemaVersion']} is older than {MIN_SCHEMA_VERSION} "
                        "(datasources referenced by uid)")
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
            if not values or values[0] is not None or any(v is None for v in values[1:]) \
                    or values[1:] != sorted(values[1:]):
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
                problems.append(f"panel {p['id']}: gridPos x={x} w={w} y={y} h={h} is outside the "
                                f"{GRID_COLUMNS}-column grid")
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
            problems.append(f"{where}: unknown datasource uid {uid!r} (known: "
                            f"{', '.join(sorted(defaults | {'$' + v for v in variables}))})")
    return problems


def lint_dashboard(doc: Any) -> list[str]:
    problems = shape_problems(doc)
    if problems:  # the other checks assume the shape
        return problems
    return id_problems(doc) + grid_problems(doc) + datasource_problems(doc)


# ------------------------------------------------------------------------------ across files
def load_dashboards(out: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """{path under out: dashboard} and the problems of files that are not JSON objects."""
    docs, problems = {}, []
    for path in sorted((out / DASHBOARDS_DIR).glob("*.json")):
        rel = str(path.relative_to(out))
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            problems.append(f"{rel}: not JSON: {e}")
            continue
        docs[rel] = doc
    return docs, problems


def folder_problems(out: Path, file_uids: set[str]) -> list[str]:
    path = out / FOLDERS_FILE
    if not path.exists():
        return [f"{FOLDERS_FILE}: missing"]
    manifest = json.loads(path.read_text(encoding="utf-8"))
    placed = [uid for f in manifest["folders"] for uid in f["dashboards"]] + list(manifest["general"])
    problems = []
    for uid in sorted(file_uids):
        if placed.count(uid) != 1:
            problems.append(f"{FOLDERS_FILE}: dashboard {uid} is in {placed.count(uid)} folders, not 1")
    problems += [f"{FOLDERS_FILE}: dashboard {uid} has no file" for uid in sorted(set(placed) - file_uids)]
    folder_uids = [f["uid"] for f in manifest["folders"]]
    problems += [f"{FOLDERS_FILE}: folder uid {uid} is not unique among folders and dashboards"
                 for uid in sorted(set(folder_uids)) if folder_uids.count(uid) > 1 or uid in file_uids]
    return problems


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
        return (f"the {'step at' if match['op'] == '>' else 'region below'} {match['number']} is {colour}, "
                f"not {PALETTE[severity]} ({severity})")
    return None


Alert = tuple[str, dict[str, Any]]  # (the rule file it is in, the alert rule)


def rule_alerts(path: str, doc: Any) -> list[Alert]:
    """The alerting rules of one rule file document, with the file they are in."""
    return [(path, r) for g in (doc or {}).get("groups") or [] for r in g.get("rules") or [] if "alert" in r]


def alert_view(rule: dict[str, Any]) -> dict[str, Any]:
    """What the alert ↔ panel check reads of an alert: the build hands only this to the workers
    that check each dashboard as they render it."""
    return {"alert": rule["alert"], "expr": rule["expr"],
            "labels": {k: rule["labels"][k] for k in ("severity", "kind") if k in rule["labels"]},
            "annotations": {k: v for k, v in rule.get("annotations", {}).items() if k == "dashboard_url"}}


_DASHBOARD_PATH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^/?#]*)?[^?#]*?/d/([^/?#]+)")


def linked_uid(rule: dict[str, Any]) -> str | None:
    """The uid of the dashboard an alert's dashboard_url opens (/d/<uid>/ in the URL's path)."""
    found = _DASHBOARD_PATH.match(rule.get("annotations", {}).get("dashboard_url", ""))
    return found.group(1) if found else None


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


def dashboard_problems(rel: str, doc: Any, alerts: list[Alert]) -> list[str]:
    """Every check of one dashboard file: its lint, its uid against its file name, and the alerts
    that deep-link to it. The build runs this in the worker that rendered the dashboard, on the
    object it serialised (parsing a hundred megabytes back would cost more than rendering them);
    `vigil check` runs it on the files."""
    problems = [f"{rel}: {p}" for p in lint_dashboard(doc)]
    if _is(doc, dict) and doc.get("uid") != Path(rel).stem:
        problems.append(f"{rel}: uid {doc.get('uid')!r} differs from its file name")
    if problems or not alerts:
        return problems
    return alert_panel_problems(alerts, {doc["uid"]: doc})


# ------------------------------------------------------------------------------ the checks
def check_dashboard_files(out: Path, report: CheckReport) -> None:
    """dashboard_problems on every dashboard file, then the alerts of every rule file against the
    dashboards they link to."""
    docs, problems = load_dashboards(out)
    for rel, doc in docs.items():
        problems += dashboard_problems(rel, doc, [])
    dashboards = {doc["uid"]: doc for doc in docs.values() if _is(doc, dict) and "uid" in doc}
    checked = 0
    for path in sorted((out / "prometheus" / "rules").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        # A rule file that passed with the same dashboards it links to passes again: parsing a
        # thousand rule files is most of this check's time, and a rebuild changes few of them.
        linked = sorted(set(_LINKED_UID.findall(text)))
        key = report.cache.key(["alert panels", text] + [_dashboard_text(out, uid) for uid in linked]) if report.cache else ""
        known = report.cache.load(key) if report.cache else None
        if known is not None:
            checked += known
            continue
        # BaseLoader: every value this check reads is a string, and it skips the type resolution.
        alerts = rule_alerts(str(path.relative_to(out)), yaml.load(text, Loader=yaml.CBaseLoader))
        found = alert_panel_problems(alerts, dashboards)
        problems += found
        checked += len(alerts)
        if report.cache and not found:
            report.cache.store(key, len(alerts))
    record_dashboard_checks(report, len(docs), checked, problems)


def check_folders(out: Path, report: CheckReport) -> None:
    """folders.json places every dashboard file in exactly one folder."""
    uids = {p.stem for p in (out / DASHBOARDS_DIR).glob("*.json")}
    problems = folder_problems(out, uids)
    if problems:
        report.failures.append("dashboard folders:\n" + "\n".join(problems))
    report.checked["dashboards placed in folders (folders.json)"] = len(uids)


def record_dashboard_checks(report: CheckReport, dashboards: int, alerts: int, problems: list[str]) -> None:
    if problems:
        report.failures.append("dashboards and the alerts that link to them:\n" + "\n".join(problems))
    report.checked["dashboards (shape, panel ids, grid, datasources)"] = dashboards
    report.checked["alerts deep-linked to a panel with their series and thresholds"] = alerts


def check_dashboards(out: Path, report: CheckReport) -> None:
    """Every dashboard check on the files: each dashboard with the alerts linking to it, then
    folders.json."""
    check_dashboard_files(out, report)
    check_folders(out, report)


_LINKED_UID = re.compile(r"/d/([a-z0-9-]+)/")


def _dashboard_text(out: Path, uid: str) -> str:
    path = out / "grafana" / "dashboards" / f"{uid}.json"
    return path.read_text(encoding="utf-8") if path.exists() else ""
