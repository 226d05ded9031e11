"""A fake Grafana HTTP API (folders, dashboards, search), with the behaviour Grafana documents:

- every call needs `Authorization: Bearer <token>` or basic auth, else 401;
- POST /api/folders {uid, title}: 409 when the uid or the title is taken; uid ≤ 40 characters;
- PUT /api/folders/{uid} {title, version, overwrite}: 412 version-mismatch unless the version is
  the stored one; DELETE /api/folders/{uid} deletes the folder *and every dashboard in it*;
- POST /api/dashboards/db {dashboard, folderUid, message, overwrite}:
  - 400 when folderUid names a folder that does not exist (folders come first), or uid > 40;
  - with overwrite=false, 412 `version-mismatch` when `dashboard.version` is not the stored one,
    and 412 `name-exists` when another dashboard in the folder has the title;
  - with overwrite=true, the stored dashboard is replaced, *including another dashboard with the
    same title in the folder* (what the docs say overwrite does, and why vigil never sends it);
  - the stored version starts at 1 and increases by one per save; id is assigned by the server;
- GET/DELETE /api/dashboards/uid/{uid}; 404 when missing;
- GET /api/search?query=&tag=a&tag=b&type=dash-db|dash-folder&folderUIDs=&limit=&page=: tags ANDed;
- annotations (fakes/grafana_annotations.py): POST/GET /api/annotations, PUT/PATCH/DELETE
  /api/annotations/{id}.

Stored dashboards are replaced on save, never changed in place: a reply may hand one out to be
serialised outside the lock (base.py), without a deep copy per request.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fakes.base import FakeServer, Reply, Request, basic_auth
from fakes.grafana_annotations import AnnotationsApi

MAX_UID = 40


def _json(body: bytes) -> Any:
    return json.loads(body)


class FakeGrafana(AnnotationsApi, FakeServer):
    def __init__(self, token: str = "t0ken", user: str = "admin", password: str = "secret", latency: float = 0.0):
        super().__init__(latency)
        self.token, self.user, self.password = token, user, password
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid → {dashboard, folderUid, version, message ...}
        self.next_id = 1
        r = self.route
        r("GET", "/api/folders", self.list_folders)
        r("GET", "/api/folders/(?P<uid>[^/]+)", self.get_folder)
        r("POST", "/api/folders", self.create_folder, _json)
        r("PUT", "/api/folders/(?P<uid>[^/]+)", self.update_folder, _json)
        r("DELETE", "/api/folders/(?P<uid>[^/]+)", self.delete_folder)
        r("POST", "/api/dashboards/db", self.save_dashboard, _json)
        r("GET", "/api/dashboards/uid/(?P<uid>[^/]+)", self.get_dashboard)
        r("DELETE", "/api/dashboards/uid/(?P<uid>[^/]+)", self.delete_dashboard)
        r("GET", "/api/search", self.search)
        self.route_annotations()

    def authorised(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}" or basic_auth(request) == (
            self.user,
            self.password,
        )

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    # --- folders --------------------------------------------------------------------------------

    def list_folders(self, request: Request, _: re.Match[str]) -> Reply:
        return Reply(200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()])

    def get_folder(self, request: Request, m: re.Match[str]) -> Reply:
        folder = self.folders.get(m["uid"])
        return Reply(200, dict(folder)) if folder else Reply(404, {"message": "folder not found"})

    def create_folder(self, request: Request, _: re.Match[str]) -> Reply:
        body = request.data or {}
        if request.error:
            return Reply(400, {"message": "bad request data"})
        uid, title = body.get("uid") or f"f{self.next_id}", body.get("title", "")
        if len(uid) > MAX_UID:
            return Reply(400, {"message": "uid too long, max 40 characters"})
        if uid in self.folders or any(f["title"] == title for f in self.folders.values()):
            return Reply(409, {"message": "a folder with the same name or uid already exists"})
        self.folders[uid] = {"id": self._id(), "uid": uid, "title": title, "version": 1}
        return Reply(200, dict(self.folders[uid]))

    def update_folder(self, request: Request, m: re.Match[str]) -> Reply:
        folder, body = self.folders.get(m["uid"]), request.data or {}
        if folder is None:
            return Reply(404, {"message": "folder not found"})
        if request.error or not body.get("title"):
            return Reply(400, {"message": "bad request data"})
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return Reply(412, {"message": "the folder has been changed by someone else", "status": "version-mismatch"})
        self.folders[m["uid"]] = folder = {**folder, "title": body["title"], "version": folder["version"] + 1}
        return Reply(200, dict(folder))

    def delete_folder(self, request: Request, m: re.Match[str]) -> Reply:
        folder = self.folders.pop(m["uid"], None)
        if folder is None:
            return Reply(404, {"message": "folder not found"})
        for uid in [u for u, d in self.dashboards.items() if d["folderUid"] == m["uid"]]:
            del self.dashboards[uid]  # what Grafana does, and why vigil never prunes folders
            self.drop_annotations_of(uid)
        return Reply(200, {"message": "Folder deleted", "id": folder["id"], "title": folder["title"]})

    # --- dashboards -----------------------------------------------------------------------------

    def save_dashboard(self, request: Request, _: re.Match[str]) -> Reply:
        if request.error or not isinstance(request.data, dict):
            return Reply(400, {"message": "bad request data", "status": "bad-request"})
        body = request.data  # parsed for this request alone: ours to keep
        dash = body.get("dashboard") or {}
        folder, overwrite = body.get("folderUid") or "", bool(body.get("overwrite"))
        uid, title = dash.get("uid") or f"gen{self.next_id}", dash.get("title", "")
        if not title:
            return Reply(400, {"message": "Dashboard title cannot be empty", "status": "empty-name"})
        if len(uid) > MAX_UID:
            return Reply(400, {"message": "uid too long, max 40 characters", "status": "bad-uid"})
        if folder and folder not in self.folders:
            return Reply(400, {"message": "folder not found", "status": "folder-not-found"})
        existing = self.dashboards.get(uid)
        same_title = [
            u
            for u, d in self.dashboards.items()
            if u != uid and d["folderUid"] == folder and d["dashboard"]["title"].lower() == title.lower()
        ]
        if not overwrite:
            if existing and dash.get("version") != existing["version"]:
                return Reply(
                    412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
                )
            if same_title:
                return Reply(
                    412,
                    {"message": "A dashboard with the same name in the folder already exists", "status": "name-exists"},
                )
        for other in same_title:  # overwrite=true: the same-titled dashboard is replaced
            existing = existing or self.dashboards[other]
            del self.dashboards[other]
        version = existing["version"] + 1 if existing else 1
        dash.update(uid=uid, id=existing["dashboard"]["id"] if existing else self._id(), version=version)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.dashboards[uid] = {
            "dashboard": dash,
            "folderUid": folder,
            "version": version,
            "message": body.get("message", ""),
            "created": existing["created"] if existing else now,
            "updated": now,
        }
        return Reply(
            200,
            {
                "id": dash["id"],
                "uid": uid,
                "url": f"/d/{uid}/{title.lower()}",
                "status": "success",
                "version": version,
                "slug": title.lower(),
            },
        )

    def get_dashboard(self, request: Request, m: re.Match[str]) -> Reply:
        stored = self.dashboards.get(m["uid"])
        if stored is None:
            return Reply(404, {"message": "Dashboard not found"})
        folder = self.folders.get(stored["folderUid"])
        meta = {
            "folderUid": stored["folderUid"],
            "folderTitle": folder["title"] if folder else "General",
            "version": stored["version"],
            "created": stored["created"],
            "updated": stored["updated"],
            "url": f"/d/{m['uid']}",
        }
        return Reply(200, {"dashboard": stored["dashboard"], "meta": meta})

    def delete_dashboard(self, request: Request, m: re.Match[str]) -> Reply:
        stored = self.dashboards.pop(m["uid"], None)
        if stored is None:
            return Reply(404, {"message": "Dashboard not found"})
        self.drop_annotations_of(m["uid"])
        return Reply(
            200,
            {"title": stored["dashboard"]["title"], "message": "Dashboard deleted", "id": stored["dashboard"]["id"]},
        )

    def search(self, request: Request, _: re.Match[str]) -> Reply:
        q = request.query
        query = (q.get("query") or [""])[0].lower()
        tags = q.get("tag") or []
        kind = (q.get("type") or [""])[0]
        folders = q.get("folderUIDs") or []
        limit, page = int((q.get("limit") or ["1000"])[0]), int((q.get("page") or ["1"])[0])
        hits: list[dict[str, Any]] = []
        if kind in ("", "dash-folder") and not tags and not folders:  # no nested folders here
            hits += [
                {"uid": f["uid"], "title": f["title"], "type": "dash-folder", "tags": []}
                for f in self.folders.values()
                if query in f["title"].lower()
            ]
        if kind in ("", "dash-db"):
            for uid, stored in self.dashboards.items():
                d = stored["dashboard"]
                if query not in d["title"].lower() or not all(t in (d.get("tags") or []) for t in tags):
                    continue
                if folders and stored["folderUid"] not in folders:
                    continue
                hit = {
                    "id": d["id"],
                    "uid": uid,
                    "title": d["title"],
                    "type": "dash-db",
                    "tags": d.get("tags") or [],
                    "url": f"/d/{uid}",
                }
                if stored["folderUid"]:
                    hit.update(folderUid=stored["folderUid"], folderTitle=self.folders[stored["folderUid"]]["title"])
                hits.append(hit)
        hits.sort(key=lambda h: h["title"].lower())
        return Reply(200, hits[(page - 1) * limit : page * limit])
