"""Postmortems beside the catalog: their front matter is validated like any catalog file, and
resolved into plain model entries that the page (render) and `vigil postmortems` (reports) read.

Every name a postmortem uses (its service, the departments told, the key metrics, the middleware)
must exist in the catalog, so that a search by service or metric finds every incident it should.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.resources
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt

from vigil.catalog.load import Document, MarkdownDocument
from vigil.catalog.profiles import Profile, service_metrics
from vigil.catalog.schema import check_schema, did_you_mean
from vigil.errors import Problem
from vigil.model import Postmortem

TIME_FIELDS = ("occurred", "detected", "resolved")
# Charts the page embeds as data: URLs. Not SVG: markdown-it refuses data:image/svg+xml (it can
# carry script), and so does this list.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@cache
def template() -> str:
    return importlib.resources.files("vigil").joinpath("postmortem_template.md").read_text(encoding="utf-8")


def headings(markdown: str, level: int = 2) -> list[str]:
    """The text of the Markdown headings of one level (parsed, so `## ` inside code is not one)."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [tokens[i + 1].content.strip() for i, t in enumerate(tokens)
            if t.type == "heading_open" and t.tag == f"h{level}"]


def local_images(markdown: str) -> Iterator[tuple[str, int]]:
    """(src, 0-based line in the Markdown) of each image with a relative path, such as img/x.png."""
    for token in MarkdownIt("commonmark").parse(markdown):
        for child in token.children or []:
            src = str(child.attrGet("src") or "")
            if child.type == "image" and src and not _URL_SCHEME.match(src) and not src.startswith(("/", "#")):
                yield src, token.map[0] if token.map else 0


def _image_path(doc: MarkdownDocument, src: str) -> Path:
    assert doc.folder is not None
    return (doc.folder / unquote(src.split("#")[0].split("?")[0])).resolve()


def _check_images(doc: MarkdownDocument) -> list[Problem]:
    problems: list[Problem] = []
    if doc.folder is None:
        return problems
    for src, line in local_images(doc.body):
        path, where = _image_path(doc, src), doc.body_line + line
        if not path.is_relative_to(doc.folder.resolve()):
            problems.append(Problem(doc.file, where, "", f"image '{src}' is outside the postmortems folder"))
        elif path.suffix.lower() not in IMAGE_TYPES:
            problems.append(Problem(doc.file, where, "", f"image '{src}': the page embeds only "
                                                         f"{', '.join(sorted(IMAGE_TYPES))} files"))
        elif not path.is_file():
            problems.append(Problem(doc.file, where, "", f"image '{src}' not found (postmortems keep charts in img/)"))
    return problems


def _images(doc: MarkdownDocument) -> dict[str, str]:
    """src → data: URL of every local image (validated), so the page needs no other file."""
    out = {}
    for src, _ in local_images(doc.body):
        path = _image_path(doc, src)
        out[src] = f"data:{IMAGE_TYPES[path.suffix.lower()]};base64,{base64.b64encode(path.read_bytes()).decode()}"
    return dict(sorted(out.items()))


@cache
def template_sections() -> tuple[str, ...]:
    return tuple(headings(template().split("\n---\n", 1)[1]))


