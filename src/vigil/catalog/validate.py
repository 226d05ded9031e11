"""Stage 2, validate: JSON Schema, then every cross-reference, all problems at once.

Nothing after this stage checks user input again: resolve and the generators trust what passes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil import units
from vigil.catalog import because, conventions, logs_url, memo
from vigil.catalog import departments as departments_check
from vigil.catalog import postmortems as postmortems_check
from vigil.catalog.kubernetes import check as kubernetes_check
from vigil.catalog.load import Document, RawCatalog
from vigil.catalog.memo import CatalogCache
from vigil.catalog.profiles import (
    Field,
    Profile,
    build_profiles,
    builtin_documents,
    convention_ref,
    profile_refs,
    service_metrics,
    service_slis,
)
from vigil.catalog.schema import check_schema, did_you_mean
from vigil.errors import CatalogError, Problem

# Labels that vigil sets itself on every alert (DESIGN.md); a catalog may not redefine them.
CONTRACT_LABELS = ("service", "team", "severity", "key_metric", "kind", "tier", "customer_facing")


@dataclass
class Validated:
    """A catalog that passed validation, with its profiles folded, ready for resolve."""

    raw: RawCatalog
    profiles: dict[str, Profile]
    warnings: list[Problem] = field(default_factory=list)


def _problem_at(f: Field, message: str) -> Problem:
    return f.doc.problem(f.path, message)


def _where(f: Field) -> str:
    return f"{f.doc.file}:{f.doc.line(f.path)}"


def _user_side(fields: dict[str, Field], service: Document, first: str, second: str) -> tuple[str, str]:
    """Which of two clashing fields to point at: the one the service itself set, so the problem
    names a line in the user's file (not a built-in profile's, which the user cannot edit)."""
    if fields[first].doc is not service and fields[second].doc is service:
        return second, first
    return first, second


def _check_metric(
    mid: str,
    fields: dict[str, Field],
    service: Document,
    owner_profile: str | None,
    problems: list[Problem],
    warnings: list[Problem],
) -> None:
    """One merged metric: it must be complete, its units must parse, warning must come first."""
    get = lambda k: fields[k].value if k in fields else None
    if "expr" not in fields and get("enabled") is False:
        return  # the service's pinned convention has no such metric (catalog/conventions.py)
    if "expr" not in fields:
        # Only a catalog profile can get here (a service's own new metric is caught by the caller).
        first = next(iter(fields.values()))
        problems.append(first.doc.problem(first.path[:-1], f"metric '{mid}' of profile '{owner_profile}' has no expr"))
        return
    expr = str(get("expr"))
    if "$selector" not in expr:
        problems.append(
            _problem_at(fields["expr"], "expr must use $selector, or the rule would match every service's series")
        )
    unit = get("unit") or "count"
    parsed: dict[str, float] = {}
    for level in ("warning", "critical"):
        if level in fields:
            try:
                parsed[level] = units.parse_quantity(fields[level].value, unit)
            except ValueError as e:
                problems.append(_problem_at(fields[level], str(e)))
    for key in ("window", "for"):
        value = get(key)
        values = value.values() if isinstance(value, dict) else [value] if value is not None else []
        for v in values:
            try:
                units.parse_duration(v)
            except ValueError as e:
                problems.append(_problem_at(fields[key], str(e)))
    direction = get("direction") or "above"
    if "warning" in parsed and "critical" in parsed:
        w, c = parsed["warning"], parsed["critical"]
        # Equal thresholds are refused too: the dashboard could not colour one step both orange
        # and red, and the warning alert would only ever fire together with the critical one.
        if (direction == "above" and w >= c) or (direction == "below" and w <= c):
            word = "above" if direction == "above" else "below"
            at, other = _user_side(fields, service, "warning", "critical")
            came = (
                "" if fields[other].doc is service else f" (from profile '{owner_profile}' at {_where(fields[other])})"
            )
            relation = "equals" if w == c else "is beyond"
            problems.append(
                _problem_at(
                    fields[at],
                    f"warning ({get('warning')}) {relation} critical ({get('critical')}){came}; for a metric where {word} "
                    f"is worse, warning must be {'lower' if word == 'above' else 'higher'} than critical",
                )
            )
    if get("trend") and "critical" not in parsed:
        problems.append(
            _problem_at(
                fields["trend"], "a trend alert predicts the crossing of the critical threshold; set `critical`"
            )
        )
    if (parsed or get("trend") or get("anomaly")) and "test" not in fields and get("enabled") is not False:
        warnings.append(
            service.problem(
                ("metrics", mid), "no `test:` fixture, so its alerts get no generated promtool test (docs/profiles.md)"
            )
        )


def _check_slos(service: Document, profiles: dict[str, Profile], problems: list[Problem]) -> None:
    slis = service_slis(service, profiles)
    seen: set[str] = set()
    for i, slo in enumerate(service.data.get("slos") or []):
        name = slo["name"]
        if name in seen:
            problems.append(service.problem(("slos", i, "name"), f"SLO '{name}' is defined twice"))
        seen.add(name)
        sli = slo.get("sli", name)
        if sli not in slis:
            where = "its profiles" if service.data.get("profiles") else "any profile (the service lists none)"
            problems.append(
                service.problem(
                    ("slos", i, "sli" if "sli" in slo else "name"),
                    f"no SLI '{sli}' in {where}{did_you_mean(sli, slis)}; available: {', '.join(sorted(slis)) or 'none'}",
                )
            )
        elif slis[sli][1].get("needs_threshold", Field(False, service, ())).value and "threshold" not in slo:
            problems.append(service.problem(("slos", i), f"SLI '{sli}' needs a `threshold:` (e.g. 500ms)"))
        try:
            objective = units.parse_quantity(slo["objective"], "ratio")
            if not 0 < objective < 1:
                raise ValueError(f"an objective must be between 0% and 100% exclusive, got {slo['objective']!r}")
        except ValueError as e:
            problems.append(service.problem(("slos", i, "objective"), str(e)))
        if "threshold" in slo:
            try:
                units.parse_quantity(slo["threshold"], "seconds")
            except ValueError as e:
                problems.append(service.problem(("slos", i, "threshold"), str(e)))


def _check_service(
    service: Document,
    names: set[str],
    owners: set[str],
    profiles: dict[str, Profile],
    problems: list[Problem],
    warnings: list[Problem],
) -> None:
    data = service.data
    if data["owner"] not in owners:
        problems.append(
            service.problem(("owner",), f"unknown department '{data['owner']}'{did_you_mean(data['owner'], owners)}")
        )
    for i, dep in enumerate(data.get("dependencies") or []):
        if dep == data["name"]:
            problems.append(service.problem(("dependencies", i), "a service cannot depend on itself"))
        elif dep not in names:
            problems.append(service.problem(("dependencies", i), f"unknown service '{dep}'{did_you_mean(dep, names)}"))
    for i, name, _prefix in profile_refs(data):
        if name not in profiles:
            problems.append(service.problem(("profiles", i), f"unknown profile '{name}'{did_you_mean(name, profiles)}"))
        elif (pinned := convention_ref(data, i)) is not None:
            problems += conventions.check_ref(service, i, name, pinned, [c.name for c in profiles[name].conventions])
    for key in set(data.get("labels") or {}) & set(CONTRACT_LABELS):
        problems.append(
            service.problem(("labels", key), f"'{key}' is set by vigil on every alert; choose another label name")
        )
    merged = service_metrics(service, profiles)
    for mid, source in sorted(merged.items()):
        if source.collides_with:
            problems.append(
                service.problem(
                    ("profiles",),
                    f"metric '{mid}' comes from both '{source.profile}' and '{source.collides_with}'; "
                    f"include one with a prefix, e.g. {{name: {source.collides_with}, "
                    f"prefix: {source.collides_with.replace('-', '_')}_}}",
                )
            )
        if mid in (data.get("metrics") or {}) and source.profile is None and "expr" not in source.fields:
            problems.append(
                service.problem(
                    ("metrics", mid),
                    f"unknown metric '{mid}'{did_you_mean(mid, [m for m in merged if m != mid])}; "
                    "to add a key metric of this service's own, give it an expr and a unit",
                )
            )
            continue
        _check_metric(mid, source.fields, service, source.profile, problems, warnings)
    _check_slos(service, profiles, problems)


def _schema_only(doc: Document) -> tuple[list[Problem], list[Problem]]:
    return check_schema(doc, "service"), []


def _remembered(
    cache: CatalogCache | None, parts: list[Any], compute: Callable[[], tuple[list[Problem], list[Problem]]]
) -> tuple[list[Problem], list[Problem]]:
    """compute() → (problems, warnings), or what it gave before for the same parts."""
    if cache is None:
        return compute()
    key = cache.key(parts)
    hit = cache.load(key)
    if hit is not None:
        return memo.problems_in(hit[0]), memo.problems_in(hit[1])
    found, warned = compute()
    cache.store(key, [memo.problems_out(found), memo.problems_out(warned)])
    return found, warned


def _semantic_despite_schema(
    doc: Document, schema_problems: list[Problem], names: set[str], owners: set[str], profiles: dict[str, Profile]
) -> list[Problem]:
    """The cross-reference problems of a service that also has schema problems, so that a user
    fixes the file in one round, not two. The checks assume a schema-valid document, so they run
    on the parts the schema did not object to, and whatever they cannot read is left to the
    schema's message."""
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("name"), str):
        return []
    bad = {p.path for p in schema_problems}
    data = {k: v for k, v in doc.data.items() if not any(b == k or b.startswith(f"{k}.") for b in bad)}
    data.setdefault("owner", next(iter(owners), ""))  # a missing owner is the schema's problem
    data.setdefault("selector", {})
    found: list[Problem] = []
    try:
        _check_service(Document(doc.file, data, doc.lines), names, owners, profiles, found, [])
    except (KeyError, TypeError, AttributeError, ValueError):
        return []  # too broken to read beyond what the schema said
    return [p for p in found if p.path not in bad]


