"""`vigil deploy` to Grafana, against tests/fakes/grafana.py (Grafana's documented API behaviour)
and, when GRAFANA_URL is set, against a real Grafana."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fakes.grafana import FakeGrafana
from vigil.deploy.http import HttpSettings
from vigil.deploy.plan import Result
from vigil.deploy.run import Options, deploy
from vigil.errors import DeployError
from vigil.layout import ANNOTATIONS_FILE, FOLDERS_FILE

FAST = HttpSettings(timeout=1.0, retries=3, backoff=0.01)
FOREIGN = {"uid": "team-latency", "title": "Team latency", "tags": ["team"], "panels": []}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana().start()
    yield fake
    fake.stop()


def env(fake: FakeGrafana, **extra: str) -> dict[str, str]:
    return {"GRAFANA_URL": fake.url, "GRAFANA_TOKEN": fake.token, "VIGIL_REVISION": "abc1234", **extra}


def opts(build: Path, **kw: object) -> Options:
    return Options(catalog=Path("catalog"), from_dir=build, unit_tests=False, cache=None, http=FAST, **kw)  # type: ignore[arg-type]


def built(build: Path) -> tuple[dict[str, str], dict[str, dict]]:
    folders = json.loads((build / FOLDERS_FILE).read_text())
    placement = {uid: f["uid"] for f in folders["folders"] for uid in f["dashboards"]}
    placement.update({uid: "" for uid in folders["general"]})
    boards = {p.stem: json.loads(p.read_text()) for p in (build / "grafana/dashboards").glob("*.json")}
    return placement, boards


def post_foreign(fake: FakeGrafana, dashboard: dict, folder: str = "") -> None:
    r = requests.post(
        f"{fake.url}/api/dashboards/db",
        json={"dashboard": dashboard, "folderUid": folder},
        headers={"Authorization": f"Bearer {fake.token}"},
        timeout=5,
    )
    assert r.status_code == 200, r.text


def test_folders_come_first_then_every_dashboard_in_its_folder_with_the_revision(
    grafana: FakeGrafana, example_output: Path
):
    report = deploy(opts(example_output), env(grafana))
    assert not report.failed, report.text()
    placement, boards = built(example_output)
    assert set(grafana.dashboards) == set(boards)
    for uid, doc in boards.items():
        stored = grafana.dashboards[uid]
        assert stored["folderUid"] == placement[uid]
        assert {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")} == {
            k: v for k, v in doc.items() if k not in ("id", "version")
        }
        assert "abc1234" in stored["message"]
    writes = [path for method, path, _ in grafana.writes()]
    last_folder = max(i for i, p in enumerate(writes) if p == "/api/folders")
    first_board = min(i for i, p in enumerate(writes) if p == "/api/dashboards/db")
    assert last_folder < first_board
    gets = [p for m, p, _ in grafana.log if m == "GET" and p.startswith("/api/dashboards/uid/")]
    assert sorted(set(gets)) == sorted(f"/api/dashboards/uid/{uid}" for uid in boards)  # each read back


def test_a_second_deploy_makes_zero_writes(grafana: FakeGrafana, example_output: Path):
    deploy(opts(example_output), env(grafana))
    before = len(grafana.writes())
    report = deploy(opts(example_output), env(grafana))
    assert not report.failed and report.writes == 0, report.text()
    assert len(grafana.writes()) == before
    # 8 dashboards and the 6 postmortem annotations on them (test_deploy_annotations.py)
    assert "0 to add, 0 to change, 0 to remove, 14 unchanged" in report.text()


def test_prune_deletes_only_vigil_dashboards_the_build_no_longer_has(grafana: FakeGrafana, example_output: Path):
    deploy(opts(example_output), env(grafana))
    post_foreign(grafana, FOREIGN, "vigil-dept-commerce-dev")  # someone's, in our folder
    post_foreign(
        grafana,
        {"uid": "vigil-retired", "title": "retired", "tags": ["vigil"], "panels": []},
        "vigil-dept-commerce-dev",
    )  # ours, no longer built
    kept = deploy(opts(example_output), env(grafana))
    assert "vigil-retired" in grafana.dashboards and "no longer built; kept" in kept.text()

    pruned = deploy(opts(example_output, prune=True), env(grafana))
    assert not pruned.failed, pruned.text()
    assert "vigil-retired" not in grafana.dashboards
    assert grafana.dashboards["team-latency"]["dashboard"]["title"] == "Team latency"
    deletes = [p for m, p, _ in grafana.writes() if m == "DELETE"]
    assert deletes == ["/api/dashboards/uid/vigil-retired"]


def test_prune_refuses_to_delete_every_vigil_dashboard(grafana: FakeGrafana, example_output: Path, tmp_path: Path):
    deploy(opts(example_output), env(grafana))
    empty = tmp_path / "empty"
    (empty / "grafana/dashboards").mkdir(parents=True)
    (empty / FOLDERS_FILE).write_text(json.dumps({"folders": [], "general": []}))
    from vigil.deploy.grafana import GrafanaTarget
    from vigil.deploy.run import Report, plan_all

    target = GrafanaTarget(grafana.url, empty, "x", FAST, token=grafana.token)
    before = len(grafana.writes())
    with pytest.raises(DeployError, match="would delete all 8 of vigil's objects"):
        plan_all([target], opts(empty, prune=True), Report())
    assert len(grafana.writes()) == before


def test_a_dashboard_with_our_uid_that_is_not_ours_is_refused(grafana: FakeGrafana, example_output: Path):
    post_foreign(grafana, {"uid": "vigil-checkout", "title": "Hand-made checkout", "tags": [], "panels": []})
    with pytest.raises(DeployError, match="vigil-checkout exists without the `vigil` tag"):
        deploy(opts(example_output), env(grafana))
    assert grafana.writes()[-1] == ("POST", "/api/dashboards/db", 200)  # only our own setup wrote
    assert grafana.dashboards["vigil-checkout"]["dashboard"]["title"] == "Hand-made checkout"


def test_a_title_taken_in_the_folder_is_refused_not_overwritten(grafana: FakeGrafana, example_output: Path):
    requests.post(
        f"{grafana.url}/api/folders",
        json={"uid": "vigil-dept-commerce-dev", "title": "Commerce engineering"},
        headers={"Authorization": f"Bearer {grafana.token}"},
        timeout=5,
    ).raise_for_status()
    post_foreign(
        grafana,
        {"uid": "their-checkout", "title": "checkout", "tags": ["team"], "panels": []},
        "vigil-dept-commerce-dev",
    )
    writes = len(grafana.writes())
    with pytest.raises(DeployError, match="their-checkout already has the title 'checkout'"):
        deploy(opts(example_output), env(grafana))
    assert len(grafana.writes()) == writes
    assert "their-checkout" in grafana.dashboards


def test_a_concurrent_edit_is_reported_as_a_version_mismatch(
    grafana: FakeGrafana, example_output: Path, tmp_path: Path
):
    from vigil.deploy.grafana import GrafanaTarget

    deploy(opts(example_output), env(grafana))
    changed = tmp_path / "changed"
    import shutil

    shutil.copytree(example_output, changed)
    path = changed / "grafana/dashboards/vigil-checkout.json"
    path.write_text(path.read_text().replace('"refresh": "1m"', '"refresh": "30s"'))
    target = GrafanaTarget(grafana.url, changed, "x", FAST, token=grafana.token)
    plan = target.plan(prune=False)
    assert [c.name for c in plan.changes] == ["vigil-checkout"]
    grafana.dashboards["vigil-checkout"]["version"] += 1  # someone saved it in the UI meanwhile
    with pytest.raises(DeployError, match="version-mismatch"):
        target.apply(plan, Result("grafana", target.where))


def test_5xx_and_timeouts_are_retried_with_backoff(grafana: FakeGrafana, example_output: Path):
    grafana.inject("POST", "/api/dashboards/db", times=2, status=503)
    grafana.inject("POST", "/api/folders", times=1, status=502)
    grafana.inject("GET", "/api/search", times=1, stall=FAST.timeout + 0.5)
    report = deploy(opts(example_output), env(grafana))
    assert not report.failed, report.text()
    assert len(grafana.dashboards) == 8
    statuses = [s for _, _, s in grafana.log]
    assert statuses.count(503) == 2 and statuses.count(502) == 1 and 0 in statuses  # 0: the stalled one


def test_a_grafana_that_keeps_failing_fails_the_deploy_with_a_report(grafana: FakeGrafana, example_output: Path):
    grafana.inject("POST", "/api/dashboards/db", times=100, status=500)
    report = deploy(opts(example_output), env(grafana))
    assert report.failed
    [result] = report.results
    # The folders it had created are removed again: a failed deploy leaves Grafana as it found it.
    assert result.status == "rolled back" and "HTTP 500" in result.message, result.message
    assert "grafana" in report.text() and "rolled back" in report.text()
    assert grafana.folders == {} and grafana.dashboards == {}


def test_credentials_are_required_and_basic_auth_works(grafana: FakeGrafana, example_output: Path):
    with pytest.raises(DeployError, match="401.*check the credentials"):
        deploy(opts(example_output), env(grafana, GRAFANA_TOKEN="wrong"))
    basic = {"GRAFANA_URL": grafana.url, "GRAFANA_USER": grafana.user, "GRAFANA_PASSWORD": grafana.password}
    assert not deploy(opts(example_output), basic).failed


# --- the fake itself enforces what Grafana documents ----------------------------------------------


def _post(fake: FakeGrafana, path: str, body: dict) -> requests.Response:
    return requests.post(fake.url + path, json=body, headers={"Authorization": f"Bearer {fake.token}"}, timeout=5)


def test_fake_grafana_enforces_folders_uids_versions_and_titles(grafana: FakeGrafana):
    assert requests.get(grafana.url + "/api/folders", timeout=5).status_code == 401
    board = {"uid": "a", "title": "A", "tags": ["x", "y"]}
    assert _post(grafana, "/api/dashboards/db", {"dashboard": board, "folderUid": "nope"}).status_code == 400
    assert _post(grafana, "/api/dashboards/db", {"dashboard": {**board, "uid": "u" * 41}}).status_code == 400
    assert _post(grafana, "/api/folders", {"uid": "f" * 41, "title": "F"}).status_code == 400
    assert _post(grafana, "/api/dashboards/db", {"dashboard": board}).json()["version"] == 1
    stale = _post(grafana, "/api/dashboards/db", {"dashboard": {**board, "version": 0}, "overwrite": False})
    assert (stale.status_code, stale.json()["status"]) == (412, "version-mismatch")
    twin = _post(grafana, "/api/dashboards/db", {"dashboard": {"uid": "b", "title": "A"}, "overwrite": False})
    assert (twin.status_code, twin.json()["status"]) == (412, "name-exists")
    _post(grafana, "/api/dashboards/db", {"dashboard": {"uid": "c", "title": "C", "tags": ["x"]}})
    hits = requests.get(
        grafana.url + "/api/search",
        params=[("tag", "x"), ("tag", "y")],
        headers={"Authorization": f"Bearer {grafana.token}"},
        timeout=5,
    ).json()
    assert [h["uid"] for h in hits] == ["a"]  # tags are ANDed


# --- a real Grafana -------------------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("GRAFANA_URL"), reason="set GRAFANA_URL (+ GRAFANA_TOKEN or USER/PASSWORD)")
def test_real_grafana_deploy_is_idempotent_and_prune_leaves_others(example_output: Path):
    env_ = {k: v for k, v in os.environ.items() if k.startswith("GRAFANA_")}
    first = deploy(opts(example_output, prune=False), env_)
    assert not first.failed, first.text()
    again = deploy(opts(example_output, prune=True), env_)
    assert not again.failed and again.writes == 0, again.text()
    # The postmortems are on the dashboards, once each, as built (test_deploy_annotations.py).
    auth = (
        {"headers": {"Authorization": f"Bearer {env_['GRAFANA_TOKEN']}"}}
        if env_.get("GRAFANA_TOKEN")
        else {"auth": (env_.get("GRAFANA_USER", ""), env_.get("GRAFANA_PASSWORD", ""))}
    )
    live = requests.get(
        env_["GRAFANA_URL"].rstrip("/") + "/api/annotations",
        params=[("tags", "vigil"), ("type", "annotation"), ("limit", 10000)],
        timeout=30,
        **auth,  # type: ignore[arg-type]
    ).json()
    built = json.loads((example_output / ANNOTATIONS_FILE).read_text())["annotations"]
    found = [
        (a["dashboardUID"], a["time"], a["timeEnd"], a["text"], sorted(a["tags"]))
        for a in live
        if any(t.startswith("vigil-postmortem:") for t in a["tags"])
    ]
    assert sorted(found) == sorted((b["dashboardUID"], b["time"], b["timeEnd"], b["text"], b["tags"]) for b in built)
