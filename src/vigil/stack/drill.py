"""`vigil drill`: break one service on the local stack and measure the whole chain, from the
fault to each department's channel, against its floor.

1. A copy of the catalog with short timings (drill_catalog): 1s scrape and evaluation intervals;
   every channel a webhook on the stack's sink (the operations channel keeps its ${ENV} URL, which
   the drill resolves at deploy like any secret); group_wait 1s; "office hours" always on; and for
   the drilled alert only, short timings by its kind (`--kind threshold|trend|slo`, see
   stack/drill_plan.py): a threshold gets `for: 5s` and a 15s rate window, a trend alert a 10s
   regression window (its `within` scaled alike) and `for: 5s`, an SLO page its windows divided
   by 120 and `for: 5s`. Thresholds, factors and objectives are the catalog's.
2. It is built, checked and deployed to the stack with `vigil deploy` (stack/local.py's env).
3. The drill waits until the service is healthy and the alert's windows hold no earlier fault
   (nor predate Prometheus), starts the fault at the demo exporter, and polls Prometheus (the
   alert's state) and the sink (who was told) until every department the propagation policy names
   has been told, or the timeout passes. The fault is always cleared afterwards.

The floor of the detection latency is scrape interval + evaluation interval + `for` + group_wait,
plus what the fault itself needs before the condition can hold: the ramp to a threshold, the trend's
projection crossing, or the SLO burn accruing in its windows (DrillResult.floor_parts, and
DrillResult.floor_notes for how each was derived).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml

from vigil.catalog.load import load_catalog, postmortems_dir
from vigil.model import Service
from vigil.render.alertmanager import expected_receivers
from vigil.stack.drill_plan import GROUP_WAIT_S, RAMP_S, DrillError, Target, floor_parts, overrides, pick
from vigil.stack.local import require

SCRAPE_S, EVAL_S = 1.0, 1.0
POLL = 0.25
CLEARED = "cleared.json"  # in <stack>/drill: service → when the drill last cleared a fault on it


@dataclass
class Told:
    receiver: str
    at: float  # when the sink received it (unix seconds)
    alertname: str
    severity: str


@dataclass
class DrillResult:
    service: str
    fault: str
    alertname: str
    severity: str
    expected: list[str]
    floor: dict[str, float]  # receiver → floor in seconds
    floor_parts: dict[str, float] = field(default_factory=dict)
    kind: str = "threshold"
    floor_notes: list[str] = field(default_factory=list)  # how the derived floor parts were computed
    fault_at: float = 0.0
    pending_at: float | None = None
    fired_at: float | None = None
    told: dict[str, Told] = field(default_factory=dict)  # expected receiver → first notification
    others: list[Told] = field(default_factory=list)  # other notifications about the service

    @property
    def complete(self) -> bool:
        return all(r in self.told for r in self.expected)

    def latency(self, receiver: str) -> float | None:
        return self.told[receiver].at - self.fault_at if receiver in self.told else None

    def text(self) -> str:
        def at(t: float) -> str:
            return f"{f'+{t - self.fault_at:.1f}s':>7}  {datetime.fromtimestamp(t).strftime('%H:%M:%S.%f')[:-4]}"

        events = [(self.fault_at, f"fault began: {self.fault} on {self.service} (demo exporter)")]
        if self.pending_at:
            events.append((self.pending_at, f"{self.alertname} ({self.severity}) pending (Prometheus activeAt)"))
        if self.fired_at:
            events.append((self.fired_at, f"{self.alertname} ({self.severity}) firing (Prometheus)"))
        events += [(t.at, f"{t.receiver} told") for t in self.told.values()]
        events += [(t.at, f"{t.receiver} told: {t.alertname} ({t.severity})") for t in self.others]
        what = f"{self.alertname} ({self.severity})" + {"trend": ", the trend alert", "slo": ", the SLO's page"}.get(
            self.kind, ""
        )
        lines = [f"drill: {self.service}, {self.fault} → {what}", ""]
        lines += [f"  {at(t)}  {what}" for t, what in sorted(events)]
        parts = " + ".join(f"{k} {v:g}s" for k, v in self.floor_parts.items())
        lines += ["", f"detection latency, fault → department told, against its floor ({parts}):"]
        lines += [f"  ({note})" for note in self.floor_notes]
        for receiver in self.expected:
            got = self.latency(receiver)
            shown = f"{got:6.1f}s" if got is not None else "not told"
            lines.append(f"  {receiver:<22} {shown:>8}   floor {self.floor[receiver]:.1f}s")
        lines.append("")
        lines.append(
            "every expected department was told"
            if self.complete
            else "NOT told: " + ", ".join(r for r in self.expected if r not in self.told)
        )
        return "\n".join(lines)


# --- the catalog variant ---------------------------------------------------------------------------


def _copy_postmortems(catalog: Path, dest: Path) -> None:
    """The copy keeps the catalog's postmortem collection beside it: `because:` names postmortems,
    and the drill's own draft (`make demo`) joins the collection it was copied from."""
    settings = load_catalog(catalog).settings
    source, target = postmortems_dir(catalog, settings), postmortems_dir(dest, settings)
    if not target.resolve().is_relative_to(dest.parent.resolve()):
        return  # an absolute `postmortems:` is the same folder for the copy: never replace it
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target)


