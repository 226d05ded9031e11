"""`vigil deploy` puts each postmortem on Grafana as a region annotation (occurred → resolved) on
its service's dashboard and on each involved dependency's, against tests/fakes/grafana.py (whose
annotations API is tests/fakes/grafana_annotations.py); idempotent, pruned, rolled back, and
never touching annotations people made."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from fakes.base import Request
from fakes.grafana import FakeGrafana
from vigil.build import build
from vigil.deploy.http import HttpSettings
from vigil.deploy.run import Options, deploy
from vigil.layout import ANNOTATIONS_FILE

FAST = HttpSettings(timeout=1.0, retries=2, backoff=0.01)
REDIS = "2026-03-14-checkout-redis-evictions"
PAYMENT = "2026-05-02-payment-db-pool-exhausted"
ORDERS_MQ = "2026-08-21-checkout-orders-mq-no-consumers"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def changed_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example catalog after three postmortem edits: the orders-mq one deleted, the redis one
    resolved half an hour later, and the payment one no longer naming orders-db."""
    from conftest import CATALOG, ROOT

    root = tmp_path_factory.mktemp("changed")
    shutil.copytree(CATALOG, root / "catalog")
    shutil.copytree(ROOT / "postmortems", root / "postmortems")
    (root / "postmortems" / f"{ORDERS_MQ}.md").unlink()
    redis = root / "postmortems" / f"{REDIS}.md"
    redis.write_text(redis.read_text().replace("resolved: 2026-03-14T10:05:00Z", "resolved: 2026-03-14T10:35:00Z"))
    payment = root / "postmortems" / f"{PAYMENT}.md"
    payment.write_text(payment.read_text().replace("dependencies_involved: [orders-db]\n", ""))
    out = root / "output"
    build(root / "catalog", out, run_checks=False, cache_dir=None)
    return out


def env(fake: FakeGrafana) -> dict[str, str]:
    return {"GRAFANA_URL": fake.url, "GRAFANA_TOKEN": fake.token, "VIGIL_REVISION": "abc1234"}


def opts(build_dir: Path, **kw: Any) -> Options:
    return Options(
        **{"catalog": Path("catalog"), "from_dir": build_dir, "unit_tests": False, "cache": None, "http": FAST, **kw}
    )


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def api(fake: FakeGrafana, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, fake.url + path, headers={"Authorization": f"Bearer {fake.token}"}, timeout=5, **kw)


def ours(fake: FakeGrafana) -> dict[tuple[str, str], dict[str, Any]]:
    """vigil's annotations in the fake, by (postmortem id, dashboard uid)."""
    out = {}
    for a in fake.annotations.values():
        pm = [t.split(":", 1)[1] for t in a["tags"] if t.startswith("vigil-postmortem:")]
        if "vigil" in a["tags"] and pm:
            assert (pm[0], a["dashboardUID"]) not in out, "two copies of one annotation"
            out[(pm[0], a["dashboardUID"])] = a
    return out


def state(fake: FakeGrafana) -> list[tuple[Any, ...]]:
    """Every annotation as content, ids aside (a rollback re-creates deleted ones with new ids)."""
    return sorted(
        (a["dashboardUID"], a["time"], a["timeEnd"], a["text"], tuple(sorted(a["tags"])))
        for a in fake.annotations.values()
    )


