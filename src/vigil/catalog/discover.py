"""`vigil discover`: a catalog entry for a service, from what its exporter really exposes.

Every profile (built-in, and the catalog's own when there is one) and each of its conventions is
evaluated on the scraped samples with the real promtool (catalog/probe.py): a key metric is
"found" when its PromQL returns data, not merely when its metric names appear. Per profile, the
convention with the most key metrics found wins (ties: the one whose identifying names are in the
exposition, then the profile's order) and is pinned, so generated rules stay lean. Key metrics
it could not find are switched off in the entry with a comment saying what the exporter needs,
so that nothing looks green while it watches nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from vigil import units
from vigil.catalog.conventions import identifier
from vigil.catalog.exposition import Exposition
from vigil.catalog.load import Document, load_file
from vigil.catalog.probe import evaluate, has_data, render
from vigil.catalog.profiles import Profile, build_profiles, builtin_documents, service_metrics, service_slis

_NAME_OK = re.compile(r"[^a-z0-9-]+")


@dataclass
class Match:
    profile: str
    convention: str | None
    convention_text: str
    found: list[str]                                   # key metric ids with data
    missing: dict[str, str] = field(default_factory=dict)  # key metric id → what it needs, what is absent
    slis: dict[str, list[float]] = field(default_factory=dict)  # SLI with data → its `le` boundaries (if it needs one)


def profiles_for(catalog: Path | None) -> dict[str, Profile]:
    docs = list(builtin_documents())
    if catalog is not None and (catalog / "profiles").is_dir():
        for path in sorted((catalog / "profiles").glob("*.yaml")):
            doc, problems = load_file(path, catalog.parent)
            if not problems and isinstance(doc.data, dict):
                docs.append(doc)
    return build_profiles(docs)


def _identified(exposition: Exposition, identify: tuple[str, ...]) -> int:
    count = 0
    for text in identify:
        name, labels = identifier(text)
        if name in exposition.names and labels <= exposition.labels_of(name):
            count += 1
    return count


def match_profiles(exposition: Exposition, profiles: dict[str, Profile], job: str) -> list[Match]:
    """The profiles whose key metrics return data on the exposition, each with its best convention."""
    selector = {"job": job}
    candidates: list[tuple[str, str | None, dict[str, dict]]] = []
    sli_bounds: dict[tuple[str, str | None, str], list[float]] = {}
    checks: dict[str, str] = {}
    for name, prof in sorted(profiles.items()):
        pins: list[str | None] = [c.name for c in prof.conventions] or [None]
        for convention in pins:
            ref: object = {"name": name, "convention": convention} if convention else name
            doc = Document("discover", {"name": "discover", "profiles": [ref]})
            metrics = {mid: {k: f.value for k, f in src.fields.items()}
                       for mid, src in service_metrics(doc, profiles).items()}
            candidates.append((name, convention, metrics))
            for mid, fields in metrics.items():
                if "expr" in fields:
                    checks[f"{name}/{convention}/{mid}"] = has_data(render(fields["expr"], selector))
            for sid, (_, sli) in service_slis(doc, profiles).items():
                errors, total = sli["errors"].value, sli["total"].value
                if sli.get("needs_threshold") and sli["needs_threshold"].value:
                    # A latency SLI can serve any threshold that is a bucket boundary of its histogram.
                    sli_bounds[(name, convention, sid)] = _bounds(exposition, total)
                    checks[f"{name}/{convention}/sli/{sid}"] = has_data(render(total, selector))
                else:
                    checks[f"{name}/{convention}/sli/{sid}"] = has_data(
                        f"({render(errors, selector)}) / ({render(total, selector)})")
    got = evaluate({"discovered:9100": exposition.samples}, checks, job=job)

    matches: list[Match] = []
    for name, prof in sorted(profiles.items()):
        conventions = {c.name: c for c in prof.conventions}
        scored = []
        for order, (_, convention, metrics) in enumerate(c for c in candidates if c[0] == name):
            found = [mid for mid in metrics if got.get(f"{name}/{convention}/{mid}")]
            ident = _identified(exposition, conventions[convention].identify) if convention is not None else 0
            scored.append(((len(found), ident > 0, -order), convention, metrics, found))
        (score, convention, metrics, found) = max(scored, key=lambda s: s[0])
        if not found and not score[1]:
            continue
        missing = {}
        for mid, fields in metrics.items():
            if mid not in found:
                missing[mid] = _needs(exposition, fields)
        text = conventions[convention].description if convention else ""
        slis = {sid: sli_bounds.get((name, convention, sid), []) for sid in sorted(prof.slis)
                if got.get(f"{name}/{convention}/sli/{sid}")
                and ((name, convention, sid) not in sli_bounds or sli_bounds[(name, convention, sid)])}
        matches.append(Match(name, convention, text, found, missing, slis))
    return matches


def _needs(exposition: Exposition, fields: dict) -> str:
    """What a key metric without data needs: the profile's hint, and the series it reads that are absent."""
    read = sorted(set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", str(fields.get("expr", "")))))
    absent = [n for n in read if n not in exposition.names]
    if absent:
        detail = f"reads {', '.join(absent)}, not in this exposition"
    elif read:
        detail = f"{', '.join(read)} present, but its expression selects no data from them"
    else:
        detail = "no expr for this convention in the profile"
    return f"needs {fields['needs']}; {detail}" if fields.get("needs") else detail


def _bounds(exposition: Exposition, total: str) -> list[float]:
    """The finite `le` boundaries of the histogram an SLI's total reads."""
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*_bucket)\s*\{", total))
    les = {dict(s.labels).get("le", "") for s in exposition.samples if s.name in names}
    out = []
    for le in les:
        try:
            value = float(le)
        except ValueError:
            continue
        if value != float("inf"):
            out.append(value)
    return sorted(set(out))


def _yaml(value: str) -> str:
    """A YAML scalar: JSON strings are valid YAML, and plain words stay plain."""
    return value if re.fullmatch(r"[a-z][a-z0-9_-]*", value) else json.dumps(value)


def default_name(source: str) -> str:
    """A service name from a URL's host or a file's stem: lowercase, [a-z0-9-]."""
    m = re.match(r"^https?://([^/:]+)", source)
    raw = m.group(1).split(".")[0] if m else Path(source).stem
    name = _NAME_OK.sub("-", raw.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "service-" + name
    return name[:63].rstrip("-")


def entry(expositions: list[Exposition], matches: list[Match], name: str, owner: str | None,
          job: str | None) -> str:
    """The service entry, as YAML with comments, valid against service.schema.json."""
    samples = sum(len(e.samples) for e in expositions)
    lines = ["# yaml-language-server: $schema=../../src/vigil/schema/service.schema.json",
             f"# Discovered by `vigil discover` from {', '.join(e.source for e in expositions)} ({samples} samples).",
             f"name: {_yaml(name)}",
             f"owner: {_yaml(owner)}" if owner
             else "owner: CHANGE-ME   # a department id from departments.yaml (--owner)",
             "# An exposition carries no `job` label: Prometheus adds it at scrape time. This job is",
             f"# {'--job' if job else 'the --name'}; make it your scrape config's job_name.",
             f"selector: {{job: {_yaml(job or name)}}}"]
    if not matches:
        lines.append("# No profile found data in this exposition: add key metrics of your own under `metrics:`.")
        return "\n".join(lines) + "\n"
    lines.append("profiles:")
    seen: set[str] = set()
    disabled: list[tuple[str, str, str]] = []
    for m in matches:
        ids = set(m.found) | set(m.missing)
        # Two profiles with the same metric ids (redis and host both have memory_usage) need a prefix.
        prefix = m.profile.replace("-", "_") + "_" if ids & seen else ""
        seen |= {prefix + i for i in ids}
        fields = [f"name: {_yaml(m.profile)}"] + ([f"convention: {_yaml(m.convention)}"] if m.convention else []) \
            + ([f"prefix: {prefix}"] if prefix else [])
        ref = "{" + ", ".join(fields) + "}" if len(fields) > 1 else _yaml(m.profile)
        lines.append(f"  - {ref}   # found: {', '.join(prefix + i for i in m.found) or 'none'}")
        if m.convention_text:
            lines.append(f"    # {m.convention}: {m.convention_text}")
        disabled += [(prefix + mid, m.profile, why) for mid, why in sorted(m.missing.items())]
    slo_lines = []
    for m in matches:
        for sid, bounds in m.slis.items():
            if not bounds:
                slo_lines.append(f"#   - {{name: {sid}, objective: 99.9%}}   # from {m.profile}")
                continue
            # Suggest a boundary near a quarter second (an interactive API); any listed one works.
            pick = next((b for b in bounds if b >= 0.25), bounds[-1])
            # Micrometer's percentile histograms add dozens of generated boundaries; the round ones
            # (configured SLO buckets, client defaults) are the ones a person chooses from.
            listed = [b for b in bounds if float(f"{b:.3g}") == b] or bounds
            shown = ", ".join(units.promql_number(b) for b in listed[:12]) + (", ..." if len(listed) > 12 else "")
            threshold = units.format_quantity(pick, "seconds")
            slo_lines.append(f"#   - {{name: {sid}, objective: 99%, threshold: {threshold}}}"
                             f"   # from {m.profile}; threshold must be a bucket boundary (s): {shown}")
    if slo_lines:
        lines.append("# SLOs these metrics can serve: choose objectives, then uncomment.")
        lines += ["# slos:", *slo_lines]
    if disabled:
        lines.append("metrics:")
        lines.append("  # Key metrics with no data in this exposition: switched off, so that nothing looks")
        lines.append("  # green while it watches nothing. Remove a line once the exporter provides it.")
        for mid, profile, why in disabled:
            lines.append(f"  # {mid} ({profile}): {why}")
            lines.append(f"  {mid}: {{enabled: false}}")
    return "\n".join(lines) + "\n"


def discover(expositions: list[Exposition], name: str, owner: str | None, catalog: Path | None,
             job: str | None = None) -> str:
    merged = Exposition(", ".join(e.source for e in expositions), [s for e in expositions for s in e.samples])
    matches = match_profiles(merged, profiles_for(catalog), job or name)
    return entry(expositions, matches, name, owner, job)
