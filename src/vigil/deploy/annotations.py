"""The postmortems as Grafana annotations: the Grafana target's third kind of object, after the
folders and the dashboards. What is pushed is output/grafana/annotations.json
(render/grafana_annotations.py), one region per postmortem per dashboard.

Ownership is read from the annotation itself, as for dashboards: an annotation is vigil's when it
carries the tag `vigil` *and* one `vigil-postmortem:<id>` tag. Its identity is that postmortem id
and its dashboard uid; Grafana's numeric id is the server's. Annotations people made (other tags,
or `vigil` alone) are never read into the plan, so never changed.

Grafana's API (https://grafana.com/docs/grafana/latest/developers/http_api/annotations/):
- GET /api/annotations?tags=vigil&type=annotation&limit=N lists them: the tags are ANDed, and
  there are no pages, so the limit is set far above what a catalog has and reaching it is an error
  rather than a silent truncation. Grafana keeps a tag as a key:value pair and matches a filter
  without a value on the key alone (`tags=vigil` finds `vigil:sre` too), so what comes back is
  checked again here for the exact tags;
- POST /api/annotations creates one and answers its id. A POST is not idempotent: the retry of a
  POST the server had applied (a timeout) makes a second copy, so every write is read back by its
  postmortem tag and dashboard, and a copy identical to the one written is deleted again;
- PUT /api/annotations/{id} replaces time, timeEnd, text and tags; DELETE removes one. Deleting a
  dashboard deletes its annotations with it, so a DELETE that finds nothing (404) is done already.

Rollback (called by grafana.py after the dashboards are rolled back, so that a pruned dashboard
restored gets its annotations back): each undo lists the annotations of its postmortem on its
dashboard and restores what the plan read only while they still hold what vigil wrote.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.deploy import jsondiff, pool
from vigil.deploy.http import Client, loads
from vigil.deploy.plan import ADD, CHANGE, REMOVE, Change, Plan
from vigil.errors import DeployError
from vigil.layout import ANNOTATIONS_FILE

WHAT = "annotation"
OWNER_TAG = "vigil"
POSTMORTEM_TAG = "vigil-postmortem:"
LIMIT = 10000  # GET /api/annotations has no pages; a catalog has far fewer postmortems × dashboards
FIELDS = ("time", "timeEnd", "text", "tags")  # what vigil writes, and compares

Key = tuple[str, str]  # (postmortem id, dashboard uid)


def key_of(annotation: dict[str, Any]) -> Key | None:
    """The (postmortem, dashboard) of one of vigil's annotations; None for anyone else's."""
    tags = annotation.get("tags") or []
    ids = [t.removeprefix(POSTMORTEM_TAG) for t in tags if t.startswith(POSTMORTEM_TAG)]
    if OWNER_TAG not in tags or len(ids) != 1 or not annotation.get("dashboardUID"):
        return None
    return ids[0], annotation["dashboardUID"]


def content(annotation: dict[str, Any]) -> dict[str, Any]:
    """What vigil compares: Grafana gives a point's timeEnd as its time, and tags in its order."""
    start = int(annotation.get("time") or 0)
    return {
        "time": start,
        "timeEnd": int(annotation.get("timeEnd") or start),
        "text": annotation.get("text", ""),
        "tags": sorted(annotation.get("tags") or []),
    }


def _readable(annotation: dict[str, Any]) -> dict[str, Any]:
    """content() with the times in UTC and the text in lines, for the diff people read."""
    iso = lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    c = content(annotation)
    return {**c, "time": iso(c["time"]), "timeEnd": iso(c["timeEnd"]), "text": c["text"].split("\n")}


def name(key: Key) -> str:
    return f"{key[0]} on {key[1]}"


@dataclass(frozen=True)
class AnnotationUndo:
    key: Key
    previous: dict[str, Any] | None  # as the plan read it (with its id); None: this deploy creates it
    ours: dict[str, Any] | None  # what this deploy writes; None: this deploy deletes it