def test_each_postmortem_is_a_region_on_its_service_and_dependency_dashboards(
    grafana: FakeGrafana, example_output: Path, example_model: dict[str, Any]
):
    report = deploy(opts(example_output), env(grafana))
    assert not report.failed, report.text()
    uid = {s["name"]: s["dashboard"]["uid"] for s in example_model["services"]}
    expected = {}
    for pm in example_model["postmortems"]:
        for service in [pm["service"], *pm["dependencies_involved"]]:
            expected[(pm["id"], uid[service])] = pm
    got = ours(grafana)
    assert sorted(got) == sorted(expected)
    assert ("2026-03-14-checkout-redis-evictions", "vigil-redis-cache") in got  # a dependency's dashboard
    for key, pm in expected.items():
        a = got[key]
        assert (a["time"], a["timeEnd"]) == (ms(pm["occurred"]), ms(pm["resolved"]))
        assert a["time"] < a["timeEnd"]  # a region, not a point
        assert sorted(a["tags"]) == sorted(
            ["vigil", f"vigil-postmortem:{pm['id']}", f"service:{pm['service']}", f"severity:{pm['severity']}"]
        )
        assert a["panelId"] == 0  # the whole dashboard, every panel
        assert pm["title"] in a["text"] and pm["id"] in a["text"] and pm["severity"] in a["text"]
    # The dashboards exist before their annotations are posted (Grafana refuses an unknown uid).
    writes = [p for _, p, _ in grafana.writes()]
    assert max(i for i, p in enumerate(writes) if p == "/api/dashboards/db") < writes.index("/api/annotations")


def test_a_second_deploy_changes_nothing(grafana: FakeGrafana, example_output: Path):
    deploy(opts(example_output), env(grafana))
    before, ids = len(grafana.writes()), sorted(grafana.annotations)
    again = deploy(opts(example_output, prune=True), env(grafana))
    assert not again.failed and again.writes == 0, again.text()
    assert len(grafana.writes()) == before and sorted(grafana.annotations) == ids


def test_removed_changed_and_dependency_dropped_postmortems_are_planned_then_pruned_and_updated(
    grafana: FakeGrafana, example_output: Path, changed_output: Path
):
    deploy(opts(example_output), env(grafana))
    first = ours(grafana)
    # Without --prune the annotations of what is no longer built are kept, and said so.
    kept = deploy(opts(changed_output), env(grafana))
    assert not kept.failed, kept.text()
    text = kept.text()
    assert f"~ annotation {REDIS} on vigil-checkout" in text and f"~ annotation {REDIS} on vigil-redis-cache" in text
    assert f"! annotation {ORDERS_MQ} on vigil-orders-mq" in text and "no longer built; kept" in text
    assert f"! annotation {PAYMENT} on vigil-orders-db" in text
    now = ours(grafana)
    assert (ORDERS_MQ, "vigil-orders-mq") in now and (PAYMENT, "vigil-orders-db") in now
    # The resolved time moved: the same annotation (same id) now ends half an hour later.
    for uid in ("vigil-checkout", "vigil-redis-cache"):
        assert now[(REDIS, uid)]["id"] == first[(REDIS, uid)]["id"]
        assert now[(REDIS, uid)]["timeEnd"] == ms("2026-03-14T10:35:00Z")
        assert "after 1h23m" in now[(REDIS, uid)]["text"]

    pruned = deploy(opts(changed_output, prune=True), env(grafana))
    assert not pruned.failed, pruned.text()
    after = ours(grafana)
    assert sorted(after) == sorted(
        [(REDIS, "vigil-checkout"), (REDIS, "vigil-redis-cache"), (PAYMENT, "vigil-payment")]
    )
    assert after[(PAYMENT, "vigil-payment")] == first[(PAYMENT, "vigil-payment")]  # untouched
    deletes = sorted(p for m, p, _ in grafana.writes() if m == "DELETE")
    gone = [first[(ORDERS_MQ, u)]["id"] for u in ("vigil-checkout", "vigil-orders-mq")] + [
        first[(PAYMENT, "vigil-orders-db")]["id"]
    ]
    assert deletes == sorted(f"/api/annotations/{i}" for i in gone)