def _as_text(value: Any) -> Any:
    """YAML reads an unquoted 2026-03-14T09:12:00Z as a datetime; the schema checks text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat()   # no offset: the schema's pattern names the problem
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return value


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 time (schema-checked) as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(dt.UTC)


def utc_text(text: str) -> str:
    return parse_time(text).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_metrics(service: Document, profiles: dict[str, Profile]) -> set[str]:
    """What a postmortem may name as a key metric: the service's metric ids and SLO names (the
    values of the `key_metric` label its alerts carry)."""
    metrics = set(service_metrics(service, profiles))
    return metrics | {slo["name"] for slo in service.data.get("slos") or []}


def _unknown(kind: str, name: str, known: Any) -> str:
    return f"unknown {kind} '{name}'{did_you_mean(name, known)}"


def _check_refs(doc: MarkdownDocument, services: dict[str, Document], owners: set[str],
                profiles: dict[str, Profile]) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []
    stem = doc.file.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".md")
    if data["id"] != stem:
        problems.append(doc.problem(("id",), f"the id must be the file name without .md: '{stem}'"))
    if data["service"] not in services:
        problems.append(doc.problem(("service",), _unknown("service", data["service"], services)))
    elif not stem.startswith(f"{data['occurred'][:10]}-{data['service']}-"):
        problems.append(doc.problem(("id",), f"name the file <date occurred>-<service>-<slug>.md: "
                                             f"'{data['occurred'][:10]}-{data['service']}-...'"))
    times = {k: parse_time(data[k]) for k in TIME_FIELDS}
    if not times["occurred"] <= times["detected"] <= times["resolved"]:
        problems.append(doc.problem(("detected",), "times must run occurred ≤ detected ≤ resolved"))
    for i, told in enumerate(data.get("told") or []):
        if told["department"] not in owners:
            problems.append(doc.problem(("told", i, "department"), _unknown("department", told["department"], owners)))
    for i, m in enumerate(data.get("anomalous_metrics") or []):
        if m["service"] not in services:
            problems.append(doc.problem(("anomalous_metrics", i, "service"),
                                        _unknown("service", m["service"], services)))
            continue
        known = key_metrics(services[m["service"]], profiles)
        if m["key_metric"] not in known:
            problems.append(doc.problem(("anomalous_metrics", i, "key_metric"),
                                        f"'{m['service']}' has no key metric '{m['key_metric']}'"
                                        f"{did_you_mean(m['key_metric'], known)}"))
    for i, dep in enumerate(data.get("dependencies_involved") or []):
        if dep not in services:
            problems.append(doc.problem(("dependencies_involved", i), _unknown("service", dep, services)))
    return problems


def check(docs: list[MarkdownDocument], services: dict[str, Document], owners: set[str],
          profiles: dict[str, Profile]) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) of every postmortem. A final postmortem without one of the template's
    sections is a warning: the collection is searched by what those sections hold."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for doc in docs:
        doc.data = _as_text(doc.data)   # kept: resolve reads the times as the schema checked them
        found = check_schema(doc, "postmortem")
        problems += found
        if found:
            continue
        problems += _check_refs(doc, services, owners, profiles)
        problems += _check_images(doc)
        if doc.data["status"] == "final":
            have = set(headings(doc.body))
            for section in template_sections():
                if section not in have:
                    warnings.append(Problem(doc.file, doc.body_line, "",
                                            f"a final postmortem has no '## {section}' section"))
    return problems, warnings


def resolve(docs: list[MarkdownDocument], owner_of: dict[str, str]) -> list[Postmortem]:
    """Validated postmortems as model entries, newest first (then by id)."""
    out: list[Postmortem] = []
    for doc in docs:
        d = doc.data
        times = {k: parse_time(d[k]) for k in TIME_FIELDS}
        told = [{"department": t["department"], "channel": t.get("channel", ""), "at": utc_text(t["at"])}
                for t in d.get("told") or []]
        told.sort(key=lambda t: (t["at"], t["department"]))   # propagation reads in time order
        owner = owner_of[d["service"]]
        out.append(Postmortem(
            id=d["id"], file=doc.file, title=d["title"], service=d["service"], owner=owner,
            severity=d["severity"], status=d["status"],
            occurred=utc_text(d["occurred"]), detected=utc_text(d["detected"]), resolved=utc_text(d["resolved"]),
            time_to_detect_seconds=(times["detected"] - times["occurred"]).total_seconds(),
            time_to_recover_seconds=(times["resolved"] - times["occurred"]).total_seconds(),
            detected_by=d["detected_by"], alert=d.get("alert", ""), told=told,
            departments=sorted({owner} | {t["department"] for t in told}),
            anomalous_metrics=[{"service": m["service"], "key_metric": m["key_metric"],
                                "peak": str(m.get("peak", "")), "at": utc_text(m["at"]) if "at" in m else ""}
                               for m in d.get("anomalous_metrics") or []],
            dependencies_involved=sorted(d.get("dependencies_involved") or []),
            tags=sorted(d.get("tags") or []), authors=list(d.get("authors") or []),
            body=doc.body, images=_images(doc)))
    return sorted(out, key=lambda p: (p["occurred"], p["id"]), reverse=True)
