"""Profiles: built-in ones shipped with vigil, overridden or extended by the catalog's own.

Also the one place that knows how a service's metrics are assembled from its profiles and its own
`metrics:` block, with the origin (file, path) of every field, so that validation can point at the
line that set a bad value wherever it was written.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from vigil.catalog.conventions import METRIC_FIELDS, SLI_FIELDS, Convention, parse_conventions, pick
from vigil.catalog.load import Document, PathKey, parse


@dataclass
class Field:
    """A metric field's value and where it was written."""

    value: Any
    doc: Document
    path: PathKey


@dataclass
class Profile:
    name: str
    metrics: dict[str, dict[str, Field]] = field(default_factory=dict)
    slis: dict[str, dict[str, Field]] = field(default_factory=dict)
    docs: list[Document] = field(default_factory=list)
    # In order; a later document that declares `conventions:` replaces the list (docs/profiles.md).
    conventions: list[Convention] = field(default_factory=list)


@cache
def builtin_documents() -> tuple[Document, ...]:
    """The YAML documents of src/vigil/profiles/, parsed with line numbers (once per process)."""
    docs = []
    folder = importlib.resources.files("vigil.profiles")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            doc, problems = parse(entry.read_text(encoding="utf-8"), f"vigil/profiles/{entry.name}")
            assert not problems, problems  # built-ins are tested; a problem here is a vigil bug
            docs.append(doc)
    return tuple(docs)


def _fields(doc: Document, base: PathKey, data: dict[str, Any]) -> dict[str, Field]:
    return {k: Field(v, doc, base + (k,)) for k, v in data.items()}


def build_profiles(docs: list[Document]) -> dict[str, Profile]:
    """Fold profile documents in order: a later document with the same name overrides field by field."""
    profiles: dict[str, Profile] = {}
    for doc in docs:
        data = doc.data if isinstance(doc.data, dict) else {}
        name = data.get("name")
        if not isinstance(name, str):
            continue
        prof = profiles.setdefault(name, Profile(name))
        prof.docs.append(doc)
        if "conventions" in data:
            prof.conventions = parse_conventions(data["conventions"])
        for section in ("metrics", "slis"):
            target = getattr(prof, section)
            for mid, mdata in (data.get(section) or {}).items():
                if isinstance(mdata, dict):
                    target.setdefault(mid, {}).update(_fields(doc, (section, mid), mdata))
    return profiles


def profile_refs(service: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(index, profile name, metric id prefix) for each entry of a service's `profiles:`."""
    out = []
    for i, ref in enumerate(service.get("profiles") or []):
        if isinstance(ref, str):
            out.append((i, ref, ""))
        elif isinstance(ref, dict) and isinstance(ref.get("name"), str):
            out.append((i, ref["name"], ref.get("prefix") or ""))
    return out


def convention_ref(service: dict[str, Any], index: int) -> str | None:
    """The convention a service pins for its `profiles[index]`, if any."""
    ref = (service.get("profiles") or [])[index]
    return ref.get("convention") if isinstance(ref, dict) else None


def _pick_fields(fields: dict[str, Field], names: tuple[str, ...], prof: Profile,
                 convention: str | None) -> dict[str, Field]:
    """A profile metric's or SLI's fields with every convention map reduced to one value."""
    order = [c.name for c in prof.conventions]
    out: dict[str, Field] = {}
    for key, f in fields.items():
        value = pick(key, f.value, order, convention) if key in names else f.value
        if value is not None:
            out[key] = f if value is f.value else Field(value, f.doc, f.path)
    return out


@dataclass
class MetricSource:
    """A service's metric after merging: its fields, the profile it came from, and collisions."""

    fields: dict[str, Field]
    profile: str | None
    collides_with: str | None = None
    # The pinned convention has no expr for it: disabled, unless the service gives its own expr.
    unavailable: bool = False


def service_metrics(service: Document, profiles: dict[str, Profile]) -> dict[str, MetricSource]:
    """Merge the service's profiles (in order) and its own `metrics:` overrides.

    Metrics with `enabled: false` are kept here (so validation can check them) and dropped by
    resolve.
    """
    data = service.data
    merged: dict[str, MetricSource] = {}
    for i, name, prefix in profile_refs(data):
        prof = profiles.get(name)
        if prof is None:
            continue
        convention = convention_ref(data, i)
        for mid, fields in prof.metrics.items():
            key = prefix + mid
            if key in merged:
                merged[key].collides_with = name
                continue
            picked = _pick_fields(fields, METRIC_FIELDS, prof, convention)
            unavailable = "expr" in fields and "expr" not in picked
            if unavailable:
                picked["enabled"] = Field(False, fields["expr"].doc, fields["expr"].path)
            merged[key] = MetricSource(picked, name, unavailable=unavailable)
    for mid, mdata in (data.get("metrics") or {}).items():
        if not isinstance(mdata, dict):
            continue
        own = _fields(service, ("metrics", mid), mdata)
        if mid in merged:
            if merged[mid].unavailable and "expr" in own and "enabled" not in own:
                merged[mid].fields.pop("enabled")
            merged[mid].fields.update(own)
        else:
            merged[mid] = MetricSource(own, None)
    return merged


def service_slis(service: Document, profiles: dict[str, Profile]) -> dict[str, tuple[str, dict[str, Field]]]:
    """The SLIs available to a service: sli name → (profile name, fields). First profile wins."""
    out: dict[str, tuple[str, dict[str, Field]]] = {}
    for i, name, _prefix in profile_refs(service.data):
        prof = profiles.get(name)
        for sid, fields in (prof.slis.items() if prof else []):
            picked = _pick_fields(fields, SLI_FIELDS, prof, convention_ref(service.data, i))  # type: ignore[arg-type]
            # An SLI the pinned convention cannot compute is not offered (another profile's may be).
            if "errors" in picked and "total" in picked:
                out.setdefault(sid, (name, picked))
    return out