def test_annotations_people_made_are_never_touched(grafana: FakeGrafana, example_output: Path, changed_output: Path):
    deploy(opts(example_output), env(grafana))
    theirs = [
        {"dashboardUID": "vigil-checkout", "time": 1, "timeEnd": 2, "tags": ["deploy"], "text": "release 4.2"},
        # `vigil` alone is not vigil's mark: the postmortem tag is what makes it ours
        {"dashboardUID": "vigil-orders-mq", "time": 3, "timeEnd": 4, "tags": ["vigil"], "text": "by hand"},
        # Grafana reads `vigil:sre` as key `vigil`, value `sre`: not the `vigil` tag
        {
            "dashboardUID": "vigil-orders-mq",
            "time": 5,
            "tags": ["vigil:sre", f"vigil-postmortem:{ORDERS_MQ}"],
            "text": "x",
        },
        # an organization annotation (no dashboard) that borrows a postmortem tag
        {"time": 5, "tags": ["vigil", f"vigil-postmortem:{ORDERS_MQ}"], "text": "org-wide note"},
    ]
    ids = [api(grafana, "POST", "/api/annotations", json=body).json()["id"] for body in theirs]
    snapshot = {i: grafana.annotations[i] for i in ids}
    report = deploy(opts(changed_output, prune=True), env(grafana))
    assert not report.failed, report.text()
    assert {i: grafana.annotations.get(i) for i in ids} == snapshot
    touched = {p for m, p, _ in grafana.writes() if m in ("PUT", "PATCH", "DELETE")}
    assert not touched & {f"/api/annotations/{i}" for i in ids}


def test_a_copy_of_one_of_ours_is_removed(grafana: FakeGrafana, example_output: Path):
    """A retried POST that the server had applied leaves two; the next plan removes the copy."""
    deploy(opts(example_output), env(grafana))
    original = ours(grafana)[(REDIS, "vigil-checkout")]
    copy = {k: original[k] for k in ("dashboardUID", "time", "timeEnd", "tags", "text")}
    copy_id = api(grafana, "POST", "/api/annotations", json=copy).json()["id"]
    report = deploy(opts(example_output), env(grafana))
    assert not report.failed, report.text()
    assert f"- annotation {REDIS} on vigil-checkout (copy, id {copy_id})" in report.text()
    assert copy_id not in grafana.annotations and original["id"] in grafana.annotations


def _after(count: int) -> Callable[[Request], bool]:
    """A fault condition true from the (count+1)-th matching request on."""
    seen = [0]

    def when(_: Request) -> bool:
        seen[0] += 1
        return seen[0] > count

    return when


def test_a_failure_midway_rolls_back_the_annotations_and_dashboards(grafana: FakeGrafana, example_output: Path):
    grafana.inject("POST", "/api/annotations", times=100, status=500, when=_after(2))
    one_at_a_time = HttpSettings(timeout=1.0, retries=0, backoff=0.01, workers=1)  # a known order of writes
    report = deploy(opts(example_output, http=one_at_a_time), env(grafana))
    [result] = report.results
    assert result.status == "rolled back" and "annotation" in result.message, result.message
    assert sum(1 for m, p, s in grafana.writes() if (m, p, s) == ("POST", "/api/annotations", 200)) == 2
    # Grafana as the deploy found it: the two annotations it made are gone with everything else.
    assert grafana.annotations == {} and grafana.dashboards == {} and grafana.folders == {}


def test_a_failed_update_restores_the_annotations_it_had_pruned(
    grafana: FakeGrafana, example_output: Path, changed_output: Path
):
    deploy(opts(example_output), env(grafana))
    human = api(grafana, "POST", "/api/annotations", json={"dashboardUID": "vigil-checkout", "text": "note"})
    before = state(grafana)
    grafana.inject("PUT", "/api/annotations/", times=100, status=500)
    report = deploy(opts(changed_output, prune=True), env(grafana))
    [result] = report.results
    assert result.status == "rolled back", result.message
    assert any(m == "DELETE" and s == 200 for m, _, s in grafana.writes())  # it had pruned some
    assert state(grafana) == before  # re-created (new ids), the human one untouched
    assert human.json()["id"] in grafana.annotations


