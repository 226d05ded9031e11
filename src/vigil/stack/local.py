"""`vigil stack up|down|status`: a real Prometheus and Alertmanager on 127.0.0.1, a demo exporter
that simulates every service of the catalog, and a webhook sink for every department channel.

Everything lives under one directory (default .vigil-stack/): configs, data, logs, and
state.json with each process's pid, port and command, so that `down` ends exactly the processes
`up` started (a pid is only signalled while its command line is still ours). Prometheus runs with
--web.enable-lifecycle, so `vigil deploy` can reload it, and evaluates the rule files deploy writes
into rules/; Alertmanager reads the config file deploy writes. `up` prints the environment
variables that point `vigil deploy` at it (also in <dir>/env, for `source`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from vigil.errors import VigilError
from vigil import tools
from vigil.tools import free_port

INTERVAL = "1s"           # scrape and evaluation: the demo detects in seconds, not minutes
COMPONENTS = ("sink", "exporter", "alertmanager", "prometheus")


class StackError(VigilError):
    """The local stack is not running, or a component did not start (its log says why)."""

    exit_code = 8


@dataclass
class Stack:
    dir: Path
    components: dict[str, dict[str, Any]] = field(default_factory=dict)   # name → {pid, port, url, cmd, log}

    def url(self, name: str) -> str:
        return str(self.components[name]["url"])

    @property
    def env(self) -> dict[str, str]:
        return {"PROMETHEUS_URL": self.url("prometheus"), "PROMETHEUS_RULES_DIR": str(self.dir / "rules"),
                "ALERTMANAGER_URL": self.url("alertmanager"),
                "ALERTMANAGER_CONFIG_FILE": str(self.dir / "alertmanager" / "alertmanager.yml")}

    def describe(self) -> str:
        lines = [f"{name:<13} {c['url']:<28} pid {c['pid']}" for name, c in self.components.items()]
        lines += ["", f"# to deploy to it (also in {self.dir / 'env'}):"]
        lines += [f"export {k}={v}" for k, v in self.env.items()]
        return "\n".join(lines)

    def save(self) -> None:
        (self.dir / "state.json").write_text(json.dumps({"components": self.components}, indent=2))
        if all(name in self.components for name in COMPONENTS):
            (self.dir / "env").write_text("".join(f"export {k}={v}\n" for k, v in self.env.items()))


def load(state_dir: Path) -> Stack | None:
    state = state_dir / "state.json"
    if not state.exists():
        return None
    return Stack(state_dir.resolve(), json.loads(state.read_text())["components"])


# --- binaries ----------------------------------------------------------------------------------

def ensure_binaries() -> dict[str, str]:
    """Prometheus and Alertmanager, from PATH or the tools folder (ToolMissingError says how)."""
    return {t: tools.find(t) for t in ("prometheus", "alertmanager")}


# --- configs -----------------------------------------------------------------------------------

def exporter_spec(catalog: Path) -> list[dict[str, Any]]:
    from vigil.build import BuildReport, compile_catalog
    _, model = compile_catalog(catalog, BuildReport())
    return [{"name": s["name"], "profiles": s["profiles"], "selector": s["selector"],
             "exprs": [m["expr"] for m in s["metrics"]]} for s in model["services"]]


def prometheus_config(state_dir: Path, spec: list[dict[str, Any]], exporter: str, alertmanager: str) -> dict[str, Any]:
    """One scrape job per service, its selector's labels set by relabelling, so the generated rules
    find the series exactly as they would on the real exporters."""
    jobs = [{"job_name": f"demo-{s['name']}", "metrics_path": f"/metrics/{s['name']}",
             "static_configs": [{"targets": [exporter]}],
             "relabel_configs": [{"target_label": k, "replacement": str(v)} for k, v in sorted(s["selector"].items())]}
            for s in spec]
    return {"global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
            "rule_files": [str(state_dir / "rules" / "*.yaml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
            "scrape_configs": jobs}


def initial_alertmanager_config(sink: str) -> dict[str, Any]:
    """Until the first deploy: everything to the sink's catch-all channel."""
    return {"route": {"receiver": "stack/default", "group_wait": "1s"},
            "receivers": [{"name": "stack/default", "webhook_configs": [{"url": f"{sink}/stack/default"}]}]}


# --- processes ---------------------------------------------------------------------------------

