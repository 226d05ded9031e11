"""The annotations part of the fake Grafana, as Grafana's Annotations HTTP API documents it
(https://grafana.com/docs/grafana/latest/developers/http_api/annotations/):

- POST /api/annotations {dashboardUID, panelId?, time, timeEnd?, tags, text}: `text` is the one
  required field (400 without it); time and timeEnd are epoch milliseconds, a region when timeEnd
  is given, a point otherwise (the docs' example answer has timeEnd == time); time 0 or missing is
  "now". A dashboardUID that names no dashboard is refused (400, "Invalid dashboard UID"), as
  Grafana resolves it to the dashboard's id. Answers {"message": "Annotation added", "id": n}; ids
  are the server's, counted apart from dashboards' (another table).
- GET /api/annotations?from=&to=&limit=&dashboardUID=&panelId=&type=annotation|alert&tags=a&tags=b
  &matchAny=: the tags are ANDed ("specify the tags parameter multiple times"), ORed with
  matchAny=true, and they filter every annotation, a dashboard's too. Grafana stores a tag as a
  key:value pair (tag.ParseTagPairs) and a filter without a value matches the key whatever the
  value: `tags=vigil` also finds `vigil:x` (so a client checks the tags it gets). from/to keep the
  annotations that overlap [from, to]; limit defaults to 100; the latest first, as Grafana's SQL
  orders them (epoch_end, then epoch, descending). There are no pages: a client that needs
  everything asks for a limit above what it can have.
- PUT /api/annotations/{id} "updates all properties" (time, timeEnd, text, tags; the dashboard
  stays); PATCH only those given; DELETE; each 404 when the id is unknown.

Stored annotations are replaced, never changed in place (fakes/base.py).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fakes.base import Reply, Request

DEFAULT_LIMIT = 100
UPDATABLE = ("time", "timeEnd", "text", "tags")


def _json(body: bytes) -> Any:
    return json.loads(body)


class AnnotationsApi:
    """Mixed into FakeGrafana, whose `dashboards` (uid → stored) it reads."""

    dashboards: dict[str, dict[str, Any]]
    annotations: dict[int, dict[str, Any]]

    def route_annotations(self) -> None:
        self.annotations = {}
        self.next_annotation_id = 1
        r = self.route  # type: ignore[attr-defined]
        r("POST", "/api/annotations", self.create_annotation, _json)
        r("GET", "/api/annotations", self.find_annotations)
        r("PUT", r"/api/annotations/(?P<id>\d+)", self.update_annotation, _json)
        r("PATCH", r"/api/annotations/(?P<id>\d+)", self.patch_annotation, _json)
        r("DELETE", r"/api/annotations/(?P<id>\d+)", self.delete_annotation)

    def drop_annotations_of(self, uid: str) -> None:
        """Deleting a dashboard deletes its annotations (Grafana's dashboard delete removes the
        annotation rows of the dashboard with it)."""
        for ident in [i for i, a in self.annotations.items() if a["dashboardUID"] == uid]:
            del self.annotations[ident]

    def create_annotation(self, request: Request, _: re.Match[str]) -> Reply:
        body = request.data
        if request.error or not isinstance(body, dict):
            return Reply(400, {"message": "bad request data"})
        if not body.get("text"):
            return Reply(400, {"message": "Failed to save annotation: text field should not be empty"})
        uid = body.get("dashboardUID") or ""
        if uid and uid not in self.dashboards:
            return Reply(400, {"message": "Invalid dashboard UID in annotation request"})
        start = int(body.get("time") or time.time() * 1000)
        end = int(body.get("timeEnd") or start)
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return Reply(400, {"message": "bad request data"})
        ident = self.next_annotation_id
        self.next_annotation_id += 1
        board = self.dashboards[uid]["dashboard"] if uid else None
        self.annotations[ident] = {
            "id": ident,
            "alertId": 0,
            "dashboardId": board["id"] if board else 0,
            "dashboardUID": uid,
            "panelId": int(body.get("panelId") or 0),
            "time": start,
            "timeEnd": end,
            "text": body["text"],
            "tags": list(tags),
            "data": body.get("data") or {},
        }
        return Reply(200, {"message": "Annotation added", "id": ident})

    def find_annotations(self, request: Request, _: re.Match[str]) -> Reply:
        q = request.query
        one = lambda key: (q.get(key) or [""])[0]
        tags, any_tag = q.get("tags") or [], one("matchAny").lower() == "true"
        limit = int(one("limit") or DEFAULT_LIMIT)
        hits = []
        for a in self.annotations.values():
            if one("dashboardUID") and a["dashboardUID"] != one("dashboardUID"):
                continue
            if one("panelId") and a["panelId"] != int(one("panelId")):
                continue
            if (one("type") == "annotation" and a["alertId"]) or (one("type") == "alert" and not a["alertId"]):
                continue
            if (one("from") and a["timeEnd"] < int(one("from"))) or (one("to") and a["time"] > int(one("to"))):
                continue
            if tags and not (any if any_tag else all)(_tag_matches(t, a["tags"]) for t in tags):
                continue
            hits.append(a)
        hits.sort(key=lambda a: (a["timeEnd"], a["time"], a["id"]), reverse=True)
        return Reply(200, hits[:limit])

    def _update(self, request: Request, m: re.Match[str], fields: tuple[str, ...] | None, message: str) -> Reply:
        ident = int(m["id"])
        stored, body = self.annotations.get(ident), request.data
        if stored is None:
            return Reply(404, {"message": "Annotation not found"})
        if request.error or not isinstance(body, dict):
            return Reply(400, {"message": "bad request data"})
        given = {k: body[k] for k in UPDATABLE if k in body and (fields is None or body[k] is not None)}
        if fields is None and not given.get("text"):  # PUT replaces every property: text is required
            return Reply(400, {"message": "Failed to update annotation: text field should not be empty"})
        updated = {**stored, **given}
        updated["time"], updated["timeEnd"] = int(updated["time"]), int(updated["timeEnd"] or updated["time"])
        self.annotations[ident] = updated
        return Reply(200, {"message": message})

    def update_annotation(self, request: Request, m: re.Match[str]) -> Reply:
        return self._update(request, m, None, "Annotation updated")

    def patch_annotation(self, request: Request, m: re.Match[str]) -> Reply:
        return self._update(request, m, UPDATABLE, "Annotation patched")

    def delete_annotation(self, request: Request, m: re.Match[str]) -> Reply:
        if self.annotations.pop(int(m["id"]), None) is None:
            return Reply(404, {"message": "Annotation not found"})
        return Reply(200, {"message": "Annotation deleted"})


def _pair(tag: str) -> tuple[str, str]:
    """Grafana's tag.ParseTagPairs: `key:value`, or a key alone; spaces trimmed."""
    key, _, value = tag.partition(":")
    return key.strip(), value.split(":")[0].strip()


def _tag_matches(wanted: str, stored: list[str]) -> bool:
    key, value = _pair(wanted)
    return any(k == key and (not value or v == value) for k, v in map(_pair, stored))