def drill_catalog(
    catalog: Path,
    dest: Path,
    sink: str,
    service: str,
    key_metric: str,
    kind: str = "threshold",
    source: Service | None = None,
) -> dict[str, str]:
    """Write the short-timing copy to dest; return the environment its ${ENV} references need.

    key_metric is the drilled key metric's id (`up` for ServiceDown), or the SLO's name when kind
    is `slo`. source: the service resolved from `catalog` (the trend and slo kinds scale its
    timings); compiled here when not given."""
    if kind != "threshold" and source is None:
        from vigil.build import BuildReport, compile_catalog

        _, model = compile_catalog(catalog, BuildReport())
        source = next((s for s in model["services"] if s["name"] == service), None)
        if source is None:
            raise DrillError(f"no service {service} in the catalog")
    fields = overrides(kind, key_metric, source, SCRAPE_S)  # before copying: a bad target writes nothing
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(catalog, dest)
    _copy_postmortems(catalog, dest)
    settings = yaml.safe_load((dest / "vigil.yaml").read_text()) or {}
    settings.update(scrape_interval=f"{SCRAPE_S:g}s", evaluation_interval=f"{EVAL_S:g}s")
    (dest / "vigil.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    doc = yaml.safe_load((dest / "departments.yaml").read_text())
    doc["defaults"] = {"group_wait": f"{GROUP_WAIT_S:g}s", "group_interval": "1s", "repeat_interval": "1h"}
    doc["time_intervals"] = {name: {"weekdays": ["sunday:saturday"]} for name in doc.get("time_intervals") or {}}
    env: dict[str, str] = {}
    for dept in doc["departments"]:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            dept.pop(key, None)
        channels = {}
        for name, spec in dept["channels"].items():
            url = f"{sink}/{dept['id']}/{name}"
            ref = next((v["url"] for v in spec.values() if isinstance(v, dict) and "${" in str(v.get("url", ""))), None)
            if ref:  # keep the secret reference: the deploy resolves it from the environment
                env[ref.strip("${}")] = url
                url = ref
            channels[name] = {"webhook": {"url": url}}
        dept["channels"] = channels
    (dest / "departments.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    if key_metric != "up":
        path = next(p for p in (dest / "services").glob("*.yaml") if yaml.safe_load(p.read_text())["name"] == service)
        svc = yaml.safe_load(path.read_text())
        if kind == "slo":  # the SLO's own entry: an SLO name is no key metric
            entry = next((s for s in svc.get("slos") or [] if s["name"] == key_metric), None)
            if entry is None:
                raise DrillError(f"{service} has no SLO {key_metric}")
            entry.update(fields)
        else:
            svc["metrics"] = svc.get("metrics") or {}
            svc["metrics"].setdefault(key_metric, {}).update(fields)
        path.write_text(yaml.safe_dump(svc, sort_keys=False))
    return env


# --- the run ---------------------------------------------------------------------------------------


def run_drill(
    state_dir: Path,
    catalog: Path,
    service: str,
    fault: str,
    *,
    kind: str = "threshold",
    timeout: float = 300.0,
    echo: Callable[[str], None] = print,
) -> DrillResult:
    from vigil.build import BuildReport, build, compile_catalog
    from vigil.deploy.run import Options, deploy

    stack = require(state_dir)
    work = stack.dir / "drill"
    source_svc, source_target = pick(compile_catalog(catalog, BuildReport())[1], service, fault, kind)
    env = drill_catalog(catalog, work / "catalog", stack.url("sink"), service, source_target.key, kind, source_svc)
    _, model = compile_catalog(work / "catalog", BuildReport())
    svc, target = pick(model, service, fault, kind)
    labels = target.labels
    receivers = expected_receivers(model["departments"], labels)
    group_wait = {d["id"]: _seconds(d["group_wait"]) for d in model["departments"]["departments"]}
    parts = floor_parts(svc, target, fault, model["settings"], RAMP_S)
    result = DrillResult(
        service,
        fault,
        labels["alertname"],
        labels["severity"],
        receivers,
        {r: sum(parts.values()) + group_wait[r.split("/")[0]] for r in receivers},
        {**parts, "group_wait": GROUP_WAIT_S},
        kind=kind,
        floor_notes=target.notes,
    )

    echo(f"building and deploying the drill catalog ({work / 'catalog'}) to the stack ...")
    out = work / "output"
    build(work / "catalog", out, run_checks=True, run_tests=False, cache_dir=stack.dir / "cache")
    report = deploy(Options(catalog=work / "catalog", from_dir=out, unit_tests=False, prune=True), {**stack.env, **env})
    echo(report.text())
    if report.failed:
        raise DrillError("the drill catalog did not deploy; see the report above")
    deployed_at = time.time()

    exporter, prom, sink = stack.url("exporter"), stack.url("prometheus"), stack.url("sink")
    _clear(stack.dir, exporter, service)
    echo(f"waiting for {service} to be healthy (no {labels['alertname']} active) ...")
    _until(
        lambda: _alert(prom, labels) is None and _scraped(prom, svc),
        min(timeout, 120),
        f"{service} did not settle: {labels['alertname']} stays active or its targets are down",
    )
    _quiet(stack.dir, prom, service, target, deployed_at if target.on_record else 0.0, echo)
    cursor = len(requests.get(f"{sink}/notifications", timeout=5).json())
    fault_params: dict[str, str | float] = {"service": service, "kind": fault, "ramp": RAMP_S}
    started = requests.post(f"{exporter}/fault", params=fault_params, timeout=5)
    if started.status_code != 200:
        raise DrillError(f"the exporter refused the fault: {started.text}")
    result.fault_at = float(started.json()["started"])
    echo(f"fault {fault} injected into {service}; waiting for {', '.join(receivers)} ...")
    try:
        _until(
            lambda: _observe(result, prom, sink, cursor, labels),
            timeout,
            "not every expected department was told",
            fail=False,
        )
    finally:
        _clear(stack.dir, exporter, service)
    return result


def _clear(state_dir: Path, exporter: str, service: str) -> None:
    """Clear the service's faults, remembering when, so that a later drill can wait until its
    alert's windows no longer hold this one (a window still holding it would beat the floor)."""
    cleared = requests.delete(f"{exporter}/fault", params={"service": service}, timeout=5).json().get("cleared")
    if cleared:
        path = state_dir / "drill" / CLEARED
        seen = json.loads(path.read_text()) if path.exists() else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**seen, service: time.time()}))


