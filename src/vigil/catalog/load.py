"""Stage 1, load: read the catalog's YAML safely, remembering the line of every node.

Each file becomes a `Document`: the plain data plus a map from JSON path (a tuple of keys and
indexes) to the 1-based line where that node starts, so that every later error can point at it.
YAML problems (syntax, duplicate keys, anchors to nowhere) are collected as `Problem`s, never raised
as tracebacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from vigil.errors import CatalogError, Problem

PathKey = tuple[str | int, ...]
# libyaml's parser when present (5x faster on a thousand files); it keeps node marks the same way.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


@dataclass
class Document:
    """One YAML file: its data and where each node of it was written."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    digest: str | None = None   # of the text it was parsed from: data and lines follow from it

    def line(self, path: PathKey) -> int:
        """The line of `path`, or of its nearest ancestor that exists."""
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def problem(self, path: PathKey, message: str) -> Problem:
        return Problem(self.file, self.line(path), dotted(path), message)


def dotted(path: PathKey) -> str:
    """('metrics', 'error_ratio', 'for') → metrics.error_ratio.for; indexes as [0]."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _build(node: yaml.Node, path: PathKey, loader: Any, doc: Document, problems: list[Problem]) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        # Safe loading: a tag such as !!python/object would otherwise be silently dropped here.
        problems.append(Problem(doc.file, node.start_mark.line + 1, dotted(path), f"unsupported YAML tag {node.tag}"))
        return None
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                # Numbers or booleans as keys (`on: ...` → True) would silently change meaning.
                problems.append(Problem(doc.file, key_node.start_mark.line + 1, dotted(path),
                                        f"key {key!r} must be a string; quote it"))
                key = str(key)
            if key in out:
                problems.append(Problem(doc.file, key_node.start_mark.line + 1, dotted(path + (key,)),
                                        "duplicate key; the earlier value would be silently lost"))
            # A field's line is its key's line: where a person reads `critical: 5%`.
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, path + (key,), loader, doc, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, path + (i,), loader, doc, problems) for i, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse(text: str, file: str) -> tuple[Document, list[Problem]]:
    """Parse one YAML document from text. Never raises on bad input: problems are returned."""
    doc = Document(file, None)
    problems: list[Problem] = []
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here
        node = loader.get_single_node()
        if node is not None:
            doc.data = _build(node, (), loader, doc, problems)
    except yaml.reader.ReaderError as e:
        problems.append(Problem(file, 1, "", f"invalid YAML: {e}"))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(file, line, "", f"invalid YAML: {e.problem or e.context}"))
    except (yaml.YAMLError, ValueError, TypeError, RecursionError, OverflowError) as e:
        # e.g. an unparseable timestamp or a deeply nested document
        problems.append(Problem(file, 1, "", f"invalid YAML: {type(e).__name__}: {e}"))
    finally:
        if loader is not None:
            loader.dispose()
    return doc, problems


def load_file(path: Path, root: Path | None = None, cache: Any = None) -> tuple[Document, list[Problem]]:
    """Read and parse one file; the name in messages is relative to `root` when given. With a
    cache (catalog.memo), a text parsed before is not parsed again."""
    name = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return Document(name, None), [Problem(name, 0, "", f"cannot read: {e}")]
    if cache is None:
        return parse(text, name)
    key = cache.key(["parse", name, text])
    hit = cache.load(key)
    if hit is not None:
        return Document(name, hit["data"], {tuple(p): line for p, line in hit["lines"]}, key), \
            [Problem(*p) for p in hit["problems"]]
    doc, problems = parse(text, name)
    doc.digest = key
    try:   # YAML may give values JSON would not keep as they are (dates): those are not kept
        keep = orjson.loads(orjson.dumps(doc.data)) == doc.data
    except TypeError:
        keep = False
    if keep:
        cache.store(key, {"data": doc.data, "lines": [[list(p), line] for p, line in doc.lines.items()],
                          "problems": [[p.file, p.line, p.path, p.message] for p in problems]})
    return doc, problems


@dataclass
class RawCatalog:
    """Every document of a catalog directory, before validation."""

    root: Path
    settings: Document | None
    departments: Document | None
    services: list[Document]
    profiles: list[Document]
    postmortems: list[MarkdownDocument] = field(default_factory=list)


@dataclass
class MarkdownDocument(Document):
    """A Markdown file with YAML front matter (a postmortem): `data` is the front matter, and its
    lines are the .md file's, so that problems point where the person edits."""

    body: str = ""
    body_line: int = 1
    folder: Path | None = None   # where the file is: its images (img/...) are read relative to it


def load_markdown(path: Path, root: Path | None = None) -> tuple[MarkdownDocument, list[Problem]]:
    """Read `---`-delimited YAML front matter and the Markdown after it."""
    name = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return MarkdownDocument(name, None), [Problem(name, 0, "", f"cannot read: {e}")]
    lines = text.splitlines(keepends=True)
    end = next((i for i, line in enumerate(lines[1:], 1) if line.rstrip() == "---"), None)
    if not lines or lines[0].rstrip() != "---" or end is None:
        return MarkdownDocument(name, None), [Problem(name, 1, "", "no front matter: the file must start with a "
                                                                   "`---` line, then YAML, then another `---` line")]
    # The opening `---` becomes an empty line, so the parser's line numbers are the .md file's.
    doc, problems = parse("\n" + "".join(lines[1:end]), name)
    return MarkdownDocument(name, doc.data, doc.lines, body="".join(lines[end + 1:]), body_line=end + 2,
                            folder=path.parent), problems


def postmortems_dir(root: Path, settings: Document | None) -> Path:
    """`postmortems:` in vigil.yaml (relative to the catalog directory), else beside the catalog."""
    data = settings.data if settings is not None and isinstance(settings.data, dict) else {}
    where = data.get("postmortems")
    # normpath: `../elsewhere` names its files elsewhere/..., not catalog/../elsewhere/...
    return Path(os.path.normpath(root / where)) if isinstance(where, str) else root.parent / "postmortems"


def load_catalog(root: Path, cache: Any = None) -> RawCatalog:
    """Load `vigil.yaml`, `departments.yaml`, `services/*.yaml` and `profiles/*.yaml` under root,
    and the postmortems (`*.md`) beside it.

    Raises CatalogError with every YAML problem of every file at once. `cache`: a
    catalog.memo.CatalogCache, for service files parsed before.
    """
    if not root.is_dir():
        raise CatalogError([Problem(str(root), 0, "", "catalog directory not found")])
    problems: list[Problem] = []

    def one(path: Path, memo: Any = None) -> Document | None:
        if not path.exists():
            return None
        doc, found = load_file(path, root.parent, memo)
        problems.extend(found)
        return doc

    def many(folder: str, memo: Any = None) -> list[Document]:
        paths = sorted((root / folder).glob("*.yaml")) + sorted((root / folder).glob("*.yml"))
        return [d for d in (one(p, memo) for p in sorted(paths)) if d is not None]

    catalog = RawCatalog(root, one(root / "vigil.yaml"), one(root / "departments.yaml"),
                         many("services", cache), many("profiles"))
    for path in sorted(postmortems_dir(root, catalog.settings).glob("*.md")):
        if path.name.lower() != "readme.md":
            doc, found = load_markdown(path, root.parent)
            problems.extend(found)
            catalog.postmortems.append(doc)
    if catalog.departments is None:
        problems.append(Problem(str(root / "departments.yaml"), 0, "", "missing: every catalog needs departments.yaml"))
    if problems:
        raise CatalogError(problems)
    return catalog
