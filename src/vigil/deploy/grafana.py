"""The Grafana target: a folder per department, then its dashboards, each verified by reading it
back; prune deletes only dashboards tagged `vigil` that the build no longer has. A push that fails
halfway is rolled back: every object it changed, and nothing else.

Safety, from Grafana's documented API:
- Dashboards are saved with `overwrite: false` and the version vigil read, never `overwrite: true`:
  Grafana's overwrite also replaces a *different* dashboard that has the same title in the folder.
  A concurrent edit comes back as 412 `version-mismatch`, a clash of titles as 412 `name-exists`;
  both are reported, not forced.
- A dashboard with one of our uids but without the `vigil` tag is someone else's: refused in the
  plan, before anything is pushed.
- Folders are created (POST /api/folders) before their dashboards: every folder write has finished
  before the first dashboard write starts. Folders are never pruned: deleting a folder deletes
  every dashboard in it, ours or not. The one exception is a rollback removing a folder this very
  deploy created, and only while it is empty.

The postmortems go on the dashboards as annotations (annotations.py), after the dashboards.

Reads and writes go through a bounded pool of workers (pool.py): a deploy of a thousand dashboards
is a thousand round trips, each mostly waiting on the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vigil.deploy import jsondiff, pool
from vigil.deploy.annotations import WHAT as ANNOTATION
from vigil.deploy.annotations import Annotations, AnnotationUndo
from vigil.deploy.http import Client, HttpSettings, loads
from vigil.deploy.plan import ADD, CHANGE, REMOVE, Change, Plan, Result
from vigil.errors import DeployError
from vigil.layout import DASHBOARDS_DIR, FOLDERS_FILE

TAG = "vigil"
SERVER_FIELDS = ("id", "version")  # Grafana owns these; they are not part of what vigil generates
PAGE = 1000

Wanted = tuple[dict[str, str], dict[str, str], dict[str, dict[str, Any]]]


def normalised(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in SERVER_FIELDS}


def folder_of(live: dict[str, Any]) -> str:
    """The folder uid of a GET /api/dashboards/uid answer ("" is the General folder)."""
    return live.get("meta", {}).get("folderUid") or ""


class GrafanaTarget:
    name = "grafana"

    def __init__(
        self,
        url: str,
        build: Path,
        revision: str,
        http: HttpSettings = HttpSettings(),
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
    ):
        self.where = url.rstrip("/")
        self.build = build
        self.revision = revision
        self.workers = http.workers
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = (user, password or "") if user and not token else None
        self.api = Client("Grafana", url, http, headers=headers, auth=auth)
        self.show_progress = False
        self._wanted: Wanted | None = None
        # uid → GET /api/dashboards/uid answer, read in the plan, of the dashboards it changes only:
        # the version to save against, and the content a rollback restores.
        self._live: dict[str, dict[str, Any]] = {}
        self._live_folders: dict[str, dict[str, Any]] = {}
        self.annotations = Annotations(self.api, build)

    @classmethod
    def from_env(cls, env: Mapping[str, str], build: Path, revision: str, http: HttpSettings) -> GrafanaTarget:
        if not env.get("GRAFANA_TOKEN") and not env.get("GRAFANA_USER"):
            raise DeployError("GRAFANA_URL is set without GRAFANA_TOKEN or GRAFANA_USER/GRAFANA_PASSWORD")
        return cls(
            env["GRAFANA_URL"],
            build,
            revision,
            http,
            token=env.get("GRAFANA_TOKEN"),
            user=env.get("GRAFANA_USER"),
            password=env.get("GRAFANA_PASSWORD"),
        )

    # --- what the build has -------------------------------------------------------------------

    def wanted(self) -> Wanted:
        """(folder uid → title, dashboard uid → folder uid ("" is the root), dashboard uid → JSON).
        Read once: the plan and the apply share it (50 MB of JSON for a thousand services)."""
        if self._wanted is None:
            doc = json.loads((self.build / FOLDERS_FILE).read_text(encoding="utf-8"))
            folders = {f["uid"]: f["title"] for f in doc.get("folders", [])}
            placement = {uid: f["uid"] for f in doc.get("folders", []) for uid in f["dashboards"]}
            placement.update({uid: "" for uid in doc.get("general", [])})
            dashboards = {
                p.stem: orjson.loads(p.read_bytes()) for p in sorted((self.build / DASHBOARDS_DIR).glob("*.json"))
            }
            for uid in dashboards:
                placement.setdefault(uid, "")
            self._wanted = folders, placement, dashboards
        return self._wanted

    # --- plan -----------------------------------------------------------------------------------

    def search(self, **params: Any) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = []
        for page in range(1, 1000):
            got = loads(
                self.api.expect(
                    self.api.request("GET", "/api/search", params={**params, "limit": PAGE, "page": page}), 200
                )
            )
            hits += got
            if len(got) < PAGE:
                return hits
        return hits

    def read(self, uid: str) -> dict[str, Any] | None:
        """GET /api/dashboards/uid/{uid}; None when there is no such dashboard."""
        response = self.api.request("GET", f"/api/dashboards/uid/{uid}")
        return None if response.status_code == 404 else loads(self.api.expect(response, 200))

    def plan(self, prune: bool) -> Plan:
        plan = Plan(self.name, self.where)
        folders, placement, dashboards = self.wanted()
        listed = self.api.expect(self.api.request("GET", "/api/folders", params={"limit": PAGE}), 200)
        self._live_folders = {f["uid"]: f for f in loads(listed)}
        for uid, title in sorted(folders.items()):
            live = self._live_folders.get(uid)
            if live is None:
                plan.changes.append(Change(ADD, "folder", f"{uid} ({title})"))
            elif live["title"] != title:
                plan.changes.append(Change(CHANGE, "folder", f"{uid} ({live['title']} → {title})"))
        everything = self.search(type="dash-db")
        by_uid = {h["uid"]: h for h in everything}
        titled: dict[tuple[str, str], list[str]] = {}  # (folder, lower-case title) → uids: no n² scan
        for h in everything:
            titled.setdefault((h.get("folderUid") or "", h["title"].lower()), []).append(h["uid"])
        existing: list[str] = []
        for uid, doc in dashboards.items():
            folder = placement[uid]
            clash = [other for other in titled.get((folder, doc["title"].lower()), []) if other != uid]
            if clash:
                plan.conflicts.append(
                    f"dashboard {uid}: {clash[0]} already has the title "
                    f"'{doc['title']}' in folder '{folder or 'General'}'; refusing to replace it"
                )
            hit = by_uid.get(uid)
            if hit is not None and TAG not in (hit.get("tags") or []):
                plan.conflicts.append(
                    f"dashboard {uid} exists without the `{TAG}` tag: it is not vigil's; refusing to overwrite it"
                )
            elif hit is not None:
                existing.append(uid)
        compared = self._compare(existing, placement, dashboards)
        for uid in dashboards:  # sorted by uid, whichever read finished first
            if uid not in by_uid:
                plan.changes.append(Change(ADD, "dashboard", uid, [f"in {placement[uid] or 'General'}"]))
            elif uid in compared:
                detail = compared[uid]
                if detail is None:
                    plan.unchanged += 1
                else:
                    plan.changes.append(Change(CHANGE, "dashboard", uid, detail))
        ours = [h for h in self.search(tag=TAG, type="dash-db") if TAG in (h.get("tags") or [])]
        plan.owned_live = len(ours)
        for hit in ours:
            if hit["uid"] not in dashboards:
                change = Change(REMOVE, "dashboard", hit["uid"], [f"'{hit['title']}'"], pruned=True)
                (plan.changes if prune else plan.stale).append(change)
        self.annotations.plan(plan, prune)
        return plan

    def _compare(
        self, uids: list[str], placement: dict[str, str], dashboards: dict[str, dict[str, Any]]
    ) -> dict[str, list[str] | None]:
        """Read every existing dashboard of ours (in the pool) and compare it with the build:
        uid → None when unchanged, else the change's detail lines. Keeps the live copy of the
        changed ones only (memory: a thousand parsed dashboards are hundreds of MB)."""
        compared: dict[str, list[str] | None] = {}

        def compare(uid: str) -> None:
            live = self.read(uid)
            folder, doc = placement[uid], dashboards[uid]
            if live is None:  # deleted since the search: the save creates it again
                compared[uid] = ["deleted in Grafana since the search; saved again"]
                return
            moved = folder_of(live) != folder
            if not moved and normalised(live["dashboard"]) == normalised(doc):
                compared[uid] = None
                return
            self._live[uid] = live
            compared[uid] = ([f"moves to folder {folder or 'General'}"] if moved else []) + jsondiff.diff(
                normalised(live["dashboard"]), normalised(doc), f"grafana/{uid}", f"build/{uid}"
            )

        _raise(
            pool.run(
                uids,
                pool.naming(lambda uid: f"dashboard {uid}", compare),
                self.workers,
                label="grafana: reading dashboards",
                show=self.show_progress,
            )
        )
        return compared

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, plan: Plan, result: Result) -> None:
        folders, placement, dashboards = self.wanted()
        message = f"vigil deploy, revision {self.revision}"
        journal: pool.Journal[FolderUndo | BoardUndo | AnnotationUndo] = pool.Journal()

        def push_folder(change: Change) -> None:
            uid = change.name.split(" ", 1)[0]
            if change.kind == ADD:
                journal.intend(FolderUndo(uid, None, folders[uid]))
                self.api.expect(self.api.send_json("POST", "/api/folders", {"uid": uid, "title": folders[uid]}), 200)
            else:
                # The list of folders carries no version, and Grafana's PUT needs the current one.
                live = loads(self.api.expect(self.api.request("GET", f"/api/folders/{uid}"), 200))
                journal.intend(FolderUndo(uid, live, folders[uid]))
                body = {"title": folders[uid], "version": live.get("version"), "overwrite": False}
                self.api.expect(self.api.send_json("PUT", f"/api/folders/{uid}", body), 200)
            journal.wrote()

        def push_board(change: Change) -> None:
            uid = change.name
            if change.kind == REMOVE:
                previous = self.read(uid)  # the content a rollback would restore
                if previous is None:
                    return
                if TAG not in (previous["dashboard"].get("tags") or []):
                    raise DeployError(
                        f"dashboard {uid} lost the `{TAG}` tag since the plan: it is not vigil's "
                        "any more; not deleting it"
                    )
                journal.intend(BoardUndo(uid, previous, None, ""))
                self.api.expect(self.api.request("DELETE", f"/api/dashboards/uid/{uid}"), 200)
                journal.wrote()
            else:
                journal.intend(BoardUndo(uid, self._live.get(uid), dashboards[uid], placement[uid]))
                self._save(uid, dashboards[uid], placement[uid], message, journal)

        boards = [c for c in plan.changes if c.what == "dashboard"]
        named = lambda c: f"{c.what} {c.name.split(' ', 1)[0]}"
        done = pool.run([c for c in plan.changes if c.what == "folder"], pool.naming(named, push_folder), self.workers)
        if not done.failed:  # every folder exists before the first dashboard is saved into it
            saved = pool.run(
                boards,
                pool.naming(named, push_board),
                self.workers,
                label="grafana dashboards",
                show=self.show_progress,
            )
            done.done += saved.done
            done.failures += saved.failures
            done.interrupted = saved.interrupted
        if not done.failed:  # the postmortems go on dashboards that exist
            noted = self.annotations.apply(
                [c for c in plan.changes if c.what == ANNOTATION], journal, self.workers, self.show_progress
            )
            done.done += noted.done
            done.failures += noted.failures
            done.interrupted = noted.interrupted
        finished = {id(c) for c in done.done}
        result.applied += [c for c in plan.changes if id(c) in finished]
        result.writes += journal.writes
        if done.failed:
            pool.fail_after(done, lambda: self.rollback(journal.intents, result, message))

    def _save(self, uid: str, doc: dict[str, Any], folder: str, message: str, journal: pool.Journal[Any]) -> None:
        dashboard = {**normalised(doc), "id": None}
        if uid in self._live:
            dashboard["version"] = self._live[uid]["dashboard"].get("version")
        body = {"dashboard": dashboard, "folderUid": folder, "message": message, "overwrite": False}
        response = self.api.send_json("POST", "/api/dashboards/db", body)
        if response.status_code == 412:
            status = _json(response).get("status", "")
            why = {
                "version-mismatch": "it was changed in Grafana while vigil deployed; deploy again",
                "name-exists": "another dashboard in the folder has its title",
            }.get(status, response.text[:300])
            raise DeployError(f"Grafana refused dashboard {uid} ({status or 412}): {why}")
        self.api.expect(response, 200)
        journal.wrote()
        live = self.read(uid)
        if live is None or normalised(live["dashboard"]) != normalised(doc) or folder_of(live) != folder:
            raise DeployError(f"Grafana saved dashboard {uid}, but reading it back shows different content")

    # --- rollback ------------------------------------------------------------------------------

    def rollback(self, intents: list[FolderUndo | BoardUndo | AnnotationUndo], result: Result, message: str) -> str:
        """Undo what this deploy changed, newest first: the dashboards, then the folders they sit
        in. Each undo reads the object first and restores it only while it still holds what vigil
        wrote: an intent whose write never happened costs a read, and a concurrent edit by someone
        else is left alone and reported. Returns the sentence for the report."""
        journal: pool.Journal[None] = pool.Journal()
        message = message.replace("vigil deploy", "vigil rollback", 1)
        boards = [u for u in reversed(intents) if isinstance(u, BoardUndo)]
        folders = [u for u in reversed(intents) if isinstance(u, FolderUndo)]
        board_failures = pool.run(
            boards,
            lambda u: self._undo_board(u, message, journal),
            self.workers,
            label="grafana: rolling back",
            show=self.show_progress,
        ).failures
        # After the dashboards: deleting a dashboard deletes its annotations, so a pruned one is
        # restored before its annotations are created again.
        notes = [u for u in reversed(intents) if isinstance(u, AnnotationUndo)]
        noted = self.annotations.rollback(notes, journal, self.workers)
        folder_failures: list[tuple[FolderUndo, BaseException]] = []
        if not board_failures:  # a folder is emptied of our dashboards before it can be removed
            folder_failures = pool.run(folders, lambda u: self._undo_folder(u, journal), self.workers).failures
        failures: list[tuple[FolderUndo | BoardUndo | AnnotationUndo, BaseException]] = [
            *board_failures,
            *folder_failures,
            *noted,
        ]
        result.writes += journal.writes
        return pool.rollback_sentence("Grafana", failures, len(intents), result)

    def _undo_board(self, undo: BoardUndo, message: str, journal: pool.Journal[None]) -> None:
        live = self.read(undo.uid)
        state = None if live is None else (folder_of(live), normalised(live["dashboard"]))
        before = None if undo.previous is None else (folder_of(undo.previous), normalised(undo.previous["dashboard"]))
        ours = None if undo.ours is None else (undo.folder, normalised(undo.ours))
        if state == before:
            return  # the write never happened, or is undone already
        if state != ours:
            raise DeployError(f"dashboard {undo.uid} was changed by someone else during the deploy; left as it is")
        if undo.previous is None:
            self.api.expect(self.api.request("DELETE", f"/api/dashboards/uid/{undo.uid}"), 200)
        else:
            dashboard = {**normalised(undo.previous["dashboard"]), "id": None}
            if live is not None:
                dashboard["version"] = live["dashboard"].get("version")
            body = {
                "dashboard": dashboard,
                "folderUid": folder_of(undo.previous),
                "message": message,
                "overwrite": False,
            }
            self.api.expect(self.api.send_json("POST", "/api/dashboards/db", body), 200)
        journal.wrote()

    def _undo_folder(self, undo: FolderUndo, journal: pool.Journal[None]) -> None:
        response = self.api.request("GET", f"/api/folders/{undo.uid}")
        live = None if response.status_code == 404 else loads(self.api.expect(response, 200))
        if undo.previous is None:  # created by this deploy
            if live is None:
                return
            if live["title"] != undo.title:
                raise DeployError(f"folder {undo.uid} was changed by someone else during the deploy; left as it is")
            if self.search(folderUIDs=undo.uid):
                raise DeployError(
                    f"folder {undo.uid}, created by this deploy, holds dashboards that are not from it; left in place"
                )
            self.api.expect(self.api.request("DELETE", f"/api/folders/{undo.uid}"), 200)
        else:  # renamed by this deploy
            if live is None or live["title"] not in (undo.title, undo.previous["title"]):
                raise DeployError(f"folder {undo.uid} was changed by someone else during the deploy; left as it is")
            if live["title"] == undo.previous["title"]:
                return
            body = {"title": undo.previous["title"], "version": live.get("version"), "overwrite": False}
            self.api.expect(self.api.send_json("PUT", f"/api/folders/{undo.uid}", body), 200)
        journal.wrote()


@dataclass(frozen=True)
class FolderUndo:
    uid: str
    previous: dict[str, Any] | None  # the folder as the plan read it; None: this deploy creates it
    title: str  # the title this deploy gives it


@dataclass(frozen=True)
class BoardUndo:
    uid: str
    previous: dict[str, Any] | None  # GET answer before the deploy; None: this deploy creates it
    ours: dict[str, Any] | None  # what this deploy saves; None: this deploy deletes it
    folder: str  # where this deploy saves it


def _raise(outcome: pool.Outcome[Any]) -> None:
    """For read-only work (the plan): nothing to roll back, just stop."""
    if outcome.interrupted is not None:
        raise outcome.interrupted
    if outcome.failures:
        error = outcome.failures[0][1]
        if not isinstance(error, DeployError):
            raise error
        raise DeployError(outcome.message()) from error


def _json(response: Any) -> dict[str, Any]:
    try:
        body = loads(response)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
