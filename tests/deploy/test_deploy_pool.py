"""The bounded pool of workers behind the Grafana and Mimir pushes: never more requests in flight than
workers, folders before their dashboards, and a failure halfway through a parallel push rolled back
(everything it changed, nothing else). Concurrency is proven with barriers (the fakes' gates), never
with timings: a gate of N opens only when N requests are in flight at once."""

from __future__ import annotations

import copy
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from fakes.grafana import FakeGrafana
from fakes.mimir import FakeMimir
from vigil.deploy import pool
from vigil.deploy.http import HttpSettings
from vigil.deploy.run import Options, deploy
from vigil.render.dashboards import FOLDERS_FILE

SECRETS = {
    "OPS_NOC_WEBHOOK_URL": "http://noc.example/hook",
    "SMTP_FROM": "a@example.com",
    "SMTP_SMARTHOST": "smtp.example.com:25",
}


def opts(build: Path, workers: int, **kw: Any) -> Options:
    http = HttpSettings(timeout=5.0, retries=3, backoff=0.01, workers=workers)
    return Options(catalog=Path("catalog"), from_dir=build, unit_tests=False, cache=None, http=http, **kw)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana().start()
    yield fake
    fake.stop()


@pytest.fixture
def mimir() -> Iterator[FakeMimir]:
    fake = FakeMimir().start()
    yield fake
    fake.stop()


def genv(fake: FakeGrafana) -> dict[str, str]:
    return {"GRAFANA_URL": fake.url, "GRAFANA_TOKEN": fake.token, "VIGIL_REVISION": "abc1234"}


def menv(fake: FakeMimir) -> dict[str, str]:
    return {"MIMIR_ADDRESS": fake.url, "MIMIR_TENANT_ID": "shop", **SECRETS}


# --- the pool itself --------------------------------------------------------------------------


def test_the_pool_runs_exactly_as_many_tasks_at_once_as_it_has_workers():
    lock, state = threading.Lock(), {"now": 0, "most": 0}
    barrier = threading.Barrier(4, timeout=10)  # opens only when 4 tasks run at once

    def task(_: int) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        barrier.wait()
        with lock:
            state["now"] -= 1

    outcome = pool.run(list(range(12)), task, 4)
    assert not outcome.failed and outcome.done == list(range(12))
    assert state["most"] == 4


def test_after_a_failure_no_task_starts_and_failures_are_reported_in_input_order():
    started: list[int] = []

    def task(i: int) -> None:
        started.append(i)
        if i == 2:
            raise ValueError("two")

    outcome = pool.run(list(range(10)), task, 1)
    assert started == [0, 1, 2] and outcome.done == [0, 1]
    assert [i for i, _ in outcome.failures] == [2] and outcome.message() == "two"

    barrier = threading.Barrier(4, timeout=10)

    def every_one_fails(i: int) -> None:
        barrier.wait()  # all four are running before any fails
        raise ValueError(f"item {i}")

    outcome = pool.run(list(range(4)), every_one_fails, 4)
    assert [i for i, _ in outcome.failures] == [0, 1, 2, 3]
    assert outcome.message() == "item 0 (and 3 more failures)"


# --- Grafana ------------------------------------------------------------------------------------


def test_grafana_folders_all_finish_before_the_first_dashboard_and_both_go_in_parallel(
    grafana: FakeGrafana, example_output: Path
):
    folders = grafana.gate("POST", "/api/folders", 3)  # the example's 3 folders, at once
    boards = grafana.gate("POST", "/api/dashboards/db", 8)  # its 8 dashboards, at once
    report = deploy(opts(example_output, workers=8), genv(grafana))
    assert not report.failed, report.text()
    assert not folders.broken and not boards.broken
    events = grafana.events
    last_folder_end = max(i for i, e in enumerate(events) if e == ("end", "POST", "/api/folders"))
    first_board_start = min(i for i, e in enumerate(events) if e == ("start", "POST", "/api/dashboards/db"))
    assert last_folder_end < first_board_start


