"""The generated config in a real Alertmanager: alerts posted to its API reach the right department
channels (a local webhook sink stands in for each), inhibited alerts do not, and resolved alerts
arrive as resolved.

The catalog is the example's services and propagation policy, with every channel pointed at the
sink and short group timings set through departments.yaml, as a user would.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
import yaml

from conftest import CATALOG, free_port
from tool_generations import GENERATIONS, on_path
from vigil.render.alertmanager import CASES, CONFIG
from vigil.build import build
from vigil.stack import alertmanager as am_stack
from vigil import tools

pytestmark = pytest.mark.integration
WAIT = 60  # seconds: an upper bound on waiting for a notification, never an assertion about time


class Sink:
    """Records every webhook notification: (path, payload)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with sink.changed:
                    sink.received.append((self.path, body))
                    sink.changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deliveries(self) -> list[tuple[str, str, dict[str, str]]]:
        """(receiver, status, labels) of every alert in every notification so far."""
        with self.changed:
            out = []
            for path, body in self.received:
                assert path == "/" + body["receiver"], (path, body["receiver"])   # the channel's own URL
                out += [(body["receiver"], a["status"], a["labels"]) for a in body["alerts"]]
            return out

    def wait_for(self, what: str, done: Callable[[list[tuple[str, str, dict[str, str]]]], bool]) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: done(self.deliveries()), timeout=WAIT):
                pytest.fail(f"no notification for {what}; received: {self.received}")


def sink_catalog(root: Path, sink: str) -> Path:
    """The example catalog with every channel a webhook on the sink and 1s group timings."""
    shutil.copytree(CATALOG, root)
    doc = yaml.safe_load((root / "departments.yaml").read_text())
    doc["defaults"] = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}
    # Business keeps active_hours, on an interval that is always active, so the test does not
    # depend on the hour it runs at.
    doc["time_intervals"] = {"office-hours": {"weekdays": ["sunday:saturday"]}}
    for dept in doc["departments"]:
        dept.pop("repeat_interval", None)
        dept["channels"] = {name: {"webhook": {"url": f"{sink}/{dept['id']}/{name}"}} for name in dept["channels"]}
    (root / "departments.yaml").write_text(yaml.safe_dump(doc))
    return root


@pytest.fixture(scope="module", params=GENERATIONS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Sink, Path]]:
    """Once per tool generation: the config is checked by that generation's amtool and routed by
    that generation's Alertmanager."""
    with on_path(request.param):
        tools.find("alertmanager")
        tmp = tmp_path_factory.mktemp(f"am-{request.param}")
        sink = Sink()
        out = tmp / "output"
        try:
            build(sink_catalog(tmp / "catalog", sink.url), out)   # checks included: amtool agrees first
            with am_stack.running(out / CONFIG, tmp / "am", free_port()) as url:
                yield url, sink, out
        finally:
            sink.server.shutdown()


def now(delta: float = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).isoformat()


def post(url: str, *alerts: dict[str, str], starts: str | None = None, ends: str | None = None) -> None:
    # startsAt is now: an alert older than group_wait would flush its group at once, and group_wait
    # is what gives inhibition time to see its source (as with Prometheus in production).
    body = [{"labels": labels, "annotations": {"summary": "test"}, "startsAt": starts or now(),
             **({"endsAt": ends} if ends else {})} for labels in alerts]
    requests.post(f"{url}/api/v2/alerts", json=body, timeout=10).raise_for_status()


def api_alerts(url: str, cluster: str) -> dict[str, dict[str, Any]]:
    """Alertmanager's view of the alerts of one test (by cluster), keyed by alertname/severity."""
    got = requests.get(f"{url}/api/v2/alerts", params={"filter": f'cluster="{cluster}"'}, timeout=10).json()
    return {a["labels"]["alertname"] + "/" + a["labels"]["severity"]: a for a in got}


def cases(out: Path) -> list[dict[str, Any]]:
    return yaml.safe_load((out / CASES).read_text())["cases"]


def real(out: Path, service: str, alertname: str, severity: str, cluster: str) -> dict[str, str]:
    """The labels of one generated alert rule, in a test-private cluster (inhibition compares cluster)."""
    doc = yaml.safe_load((out / f"prometheus/rules/{service}.yaml").read_text())
    [rule] = [r for g in doc["groups"] for r in g["rules"]
              if r.get("alert") == alertname and r["labels"]["severity"] == severity]
    return {**rule["labels"], "alertname": alertname, "cluster": cluster}