class Annotations:
    def __init__(self, api: Client, build: Path):
        self.api = api
        self.build = build
        self._wanted: dict[Key, dict[str, Any]] | None = None
        self._live: dict[str, dict[str, Any]] = {}  # change name → the live annotation it changes
        self._known: set[int] = set()  # ids the plan saw: anything else of ours is new since

    def wanted(self) -> dict[Key, dict[str, Any]] | None:
        """The build's annotations by key; None when the build has no annotations file (one made
        by a vigil before postmortem annotations): then they are not managed at all, rather than
        every one of them pruned."""
        path = self.build / ANNOTATIONS_FILE
        if self._wanted is None and path.is_file():
            doc = json.loads(path.read_text(encoding="utf-8"))
            self._wanted = {(a["postmortem"], a["dashboardUID"]): a for a in doc["annotations"]}
        return self._wanted

    def find(self, key: Key | None = None) -> list[dict[str, Any]]:
        """vigil's annotations (of one postmortem on one dashboard), lowest id first."""
        params: list[tuple[str, str | int]] = [("tags", OWNER_TAG), ("type", "annotation"), ("limit", LIMIT)]
        if key is not None:
            params += [("tags", POSTMORTEM_TAG + key[0]), ("dashboardUID", key[1])]
        got = loads(self.api.expect(self.api.request("GET", "/api/annotations", params=params), 200))
        if len(got) >= LIMIT:
            raise DeployError(
                f"Grafana holds {LIMIT} or more annotations tagged `{OWNER_TAG}`: more than one read of "
                "GET /api/annotations returns (it has no pages); refusing to plan from a partial list"
            )
        ours = [a for a in got if key_of(a) is not None and (key is None or key_of(a) == key)]
        return sorted(ours, key=lambda a: a["id"])

    # --- plan -----------------------------------------------------------------------------------

    def plan(self, plan: Plan, prune: bool) -> None:
        wanted = self.wanted()
        if wanted is None:
            return
        live = self.find()
        self._known = {a["id"] for a in live}
        plan.owned_live += len(live)
        found: dict[Key, list[dict[str, Any]]] = {}
        for a in live:
            found.setdefault(key_of(a), []).append(a)  # type: ignore[arg-type]
        for key, want in sorted(wanted.items()):
            have = found.get(key, [])
            if not have:
                when = _readable(want)
                plan.changes.append(Change(ADD, WHAT, name(key), [f"{when['time']} → {when['timeEnd']}"]))
                continue
            first = have[0]
            if content(first) == content(want):
                plan.unchanged += 1
            else:
                self._live[name(key)] = first
                detail = jsondiff.diff(
                    _readable(first), _readable(want), f"grafana/annotations/{first['id']}", f"build/{name(key)}"
                )
                plan.changes.append(Change(CHANGE, WHAT, name(key), detail))
            for extra in have[1:]:  # a copy left by a retried POST: ours, and in the way
                label = f"{name(key)} (copy, id {extra['id']})"
                self._live[label] = extra
                plan.changes.append(Change(REMOVE, WHAT, label, ["a second copy of a built annotation"]))
        for key, have in sorted(found.items()):
            if key in wanted:
                continue
            for a in have:
                label = f"{name(key)} (id {a['id']})"
                self._live[label] = a
                change = Change(REMOVE, WHAT, label, ["its postmortem or dashboard is no longer built"], pruned=True)
                (plan.changes if prune else plan.stale).append(change)

    # --- apply ----------------------------------------------------------------------------------

    def apply(
        self, changes: Sequence[Change], journal: pool.Journal[Any], workers: int, show: bool
    ) -> pool.Outcome[Change]:
        wanted = self.wanted() or {}
        by_name = {name(k): k for k in wanted}

        def push(change: Change) -> None:
            if change.kind == REMOVE:
                live = self._live[change.name]
                journal.intend(AnnotationUndo(_key(live), live, None))
                response = self.api.request("DELETE", f"/api/annotations/{live['id']}")
                if response.status_code != 404:  # 404: gone with its dashboard, or by hand
                    self.api.expect(response, 200)
                    journal.wrote()
                return
            key = by_name[change.name]
            want = wanted[key]
            if change.kind == ADD:
                journal.intend(AnnotationUndo(key, None, want))
                body = {"dashboardUID": key[1], **{f: want[f] for f in FIELDS}}
                self.api.expect(self.api.send_json("POST", "/api/annotations", body), 200)
            else:
                live = self._live[change.name]
                journal.intend(AnnotationUndo(key, live, want))
                body = {f: want[f] for f in FIELDS}
                self.api.expect(self.api.send_json("PUT", f"/api/annotations/{live['id']}", body), 200)
            journal.wrote()
            self._read_back(key, want, journal)

        return pool.run(
            list(changes),
            pool.naming(lambda c: f"{WHAT} {c.name}", push),
            workers,
            label="grafana annotations",
            show=show,
        )

    def _read_back(self, key: Key, want: dict[str, Any], journal: pool.Journal[Any]) -> None:
        have = self.find(key)
        same = [a for a in have if content(a) == content(want)]
        if not same:
            raise DeployError(f"Grafana saved annotation {name(key)}, but reading it back shows different content")
        for copy in [a for a in same[1:] if a["id"] not in self._known]:  # a retried POST's first try
            self.api.expect(self.api.request("DELETE", f"/api/annotations/{copy['id']}"), 200, 404)
            journal.wrote()

    # --- rollback ------------------------------------------------------------------------------

    def rollback(
        self, undos: list[AnnotationUndo], journal: pool.Journal[Any], workers: int
    ) -> list[tuple[AnnotationUndo, BaseException]]:
        return pool.run(undos, lambda u: self._undo(u, journal), workers).failures

    def _undo(self, undo: AnnotationUndo, journal: pool.Journal[Any]) -> None:
        have = self.find(undo.key)
        changed = DeployError(
            f"annotation {name(undo.key)} was changed by someone else during the deploy; left as it is"
        )
        if undo.previous is None:  # created by this deploy: delete what it created
            assert undo.ours is not None
            new = [a for a in have if a["id"] not in self._known]
            if any(content(a) != content(undo.ours) for a in new):
                raise changed
            for a in new:
                self.api.expect(self.api.request("DELETE", f"/api/annotations/{a['id']}"), 200, 404)
                journal.wrote()
            return
        live = next((a for a in have if a["id"] == undo.previous["id"]), None)
        if undo.ours is None:  # deleted by this deploy: create it again (Grafana gives a new id)
            if live is not None:
                return  # the delete never happened
            body = {"dashboardUID": undo.key[1], **{f: undo.previous[f] for f in FIELDS if f in undo.previous}}
            if undo.previous.get("panelId"):
                body["panelId"] = undo.previous["panelId"]
            self.api.expect(self.api.send_json("POST", "/api/annotations", body), 200)
            journal.wrote()
            return
        if live is None:
            raise changed
        if content(live) == content(undo.previous):
            return  # the update never happened
        if content(live) != content(undo.ours):
            raise changed
        body = {f: undo.previous[f] for f in FIELDS if f in undo.previous}
        self.api.expect(self.api.send_json("PUT", f"/api/annotations/{live['id']}", body), 200)
        journal.wrote()


def _key(annotation: dict[str, Any]) -> Key:
    key = key_of(annotation)
    assert key is not None  # the plan only keeps vigil's
    return key