def test_grafana_never_has_more_requests_in_flight_than_workers(grafana: FakeGrafana, example_output: Path):
    gate = grafana.gate("POST", "/api/dashboards/db", 3)
    report = deploy(opts(example_output, workers=3), genv(grafana))
    assert not report.failed, report.text()
    assert not gate.broken and grafana.max_in_flight == 3
    again = deploy(opts(example_output, workers=2), genv(grafana))  # the plan's reads are pooled too
    assert not again.failed and again.writes == 0
    assert grafana.max_in_flight == 3


def _changed_build(src: Path, dest: Path) -> None:
    """The example build with 4 dashboards changed, a new dashboard in a new folder, and the
    payments folder renamed."""
    shutil.copytree(src, dest)
    boards = dest / "grafana/dashboards"
    for uid in ("vigil-checkout", "vigil-orders-db", "vigil-payment", "vigil-redis-cache"):
        path = boards / f"{uid}.json"
        doc = json.loads(path.read_text())
        doc["refresh"] = "30s"
        path.write_text(json.dumps(doc))
    new = json.loads((boards / "vigil-catalog-api.json").read_text())
    new.update(uid="vigil-newsvc", title="newsvc")
    (boards / "vigil-newsvc.json").write_text(json.dumps(new))
    folders = json.loads((dest / FOLDERS_FILE).read_text())
    folders["folders"].append({"uid": "vigil-dept-new", "title": "New department", "dashboards": ["vigil-newsvc"]})
    for f in folders["folders"]:
        if f["uid"] == "vigil-dept-payments-dev":
            f["title"] = "Payments (renamed)"
    (dest / FOLDERS_FILE).write_text(json.dumps(folders))


def _grafana_state(fake: FakeGrafana) -> tuple[dict[str, str], dict[str, Any]]:
    with fake.lock:
        folders = {uid: f["title"] for uid, f in fake.folders.items()}
        boards = {
            uid: (d["folderUid"], {k: v for k, v in d["dashboard"].items() if k not in ("id", "version")})
            for uid, d in fake.dashboards.items()
        }
    return folders, copy.deepcopy(boards)


def test_a_failure_halfway_through_a_parallel_grafana_push_rolls_back_everything_it_changed_and_nothing_else(
    grafana: FakeGrafana, example_output: Path, tmp_path: Path
):
    assert not deploy(opts(example_output, workers=4), genv(grafana)).failed
    auth = {"Authorization": f"Bearer {grafana.token}"}
    for board in (
        {"uid": "team-latency", "title": "Team latency", "tags": ["team"]},  # someone else's
        {"uid": "vigil-retired", "title": "retired", "tags": ["vigil"]},
    ):  # ours, to prune
        requests.post(
            f"{grafana.url}/api/dashboards/db",
            headers=auth,
            timeout=5,
            json={"dashboard": board, "folderUid": "vigil-dept-commerce-dev"},
        ).raise_for_status()
    changed = tmp_path / "changed"
    _changed_build(example_output, changed)
    before = _grafana_state(grafana)
    versions = {uid: d["version"] for uid, d in grafana.dashboards.items()}
    # The third of six dashboard changes (checkout, newsvc, orders-db, payment, redis-cache, retired)
    # is refused, while the others are in flight around it.
    grafana.inject(
        "POST", "/api/dashboards/db", status=400, when=lambda r: r.json()["dashboard"]["uid"] == "vigil-orders-db"
    )

    report = deploy(opts(changed, workers=4, prune=True), genv(grafana))

    [result] = report.results
    assert result.status == "rolled back", report.text()
    assert "vigil-orders-db" in result.message and "rolled back" in result.message
    assert _grafana_state(grafana) == before  # every folder and dashboard as it was
    for uid in ("vigil-catalog-api", "vigil-overview", "vigil-orders-mq", "vigil-settlement-batch", "team-latency"):
        assert grafana.dashboards[uid]["version"] == versions[uid], f"{uid} was written"
    # Newest first: every dashboard is undone before a folder is renamed back or removed.
    failed_at = next(i for i, (_, _, status) in enumerate(grafana.log) if status == 400)
    writes = [(m, p) for m, p, _ in grafana.log[failed_at:] if m != "GET"]
    board_writes = [i for i, (m, p) in enumerate(writes) if p.startswith("/api/dashboards")]
    undo = {("PUT", "/api/folders/vigil-dept-payments-dev"), ("DELETE", "/api/folders/vigil-dept-new")}
    folder_undo = [i for i, write in enumerate(writes) if write in undo]
    assert len(folder_undo) == 2 and max(board_writes) < min(folder_undo)
    assert not any(p.endswith("/team-latency") for _, p in writes)