def test_vigil_diff_lists_the_planned_annotations(grafana: FakeGrafana, example_output: Path, changed_output: Path):
    from vigil.cli import cli

    runner = CliRunner()
    args = ["diff", "--from", str(example_output), "--no-unit-tests", "--only", "grafana"]
    fresh = runner.invoke(cli, args, env=env(grafana))
    assert fresh.exit_code == 0, fresh.output
    assert f"+ annotation {REDIS} on vigil-redis-cache" in fresh.output
    assert "17 to add" in fresh.output  # 3 folders, 8 dashboards, 6 annotations
    assert grafana.writes() == []
    deploy(opts(example_output), env(grafana))
    verbose = runner.invoke(
        cli, ["diff", "--from", str(changed_output), "--no-unit-tests", "--prune", "-v"], env=env(grafana)
    )
    assert verbose.exit_code == 0, verbose.output
    assert f"~ annotation {REDIS} on vigil-checkout" in verbose.output
    assert "@@ .timeEnd @@" in verbose.output
    assert '-"2026-03-14T10:05:00Z"' in verbose.output and '+"2026-03-14T10:35:00Z"' in verbose.output
    assert f"- annotation {ORDERS_MQ} on vigil-orders-mq" in verbose.output


def test_a_build_without_the_annotations_file_leaves_annotations_alone(
    grafana: FakeGrafana, example_output: Path, tmp_path: Path
):
    deploy(opts(example_output), env(grafana))
    older = tmp_path / "older"
    shutil.copytree(example_output, older)
    (older / ANNOTATIONS_FILE).unlink()  # built by a vigil from before postmortem annotations
    before, requests_before = dict(grafana.annotations), len(grafana.log)
    report = deploy(opts(older, prune=True), env(grafana))
    assert not report.failed and report.writes == 0, report.text()
    assert grafana.annotations == before
    assert not any(p.startswith("/api/annotations") for _, p, _ in grafana.log[requests_before:])


def test_the_built_file_is_what_is_pushed(grafana: FakeGrafana, example_output: Path):
    deploy(opts(example_output), env(grafana))
    built = json.loads((example_output / ANNOTATIONS_FILE).read_text())["annotations"]
    live = ours(grafana)
    assert len(built) == len(live)
    for a in built:
        got = live[(a["postmortem"], a["dashboardUID"])]
        assert {k: got[k] for k in ("time", "timeEnd", "text")} == {k: a[k] for k in ("time", "timeEnd", "text")}
        assert sorted(got["tags"]) == a["tags"]


# --- the fake itself enforces what Grafana documents ----------------------------------------------