def _start(stack: Stack, name: str, cmd: list[str], port: int, ready: str) -> None:
    log = stack.dir / "logs" / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)   # its own session: it outlives `vigil stack up`
    url = f"http://127.0.0.1:{port}"
    stack.components[name] = {"pid": proc.pid, "port": port, "url": url, "cmd": cmd[0], "args": " ".join(cmd[1:]),
                              "log": str(log)}
    stack.save()
    for _ in range(300):                     # bounded: 300 × 0.1 s
        if proc.poll() is not None:
            break
        try:
            if requests.get(url + ready, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:]
    raise StackError(f"{name} did not start (exit {proc.poll()}); {log}:\n{tail}")


def up(state_dir: Path, catalog: Path) -> Stack:
    state_dir = state_dir.resolve()
    running = load(state_dir)
    if running and all(_alive(c) for c in running.components.values()) and len(running.components) == len(COMPONENTS):
        return running
    if running:
        down(state_dir)
    binaries = ensure_binaries()
    for sub in ("rules", "alertmanager", "logs", "prometheus-data", "alertmanager-data"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    stack = Stack(state_dir)
    spec = exporter_spec(catalog)
    (state_dir / "exporter-spec.json").write_text(json.dumps(spec, indent=2))
    ports = {name: free_port() for name in COMPONENTS}
    try:
        _start(stack, "sink", [sys.executable, "-m", "vigil.stack.sink", "--port", str(ports["sink"]),
                               "--log", str(state_dir / "notifications.jsonl")], ports["sink"], "/-/ready")
        _start(stack, "exporter", [sys.executable, "-m", "vigil.stack.demo_exporter", "--port", str(ports["exporter"]),
                                   "--spec", str(state_dir / "exporter-spec.json")], ports["exporter"], "/-/ready")
        am_config = state_dir / "alertmanager" / "alertmanager.yml"
        if not am_config.exists():
            am_config.write_text(yaml.safe_dump(initial_alertmanager_config(stack.url("sink"))))
            am_config.chmod(0o600)
        _start(stack, "alertmanager", [binaries["alertmanager"], f"--config.file={am_config}",
                                       f"--storage.path={state_dir / 'alertmanager-data'}",
                                       f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                                       "--cluster.listen-address="], ports["alertmanager"], "/-/ready")
        prom_config = state_dir / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(prometheus_config(
            state_dir, spec, f"127.0.0.1:{ports['exporter']}", f"127.0.0.1:{ports['alertmanager']}"), sort_keys=False))
        _start(stack, "prometheus", [binaries["prometheus"], f"--config.file={prom_config}",
                                     f"--storage.tsdb.path={state_dir / 'prometheus-data'}",
                                     f"--web.listen-address=127.0.0.1:{ports['prometheus']}", "--web.enable-lifecycle"],
               ports["prometheus"], "/-/ready")
    except BaseException:
        down(state_dir)
        raise
    return stack


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(component: dict[str, Any]) -> bool:
    """The pid runs and is still the process we started (not a reused pid)."""
    line = _cmdline(int(component["pid"]))
    # A wrapper script (scripts/tools.sh's alertmanager) execs the real binary: the command line
    # then names another program, with the same arguments (their ports and paths are this stack's).
    args = str(component.get("args") or "")
    return bool(line) and (str(component["cmd"]) in line or (bool(args) and args in line))


def down(state_dir: Path) -> str:
    stack = load(state_dir)
    if stack is None:
        return f"no stack in {state_dir}"
    lines = []
    for name in reversed(list(stack.components)):
        component = stack.components[name]
        pid = int(component["pid"])
        if not _alive(component):
            lines.append(f"{name}: not running")
            continue
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):                 # bounded: 100 × 0.1 s, then SIGKILL
            if not _alive(component):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        lines.append(f"{name}: stopped (pid {pid})")
    (state_dir / "state.json").unlink(missing_ok=True)
    return "\n".join(lines)


def status(state_dir: Path) -> str:
    stack = load(state_dir)
    if stack is None:
        return f"no stack in {state_dir}; start one with `vigil stack up`"
    lines = []
    for name, c in stack.components.items():
        answers = False
        if _alive(c):
            try:
                answers = requests.get(f"{c['url']}/-/ready", timeout=2).status_code == 200
            except requests.RequestException:
                pass
        state = "ready" if answers else ("running, not answering" if _alive(c) else "stopped")
        lines.append(f"{name:<13} {state:<22} {c['url']:<28} pid {c['pid']}")
    return "\n".join(lines + ["", *[f"export {k}={v}" for k, v in stack.env.items()]])


def require(state_dir: Path) -> Stack:
    stack = load(state_dir)
    if stack is None or not all(_alive(c) for c in stack.components.values()):
        raise StackError(f"no running stack in {state_dir}: start it with `vigil stack up`")
    return stack
