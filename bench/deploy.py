"""Deploy: push a built synthetic catalog to the in-repo Grafana and Mimir fakes with a per-request
latency; first deploy, unchanged redeploy (must make zero writes), and a naive sequential pusher.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, machine, write_section  # noqa: E402
from synth import write_catalog  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from fakes.grafana import FakeGrafana  # noqa: E402
from fakes.mimir import FakeMimir  # noqa: E402


def slow(cls: type, latency: float) -> type:
    """The fake, answering every request `latency` seconds late (outside its lock, as a server would)."""
    class Slow(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *a, **k):  # type: ignore[no-untyped-def]
            super().__init__(*a, **k)
            # The fake writes headers and body in two sends: without TCP_NODELAY, Nagle's algorithm and
            # the client's delayed ACK add ~40 ms to every answer, which no real server has.
            self.server.RequestHandlerClass.disable_nagle_algorithm = True

        def dispatch(self, request):  # type: ignore[no-untyped-def]
            time.sleep(latency)
            return super().dispatch(request)
    return Slow


def counts(fake) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with fake.lock:
        return len(fake.log), len([e for e in fake.log if e[0] != "GET"])


def naive_push(out: Path, grafana: str, token: str, mimir: str, tenant: str) -> int:
    """One request at a time, no diffing: every folder, dashboard and rule group, every time."""
    import requests
    import yaml
    g = requests.Session()
    g.headers["Authorization"] = f"Bearer {token}"
    m = requests.Session()
    m.headers.update({"X-Scope-OrgID": tenant, "Content-Type": "application/yaml"})
    n = 0
    doc = json.loads((out / "grafana" / "folders.json").read_text())
    where = {}
    for f in doc.get("folders", []):
        g.post(f"{grafana}/api/folders", json={"uid": f["uid"], "title": f["title"]}, timeout=30)  # 409 when present
        n += 1
        where.update({uid: f["uid"] for uid in f["dashboards"]})
    for p in sorted((out / "grafana" / "dashboards").glob("*.json")):
        dash = {**json.loads(p.read_text()), "id": None}
        r = g.post(f"{grafana}/api/dashboards/db", json={"dashboard": dash, "folderUid": where.get(p.stem, ""),
                                                         "overwrite": True}, timeout=30)
        r.raise_for_status()
        n += 1
    for p in sorted((out / "prometheus" / "rules").glob("*.yaml")):
        for group in yaml.load(p.read_text(), Loader=yaml.CSafeLoader)["groups"]:
            r = m.post(f"{mimir}/prometheus/config/v1/rules/{p.stem}",
                       data=yaml.dump(group, Dumper=yaml.CSafeDumper).encode(), timeout=30)
            r.raise_for_status()
            n += 1
    return n


def main(n: int, latency: float, mix: str, command: str) -> None:
    from vigil.build import build
    from vigil.check import check_output
    from vigil.deploy.run import Options, deploy
    started = time.perf_counter()
    header = machine()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = write_catalog(Path(tmp) / "catalog", n, mix)
        out = Path(tmp) / "out"
        print(f"deploy: building {n} services ...", flush=True)
        build(catalog, out, run_checks=True, run_tests=False, cache_dir=Path(tmp) / "cache")
        dashboards = len(list((out / "grafana" / "dashboards").glob("*.json")))
        import yaml
        groups = sum(len(yaml.load(p.read_text(), Loader=yaml.CSafeLoader)["groups"])
                     for p in (out / "prometheus" / "rules").glob("*.yaml"))
        t = time.perf_counter()
        check_output(out, tests=False)
        checks = time.perf_counter() - t
        grafana, mimir = slow(FakeGrafana, latency)().start(), slow(FakeMimir, latency)().start()
        env = {"GRAFANA_URL": grafana.url, "GRAFANA_TOKEN": grafana.token,
               "MIMIR_ADDRESS": mimir.url, "MIMIR_TENANT_ID": "bench",
               "SMTP_FROM": "vigil@example.com", "SMTP_SMARTHOST": "127.0.0.1:25"}
        rows = []
        try:
            for label in ("first deploy", "unchanged redeploy"):
                before = [counts(grafana), counts(mimir)]
                t = time.perf_counter()
                report = deploy(Options(catalog=catalog, from_dir=out, unit_tests=False, cache=None), env)
                took = time.perf_counter() - t
                if report.failed:
                    raise SystemExit(report.text())
                after = [counts(grafana), counts(mimir)]
                reqs = sum(a[0] - b[0] for a, b in zip(after, before))
                writes = sum(a[1] - b[1] for a, b in zip(after, before))
                rows.append((f"`vigil deploy` {label}", took, reqs, writes, report.writes))
                print(f"deploy {label}: {took:.1f}s, {reqs} requests, {writes} writes", flush=True)
            for label in ("naive push (fresh fakes)", "naive push again (unchanged)"):
                if label.startswith("naive push (fresh"):
                    grafana.stop(); mimir.stop()   # noqa: E702
                    grafana, mimir = slow(FakeGrafana, latency)().start(), slow(FakeMimir, latency)().start()
                before = [counts(grafana), counts(mimir)]
                t = time.perf_counter()
                naive_push(out, grafana.url, grafana.token, mimir.url, "bench")
                took = time.perf_counter() - t
                after = [counts(grafana), counts(mimir)]
                reqs = sum(a[0] - b[0] for a, b in zip(after, before))
                writes = sum(a[1] - b[1] for a, b in zip(after, before))
                rows.append((label, took, reqs, writes, None))
                print(f"{label}: {took:.1f}s, {reqs} requests, {writes} writes", flush=True)
        finally:
            grafana.stop()
            mimir.stop()
    lines = ["## 4. Deploy to the Grafana and Mimir fakes\n", f"`{command}`\n",
             f"Machine: {header}. {n} services ({mix} mix): {dashboards} dashboards, {groups} rule groups, "
             f"1 Alertmanager config. The fakes (tests/fakes/) answer every request {latency * 1000:.0f} ms late. "
             f"`vigil deploy --from` re-runs the fast checks first: {checks:.1f} s of each deploy's time below. "
             "Writes are counted from the fakes' request logs (every non-GET request).\n",
             "| run | seconds | requests | writes (fakes' logs) | writes (vigil's report) |", "|---|---|---|---|---|"]
    for label, took, reqs, writes, reported in rows:
        lines.append(f"| {label} | {took:.1f} | {reqs} | {writes} | {'-' if reported is None else reported} |")
    lines.append(f"\nThis part took {time.perf_counter() - started:.0f} s.")
    write_section("deploy", "\n".join(lines))