def validate(raw: RawCatalog, cache: CatalogCache | None = None) -> Validated:
    """Validate a loaded catalog; raise CatalogError listing every problem. With a cache, a service
    checked before, in the same catalog-wide context, is not checked again."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if raw.settings is not None:
        problems += check_schema(raw.settings, "vigil")
        problems += logs_url.check(raw.settings)
        extra = (raw.settings.data or {}).get("extra_labels") or {} if isinstance(raw.settings.data, dict) else {}
        for key in set(extra) & set(CONTRACT_LABELS):
            problems.append(
                raw.settings.problem(
                    ("extra_labels", key), f"'{key}' is set by vigil on every alert; choose another label name"
                )
            )
    assert raw.departments is not None
    dep_problems = check_schema(raw.departments, "departments")
    problems += dep_problems
    profile_docs = builtin_documents()
    for doc in raw.profiles:
        found = check_schema(doc, "profile")
        problems += found
        stem = doc.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if not found and doc.data["name"] != stem:
            problems.append(doc.problem(("name",), f"a profile's name must match its file name '{stem}'"))
        if not found:
            problems += conventions.check_profile(doc, doc.data, build_profiles(list(profile_docs)))
    profiles = build_profiles(list(profile_docs) + [d for d in raw.profiles if isinstance(d.data, dict)])

    good_services = []
    partial: list[tuple[Document, list[Problem]]] = []  # services with schema problems
    seen: dict[str, Document] = {}
    for doc in raw.services:
        found, _ = _remembered(cache, ["schema", memo.doc_state(doc)], functools.partial(_schema_only, doc))
        problems += found
        if found:
            partial.append((doc, found))
            continue
        name = doc.data["name"]
        if name in seen:
            first = seen[name]
            problems.append(
                doc.problem(
                    ("name",), f"duplicate service '{name}' (also defined at {first.file}:{first.line(('name',))})"
                )
            )
            continue
        seen[name] = doc
        good_services.append(doc)

    departments = raw.departments.data if not dep_problems else {}
    owners = {d["id"] for d in departments.get("departments", [])} if departments else set()
    if dep_problems:
        owners = {s.data["owner"] for s in good_services}  # don't report every owner as unknown twice
    else:
        problems += departments_check.check(raw.departments, good_services)
    names = set(seen)
    # Everything _check_service reads besides the service itself.
    around = memo.context(sorted(names), sorted(owners), [d.data for d in [*profile_docs, *raw.profiles]])

    def check(doc: Document) -> tuple[list[Problem], list[Problem]]:
        found: list[Problem] = []
        warned: list[Problem] = []
        _check_service(doc, names, owners, profiles, found, warned)
        return found, warned

    for doc in good_services:
        found, warned = _remembered(cache, ["service", around, memo.doc_state(doc)], functools.partial(check, doc))
        problems += found
        warnings += warned
    for doc, schema_problems in partial:
        problems += _semantic_despite_schema(doc, schema_problems, names, owners, profiles)
    if (
        raw.settings is not None
        and isinstance(raw.settings.data, dict)
        and "kubernetes" in raw.settings.data
        and not check_schema(raw.settings, "vigil")
    ):
        problems += kubernetes_check(raw.settings, None if dep_problems else raw.departments, good_services)
    pm_problems, pm_warnings = postmortems_check.check(raw.postmortems, seen, owners, profiles)
    problems += because.check(good_services, raw.postmortems)
    problems += pm_problems
    warnings += pm_warnings
    if problems:
        raise CatalogError(problems)
    return Validated(raw, profiles, sorted(set(warnings)))
