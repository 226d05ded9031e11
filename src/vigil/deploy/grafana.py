"""The Grafana target: a folder per department, then its dashboards, each verified by reading it
back; prune deletes only dashboards tagged `vigil` that the build no longer has.

Safety, from Grafana's documented API:
- Dashboards are saved with `overwrite: false` and the version vigil read, never `overwrite: true`:
  Grafana's overwrite also replaces a *different* dashboard that has the same title in the folder.
  A concurrent edit comes back as 412 `version-mismatch`, a clash of titles as 412 `name-exists`;
  both are reported, not forced.
- A dashboard with one of our uids but without the `vigil` tag is someone else's: refused in the
  plan, before anything is pushed.
- Folders are created (POST /api/folders) before their dashboards, and never deleted: deleting a
  folder deletes every dashboard in it, ours or not.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Mapping

from vigil.dashboards import DASHBOARDS_DIR, FOLDERS_FILE
from vigil.deploy.http import Client, HttpSettings
from vigil.deploy.plan import ADD, CHANGE, REMOVE, Change, Plan, Result, progress
from vigil.errors import DeployError

TAG = "vigil"
SERVER_FIELDS = ("id", "version")   # Grafana owns these; they are not part of what vigil generates
PAGE = 1000


def normalised(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in SERVER_FIELDS}


class GrafanaTarget:
    name = "grafana"

    def __init__(self, url: str, build: Path, revision: str, http: HttpSettings = HttpSettings(), *,
                 token: str | None = None, user: str | None = None, password: str | None = None):
        self.where = url.rstrip("/")
        self.build = build
        self.revision = revision
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = (user, password or "") if user and not token else None
        self.api = Client("Grafana", url, http, headers=headers, auth=auth)
        self.show_progress = False
        self._live: dict[str, dict[str, Any]] = {}    # uid → GET /api/dashboards/uid answer, from the plan
        self._live_folders: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str], build: Path, revision: str, http: HttpSettings) -> GrafanaTarget:
        if not env.get("GRAFANA_TOKEN") and not env.get("GRAFANA_USER"):
            raise DeployError("GRAFANA_URL is set without GRAFANA_TOKEN or GRAFANA_USER/GRAFANA_PASSWORD")
        return cls(env["GRAFANA_URL"], build, revision, http, token=env.get("GRAFANA_TOKEN"),
                   user=env.get("GRAFANA_USER"), password=env.get("GRAFANA_PASSWORD"))

    # --- what the build has -------------------------------------------------------------------

    def wanted(self) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, Any]]]:
        """(folder uid → title, dashboard uid → folder uid ("" is the root), dashboard uid → JSON)."""
        doc = json.loads((self.build / FOLDERS_FILE).read_text(encoding="utf-8"))
        folders = {f["uid"]: f["title"] for f in doc.get("folders", [])}
        placement = {uid: f["uid"] for f in doc.get("folders", []) for uid in f["dashboards"]}
        placement.update({uid: "" for uid in doc.get("general", [])})
        dashboards = {p.stem: json.loads(p.read_text(encoding="utf-8"))
                      for p in sorted((self.build / DASHBOARDS_DIR).glob("*.json"))}
        for uid in dashboards:
            placement.setdefault(uid, "")
        return folders, placement, dashboards

    # --- plan -----------------------------------------------------------------------------------

    def search(self, **params: Any) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = []
        for page in range(1, 1000):
            got = self.api.expect(self.api.request("GET", "/api/search", params={**params, "limit": PAGE,
                                                                                   "page": page}), 200).json()
            hits += got
            if len(got) < PAGE:
                return hits
        return hits

    def plan(self, prune: bool) -> Plan:
        plan = Plan(self.name, self.where)
        folders, placement, dashboards = self.wanted()
        self._live_folders = {f["uid"]: f for f in
                              self.api.expect(self.api.request("GET", "/api/folders", params={"limit": PAGE}), 200).json()}
        for uid, title in sorted(folders.items()):
            live = self._live_folders.get(uid)
            if live is None:
                plan.changes.append(Change(ADD, "folder", f"{uid} ({title})"))
            elif live["title"] != title:
                plan.changes.append(Change(CHANGE, "folder", f"{uid} ({live['title']} → {title})"))
        everything = self.search(type="dash-db")
        by_uid = {h["uid"]: h for h in everything}
        for uid, doc in dashboards.items():
            folder = placement[uid]
            clash = [h for h in everything if h["uid"] != uid and h.get("folderUid", "") == folder
                     and h["title"].lower() == doc["title"].lower()]
            if clash:
                plan.conflicts.append(f"dashboard {uid}: {clash[0]['uid']} already has the title "
                                      f"'{doc['title']}' in folder '{folder or 'General'}'; refusing to replace it")
            hit = by_uid.get(uid)
            if hit is None:
                plan.changes.append(Change(ADD, "dashboard", uid, [f"in {folder or 'General'}"]))
                continue
            if TAG not in (hit.get("tags") or []):
                plan.conflicts.append(f"dashboard {uid} exists without the `{TAG}` tag: it is not vigil's; "
                                      "refusing to overwrite it")
                continue
            live = self.api.expect(self.api.request("GET", f"/api/dashboards/uid/{uid}"), 200).json()
            self._live[uid] = live
            moved = (live.get("meta", {}).get("folderUid") or "") != folder
            if moved or normalised(live["dashboard"]) != normalised(doc):
                detail = ([f"moves to folder {folder or 'General'}"] if moved else []) + \
                    _diff(normalised(live["dashboard"]), normalised(doc), uid)
                plan.changes.append(Change(CHANGE, "dashboard", uid, detail))
            else:
                plan.unchanged += 1
        ours = [h for h in self.search(tag=TAG, type="dash-db") if TAG in (h.get("tags") or [])]
        plan.owned_live = len(ours)
        for hit in ours:
            if hit["uid"] not in dashboards:
                change = Change(REMOVE, "dashboard", hit["uid"], [f"'{hit['title']}'"], pruned=True)
                (plan.changes if prune else plan.stale).append(change)
        return plan

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, plan: Plan, result: Result) -> None:
        folders, placement, dashboards = self.wanted()
        message = f"vigil deploy, revision {self.revision}"
        for change in [c for c in plan.changes if c.what == "folder"]:
            uid = change.name.split(" ", 1)[0]
            if change.kind == ADD:
                self.api.expect(self.api.request("POST", "/api/folders", json={"uid": uid, "title": folders[uid]}), 200)
            else:
                body = {"title": folders[uid], "version": self._live_folders[uid].get("version"), "overwrite": False}
                self.api.expect(self.api.request("PUT", f"/api/folders/{uid}", json=body), 200)
            result.writes += 1
            result.applied.append(change)
        boards = [c for c in plan.changes if c.what == "dashboard"]
        for change in progress(boards, len(boards), "grafana dashboards", self.show_progress):
            uid = change.name
            if change.kind == REMOVE:
                self.api.expect(self.api.request("DELETE", f"/api/dashboards/uid/{uid}"), 200)
            else:
                self._save(uid, dashboards[uid], placement[uid], message)
            result.writes += 1
            result.applied.append(change)

    def _save(self, uid: str, doc: dict[str, Any], folder: str, message: str) -> None:
        dashboard = {**normalised(doc), "id": None}
        if uid in self._live:
            dashboard["version"] = self._live[uid]["dashboard"].get("version")
        body = {"dashboard": dashboard, "folderUid": folder, "message": message, "overwrite": False}
        response = self.api.request("POST", "/api/dashboards/db", json=body)
        if response.status_code == 412:
            status = _json(response).get("status", "")
            why = {"version-mismatch": "it was changed in Grafana while vigil deployed; deploy again",
                   "name-exists": "another dashboard in the folder has its title"}.get(status, response.text[:300])
            raise DeployError(f"Grafana refused dashboard {uid} ({status or 412}): {why}")
        self.api.expect(response, 200)
        live = self.api.expect(self.api.request("GET", f"/api/dashboards/uid/{uid}"), 200).json()
        if normalised(live["dashboard"]) != normalised(doc) or (live.get("meta", {}).get("folderUid") or "") != folder:
            raise DeployError(f"Grafana saved dashboard {uid}, but reading it back shows different content")


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _diff(old: dict[str, Any], new: dict[str, Any], uid: str, limit: int = 40) -> list[str]:
    a = json.dumps(old, indent=1, sort_keys=True).splitlines()
    b = json.dumps(new, indent=1, sort_keys=True).splitlines()
    lines = list(difflib.unified_diff(a, b, f"grafana/{uid}", f"build/{uid}", n=1, lineterm=""))
    return lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])