def test_fake_grafana_annotations_follow_the_documented_api(grafana: FakeGrafana):
    api(grafana, "POST", "/api/dashboards/db", json={"dashboard": {"uid": "d1", "title": "D1"}}).raise_for_status()
    assert requests.get(grafana.url + "/api/annotations", timeout=5).status_code == 401
    assert api(grafana, "POST", "/api/annotations", json={"dashboardUID": "d1", "time": 1}).status_code == 400
    unknown = api(grafana, "POST", "/api/annotations", json={"dashboardUID": "nope", "text": "x"})
    assert unknown.status_code == 400
    region = api(
        grafana,
        "POST",
        "/api/annotations",
        json={"dashboardUID": "d1", "time": 10, "timeEnd": 20, "text": "r", "tags": ["a", "b"]},
    )
    point = api(
        grafana, "POST", "/api/annotations", json={"dashboardUID": "d1", "time": 30, "text": "p", "tags": ["a"]}
    )
    org = api(grafana, "POST", "/api/annotations", json={"time": 40, "text": "o", "tags": ["b"]})
    assert region.json()["message"] == "Annotation added"
    r, p, o = region.json()["id"], point.json()["id"], org.json()["id"]
    assert len({r, p, o}) == 3

    def find(*params: tuple[str, Any]) -> list[int]:
        return [a["id"] for a in api(grafana, "GET", "/api/annotations", params=list(params)).json()]

    assert find() == [o, p, r]  # latest first
    assert find(("tags", "a"), ("tags", "b")) == [r]  # ANDed, on a dashboard's annotations too
    assert find(("tags", "a"), ("tags", "b"), ("matchAny", "true")) == [o, p, r]
    kv = api(grafana, "POST", "/api/annotations", json={"time": 50, "text": "kv", "tags": ["vigil:x"]}).json()["id"]
    assert find(("tags", "vigil")) == [kv]  # a key alone matches any value
    assert find(("tags", "vigil:y")) == [] and find(("tags", "vigil:x")) == [kv]
    api(grafana, "DELETE", f"/api/annotations/{kv}").raise_for_status()
    assert find(("dashboardUID", "d1")) == [p, r]
    assert find(("from", 15), ("to", 35)) == [p, r]  # overlapping the window
    assert find(("limit", 1)) == [o]
    stored = {a["id"]: a for a in api(grafana, "GET", "/api/annotations").json()}
    assert (stored[r]["time"], stored[r]["timeEnd"]) == (10, 20) and stored[p]["timeEnd"] == 30
    assert stored[r]["dashboardUID"] == "d1" and stored[o]["dashboardUID"] == ""
    put = api(grafana, "PUT", f"/api/annotations/{r}", json={"time": 11, "timeEnd": 21, "text": "r2", "tags": ["c"]})
    assert put.json()["message"] == "Annotation updated"
    assert api(grafana, "PUT", f"/api/annotations/{r}", json={"time": 11}).status_code == 400  # text required
    assert api(grafana, "PATCH", f"/api/annotations/{p}", json={"text": "p2"}).status_code == 200
    stored = {a["id"]: a for a in api(grafana, "GET", "/api/annotations").json()}
    assert (stored[r]["time"], stored[r]["timeEnd"], stored[r]["text"], stored[r]["tags"]) == (11, 21, "r2", ["c"])
    assert stored[r]["dashboardUID"] == "d1"  # a PUT does not move it
    assert (stored[p]["text"], stored[p]["tags"], stored[p]["time"]) == ("p2", ["a"], 30)
    assert api(grafana, "DELETE", f"/api/annotations/{o}").json()["message"] == "Annotation deleted"
    for method in ("PUT", "PATCH", "DELETE"):
        assert api(grafana, method, f"/api/annotations/{o}", json={"text": "x"}).status_code == 404
    api(grafana, "DELETE", "/api/dashboards/uid/d1").raise_for_status()
    assert find() == []  # a dashboard's annotations go with it
    for i in range(101):
        api(grafana, "POST", "/api/annotations", json={"time": i + 1, "text": "n"}).raise_for_status()
    assert len(find()) == 100  # the default limit


def test_a_rollback_restores_a_pruned_dashboard_and_then_its_annotations(
    grafana: FakeGrafana, example_output: Path, changed_output: Path
):
    """Deleting a dashboard deletes its annotations: the rollback restores the dashboard first,
    then creates its annotations again."""
    deploy(opts(example_output), env(grafana))
    retired = {"uid": "vigil-retired", "title": "retired", "tags": ["vigil"], "panels": []}
    api(grafana, "POST", "/api/dashboards/db", json={"dashboard": retired}).raise_for_status()
    old = {"dashboardUID": "vigil-retired", "time": 7, "timeEnd": 9, "text": "old incident"}
    api(grafana, "POST", "/api/annotations", json={**old, "tags": ["vigil", "vigil-postmortem:2025-01-01-retired-x"]})
    before, boards = state(grafana), set(grafana.dashboards)
    grafana.inject("PUT", "/api/annotations/", times=100, status=500)
    report = deploy(opts(changed_output, prune=True), env(grafana))
    [result] = report.results
    assert result.status == "rolled back", result.message
    assert ("DELETE", "/api/dashboards/uid/vigil-retired", 200) in grafana.writes()
    assert set(grafana.dashboards) == boards
    assert state(grafana) == before