# --- Mimir --------------------------------------------------------------------------------------


def test_mimir_never_has_more_requests_in_flight_than_workers(mimir: FakeMimir, example_output: Path):
    gate = mimir.gate("POST", "/prometheus/config/v1/rules/", 3)
    report = deploy(opts(example_output, workers=3), menv(mimir))
    assert not report.failed, report.text()
    assert not gate.broken and mimir.max_in_flight == 3


def _changed_rules(src: Path, dest: Path) -> None:
    """The example build with 3 services' rules changed and a new service."""
    shutil.copytree(src, dest)
    rules = dest / "prometheus/rules"
    for name in ("checkout", "payment", "redis-cache"):
        doc = yaml.safe_load((rules / f"{name}.yaml").read_text())
        doc["groups"][0]["rules"][0].setdefault("labels", {})["changed"] = "yes"
        (rules / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (rules / "newsvc.yaml").write_text(
        "groups:\n- name: vigil-newsvc\n  rules:\n  - record: a:b:c\n    expr: vector(1)\n"
    )


def test_a_failure_halfway_through_a_parallel_mimir_push_rolls_back_everything_it_changed_and_nothing_else(
    mimir: FakeMimir, example_output: Path, tmp_path: Path
):
    assert not deploy(opts(example_output, workers=3), menv(mimir)).failed
    headers = {"X-Scope-OrgID": "shop", "Content-Type": "application/yaml"}
    for ns, text in (
        ("team", "name: team-rules\nrules:\n- record: team:up:sum\n  expr: sum(up)\n"),
        ("retired", "name: vigil-retired\nrules:\n- record: a:b:c\n  expr: vector(1)\n"),
    ):
        requests.post(
            f"{mimir.url}/prometheus/config/v1/rules/{ns}", data=text, headers=headers, timeout=5
        ).raise_for_status()
    changed = tmp_path / "changed"
    _changed_rules(example_output, changed)
    with mimir.lock:
        before = copy.deepcopy({ns: g for ns, g in mimir.rules["shop"].items() if g})
    failed_at = len(mimir.log)
    # Namespaces to change: checkout, newsvc, payment, redis-cache, retired (pruned); payment fails.
    mimir.inject("POST", "/prometheus/config/v1/rules/payment", status=400)

    report = deploy(opts(changed, workers=3, prune=True, only=("prometheus",)), menv(mimir))

    [result] = report.results
    assert result.status == "rolled back", report.text()
    assert "payment" in result.message and "rolled back" in result.message
    with mimir.lock:
        assert {ns: g for ns, g in mimir.rules["shop"].items() if g} == before
    written = {p.split("/")[5] for m, p, _ in mimir.log[failed_at:] if m != "GET"}
    assert written <= {"checkout", "newsvc", "payment", "redis-cache", "retired"}
    assert "team" not in written


def test_cli_deploy_takes_the_number_of_workers(grafana: FakeGrafana, example_output: Path):
    from click.testing import CliRunner

    from vigil.cli import cli

    runner = CliRunner()
    env = {
        **genv(grafana),
        **{
            k: None
            for k in (
                "MIMIR_ADDRESS",
                "MIMIR_TENANT_ID",
                "ALERTMANAGER_URL",
                "ALERTMANAGER_CONFIG_FILE",
                "PROMETHEUS_URL",
                "PROMETHEUS_RULES_DIR",
            )
        },
    }
    args = ["deploy", "--from", str(example_output), "--no-unit-tests"]
    refused = runner.invoke(cli, [*args, "--workers", "0"], env=env)  # type: ignore[arg-type]
    assert refused.exit_code == 2 and "--workers" in refused.output
    gate = grafana.gate("POST", "/api/dashboards/db", 2)
    done = runner.invoke(cli, [*args, "--workers", "2"], env=env)  # type: ignore[arg-type]
    assert done.exit_code == 0, done.output
    assert not gate.broken and grafana.max_in_flight == 2
