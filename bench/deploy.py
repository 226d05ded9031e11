"""Deploy: push a built synthetic catalog to the in-repo Grafana and Mimir fakes with a per-request
latency; first deploy, unchanged redeploy (must make zero writes), and a naive sequential pusher.
Each fake runs in its own process (as a real server would), so the figures are vigil's.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, machine, write_section

from vigil.catalog.synthetic import write_catalog

sys.path.insert(0, str(ROOT / "tests"))
from fakes.grafana import FakeGrafana
from fakes.mimir import FakeMimir


def serve(kind: str, latency: float, conn: Connection) -> None:
    """In a child process: one fake, answering every request `latency` seconds late, and the
    parent's questions about its request log over a pipe."""
    fake = (FakeGrafana if kind == "grafana" else FakeMimir)(latency=latency).start()
    conn.send((fake.url, getattr(fake, "token", "")))
    while True:
        command = conn.recv()
        if command == "counts":  # and start counting the most requests in flight afresh
            with fake.lock:
                conn.send((len(fake.log), len([e for e in fake.log if e[0] != "GET"]), fake.max_in_flight))
                fake.max_in_flight = fake.in_flight
        else:
            fake.stop()
            conn.send(None)
            return


class Remote:
    """A fake in its own process, as a real server is: its CPU (parsing what we push, serialising
    what we read) runs beside vigil's instead of taking turns with it for one interpreter lock."""

    def __init__(self, kind: str, latency: float):
        context = multiprocessing.get_context("spawn")  # no fork of a process that has threads
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(kind, latency, child), daemon=True)
        self.process.start()
        self.url, self.token = self.conn.recv()

    def counts(self) -> tuple[int, int, int]:
        """(requests, writes) so far, and the most requests in flight at once since the last call."""
        self.conn.send("counts")
        return self.conn.recv()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.conn.send("stop")
        self.conn.recv()
        self.process.join(10)


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
        r = g.post(
            f"{grafana}/api/dashboards/db",
            json={"dashboard": dash, "folderUid": where.get(p.stem, ""), "overwrite": True},
            timeout=30,
        )
        r.raise_for_status()
        n += 1
    for p in sorted((out / "prometheus" / "rules").glob("*.yaml")):
        for group in yaml.load(p.read_text(), Loader=yaml.CSafeLoader)["groups"]:
            r = m.post(
                f"{mimir}/prometheus/config/v1/rules/{p.stem}",
                data=yaml.dump(group, Dumper=yaml.CSafeDumper).encode(),
                timeout=30,
            )
            r.raise_for_status()
            n += 1
    return n


def main(n: int, latency: float, mix: str, command: str) -> None:
    from vigil.build import build
    from vigil.check import check_output
    from vigil.deploy.http import HttpSettings
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

        groups = sum(
            len(yaml.load(p.read_text(), Loader=yaml.CSafeLoader)["groups"])
            for p in (out / "prometheus" / "rules").glob("*.yaml")
        )
        t = time.perf_counter()
        check_output(out, tests=False)
        checks = time.perf_counter() - t
        grafana, mimir = Remote("grafana", latency), Remote("mimir", latency)
        env = {
            "GRAFANA_URL": grafana.url,
            "GRAFANA_TOKEN": grafana.token,
            "MIMIR_ADDRESS": mimir.url,
            "MIMIR_TENANT_ID": "bench",
            "SMTP_FROM": "vigil@example.com",
            "SMTP_SMARTHOST": "127.0.0.1:25",
        }
        rows = []
        try:
            for label in ("first deploy", "unchanged redeploy"):
                before = [grafana.counts(), mimir.counts()]
                t = time.perf_counter()
                report = deploy(Options(catalog=catalog, from_dir=out, unit_tests=False, cache=None), env)
                took = time.perf_counter() - t
                if report.failed:
                    raise SystemExit(report.text())
                after = [grafana.counts(), mimir.counts()]
                reqs = sum(a[0] - b[0] for a, b in zip(after, before))
                writes = sum(a[1] - b[1] for a, b in zip(after, before))
                peak = max(a[2] for a in after)
                rows.append((f"`vigil deploy` {label}", took, took - checks, reqs, writes, report.writes, peak))
                print(f"deploy {label}: {took:.1f}s, {reqs} requests, {writes} writes", flush=True)
            for label in ("naive push (fresh fakes)", "naive push again (unchanged)"):
                if label.startswith("naive push (fresh"):
                    grafana.stop()
                    mimir.stop()
                    grafana, mimir = Remote("grafana", latency), Remote("mimir", latency)
                before = [grafana.counts(), mimir.counts()]
                t = time.perf_counter()
                naive_push(out, grafana.url, grafana.token, mimir.url, "bench")
                took = time.perf_counter() - t
                after = [grafana.counts(), mimir.counts()]
                reqs = sum(a[0] - b[0] for a, b in zip(after, before))
                writes = sum(a[1] - b[1] for a, b in zip(after, before))
                rows.append((label, took, took, reqs, writes, None, max(a[2] for a in after)))
                print(f"{label}: {took:.1f}s, {reqs} requests, {writes} writes", flush=True)
        finally:
            grafana.stop()
            mimir.stop()
    lines = [
        "## 4. Deploy to the Grafana and Mimir fakes\n",
        f"`{command}`\n",
        f"Machine: {header}. {n} services ({mix} mix): {dashboards} dashboards, {groups} rule groups, "
        f"1 Alertmanager config. The fakes (tests/fakes/) answer every request {latency * 1000:.0f} ms late, "
        f"each in its own process, as a real server is. `vigil deploy` runs with its default "
        f"{HttpSettings().workers} workers per target. "
        f"`vigil deploy --from` re-runs the fast checks first: {checks:.1f} s of each deploy's time; the "
        "next column leaves them out (deploy's own plan and push). "
        "Writes are counted from the fakes' request logs (every non-GET request); in flight: the most "
        "requests one fake was answering at once.\n",
        "| run | seconds | without the checks | requests | writes (fakes' logs) | writes (vigil's report) "
        "| most in flight |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, took, push, reqs, writes, reported, peak in rows:
        lines.append(
            f"| {label} | {took:.1f} | {push:.1f} | {reqs} | {writes} | "
            f"{'-' if reported is None else reported} | {peak} |"
        )
    lines.append(f"\nThis part took {time.perf_counter() - started:.0f} s.")
    write_section("deploy", "\n".join(lines))