def test_every_case_reaches_exactly_its_departments(stack):
    url, sink, out = stack
    # Each case in its own cluster, so that no case inhibits another (every `equal` has cluster).
    posted = {f"case-{i}": ({**c["labels"], "alertname": c["labels"].get("alertname", "Probe"), "cluster": f"case-{i}"},
                            c["receivers"]) for i, c in enumerate(cases(out))}
    post(url, *(labels for labels, _ in posted.values()))

    def told(cluster: str, deliveries: list[tuple[str, str, dict[str, str]]]) -> set[str]:
        return {r for r, status, labels in deliveries if labels["cluster"] == cluster and status == "firing"}
    sink.wait_for("every case", lambda d: all(told(k, d) >= set(v) for k, (_, v) in posted.items()))
    deliveries = sink.deliveries()
    for cluster, (labels, receivers) in posted.items():
        assert told(cluster, deliveries) == set(receivers), labels
        [alert] = api_alerts(url, cluster).values()
        assert sorted(r["name"] for r in alert["receivers"]) == sorted(receivers), labels   # and nobody else


def test_inhibited_alerts_do_not_arrive(stack):
    url, sink, out = stack
    c = "inhibit"
    sources = [real(out, "checkout", "ErrorRatioHigh", "critical", c),
               real(out, "checkout", "AvailabilityErrorBudgetBurn", "critical", c),
               real(out, "orders-db", "ServiceDown", "critical", c)]
    targets = [real(out, "checkout", "ErrorRatioHigh", "warning", c),                 # same service and key metric
               real(out, "checkout", "AvailabilityErrorBudgetBurn", "warning", c),    # the same SLO's ticket
               real(out, "orders-db", "ConnectionsHigh", "warning", c),               # the service is down:
               real(out, "orders-db", "ConnectionsHigh", "critical", c)]              # nothing else of it
    # The sources first, until they arrive: by then the inhibitor has them too.
    post(url, *sources)
    sink.wait_for("the sources", lambda d: {(r, lab["alertname"]) for r, _, lab in d if lab["cluster"] == c} >= {
        ("commerce-dev/page", "ErrorRatioHigh"), ("commerce-dev/page", "AvailabilityErrorBudgetBurn"),
        ("platform-dev/page", "ServiceDown")})
    post(url, *targets)
    state = api_alerts(url, c)
    for t in targets:
        status = state[t["alertname"] + "/" + t["severity"]]["status"]
        assert status["state"] == "suppressed" and status["inhibitedBy"], t
    for s in sources:
        assert state[s["alertname"] + "/" + s["severity"]]["status"]["state"] == "active", s
    # Then a barrier per receiver the targets would have reached, posted after them: once it
    # arrives, the targets' groups (older, same group_wait) have been flushed too.
    barrier = [real(out, "catalog-api", "LatencyP99High", "warning", "barrier"),      # commerce-dev/chat
               real(out, "redis-cache", "MemoryUsageHigh", "warning", "barrier"),     # platform-dev/chat
               real(out, "redis-cache", "MemoryUsageHigh", "critical", "barrier-2")]  # platform-dev/page
    post(url, *barrier)
    sink.wait_for("the barrier", lambda d: {(r, lab["cluster"]) for r, _, lab in d} >= {
        ("commerce-dev/chat", "barrier"), ("platform-dev/chat", "barrier"), ("platform-dev/page", "barrier-2")})
    arrived = [labels for _, _, labels in sink.deliveries() if labels["cluster"] == c]
    for t in targets:
        assert t not in arrived, t


def test_a_resolved_alert_arrives_as_resolved(stack):
    url, sink, out = stack
    alert = real(out, "payment", "ErrorRatioHigh", "critical", "resolve")
    started = now()
    post(url, alert, starts=started)

    def statuses(deliveries: list[tuple[str, str, dict[str, str]]]) -> set[tuple[str, str]]:
        return {(r, s) for r, s, labels in deliveries if labels["cluster"] == "resolve"}
    want = {"payments-dev/page", "business/chat", "cs/chat", "operations/chat"}
    sink.wait_for("the firing alert", lambda d: statuses(d) >= {(r, "firing") for r in want})
    post(url, alert, starts=started, ends=now())
    sink.wait_for("the resolved alert", lambda d: statuses(d) >= {(r, "resolved") for r in want})
    assert api_alerts(url, "resolve") == {}   # and Alertmanager no longer lists it as active