def _quiet(state_dir: Path, prom: str, service: str, target: Target, since: float, echo: Callable[[str], None]) -> None:
    """Wait until the alert's longest window holds neither an earlier fault nor the time before
    Prometheus started (nor before `since`): the floor's burn and projection assume a clean, full
    window; one still holding an earlier fault, or not yet filled, would beat the floor."""
    if target.lookback <= 0:
        return
    path = state_dir / "drill" / CLEARED
    cleared = float((json.loads(path.read_text()) if path.exists() else {}).get(service, 0.0))
    info = requests.get(f"{prom}/api/v1/status/runtimeinfo", timeout=5).json()["data"]
    ready = max(cleared, since, _parse_time(info["startTime"])) + target.lookback
    if ready > time.time():
        echo(
            f"waiting {ready - time.time():.0f}s until the alert's {target.lookback:g}s windows hold no earlier fault ..."
        )
        time.sleep(max(ready - time.time(), 0.0))  # bounded by the lookback


def _seconds(value: Any) -> float:
    from vigil.units import parse_duration

    return float(parse_duration(value))


def _until(done: Callable[[], bool], timeout: float, message: str, fail: bool = True) -> bool:
    """Poll `done` every POLL seconds, at most `timeout` seconds (bounded: never a busy wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(POLL)
    if fail:
        raise DrillError(message)
    return False


def _alert(prom: str, labels: dict[str, str]) -> dict[str, Any] | None:
    alerts = requests.get(f"{prom}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return next(
        (
            a
            for a in alerts
            if a["labels"].get("alertname") == labels["alertname"]
            and a["labels"].get("service") == labels["service"]
            and a["labels"].get("severity") == labels["severity"]
        ),
        None,
    )


def _scraped(prom: str, svc: Service) -> bool:
    matchers = ",".join(f'{k}="{v}"' for k, v in svc["selector"].items())
    got = requests.get(f"{prom}/api/v1/query", params={"query": f"up{{{matchers}}} == 1"}, timeout=5).json()
    return bool(got["data"]["result"])


def _parse_time(text: str) -> float:
    # Go writes nanoseconds (2024-01-01T00:00:00.123456789Z); Python's fromisoformat takes microseconds.
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + (float("0." + frac) if frac else 0.0)


def _observe(result: DrillResult, prom: str, sink: str, cursor: int, labels: dict[str, str]) -> bool:
    alert = _alert(prom, labels)
    if alert and result.pending_at is None:
        result.pending_at = _parse_time(alert["activeAt"])
    if alert and alert["state"] == "firing" and result.fired_at is None:
        result.fired_at = time.time()
    seen = {(t.receiver, t.alertname, t.severity) for t in result.others}
    for note in requests.get(f"{sink}/notifications", params={"since": cursor}, timeout=5).json():
        for a in note["alerts"]:
            lab = a["labels"]
            if lab.get("service") != labels["service"] or a["status"] != "firing":
                continue
            receiver = note["receiver"] or note["channel"]
            if lab.get("alertname") == labels["alertname"] and lab.get("severity") == labels["severity"]:
                if result.fired_at is None or a.get("startsAt"):
                    result.fired_at = min(result.fired_at or time.time(), _parse_time(a["startsAt"]))
                result.told.setdefault(receiver, Told(receiver, note["received"], lab["alertname"], lab["severity"]))
            elif (receiver, lab.get("alertname"), lab.get("severity")) not in seen:
                result.others.append(
                    Told(receiver, note["received"], lab.get("alertname", "?"), lab.get("severity", "?"))
                )
                seen.add((receiver, lab.get("alertname"), lab.get("severity")))
    return result.complete
