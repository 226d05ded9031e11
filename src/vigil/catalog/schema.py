"""JSON Schema validation of catalog documents, with messages a person can act on.

The schemas live in src/vigil/schema/ and are published for editors
(`# yaml-language-server: $schema=...`). jsonschema's raw messages are rewritten here into short
sentences, with "did you mean" for misspelt field names and enum values.
"""

from __future__ import annotations

import difflib
import importlib.resources
import json
from functools import cache
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from vigil.catalog.load import Document
from vigil.errors import Problem

_PATTERN_HELP = {
    r"^[a-z][a-z0-9-]*$": "must start with a lowercase letter and use only a-z, 0-9 and '-'",
    r"^[a-z][a-z0-9_]*$": "must start with a lowercase letter and use only a-z, 0-9 and '_'",
    r"^[a-zA-Z_][a-zA-Z0-9_]*$": "is not a valid Prometheus label name",
    r"^(\d+(\.\d+)?(ms|s|m|h|d|w|y))+$|^\d+(\.\d+)?$": "is not a duration such as 30s, 5m, 1h30m or 300ms",
    # Kubernetes (the kubernetes: settings): DNS-1123 labels, label values, label/annotation keys.
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "is not a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$": "is not a Kubernetes label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$": "is not a Kubernetes annotation key: [prefix/]name, the name letters, digits, '-', '_' and '.'",
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$": "is not an RFC 3339 time with an offset, such as 2026-03-14T09:12:00Z or 2026-03-14T18:12:00+09:00",
}


def did_you_mean(word: str, choices: Any) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    text = importlib.resources.files("vigil.schema").joinpath(f"{name}.schema.json").read_text()
    return jsonschema.Draft202012Validator(json.loads(text))


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


def _problems(doc: Document, error: ValidationError) -> list[Problem]:
    path = tuple(error.absolute_path)
    # jsonschema types these as unions with its Unset marker; an error it raised always has them.
    v, schema, instance = error.validator, cast(dict[str, Any], error.schema), cast(Any, error.instance)
    if v in ("oneOf", "anyOf") and error.context:
        # Explain the alternative whose type fits the value (a string duration's pattern, say),
        # not "expected object" from an alternative the user clearly did not mean.
        fitting = [e for e in error.context if e.validator != "type"]
        return _problems(doc, best_match(fitting or error.context))
    if v == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        extra = sorted(set(instance) - set(known))
        return [doc.problem(path + (k,), f"unknown field '{k}'{did_you_mean(k, known)}") for k in extra]
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [doc.problem(path, f"missing required field '{missing}'")]
    if v == "enum":
        choices = ", ".join(map(str, schema["enum"]))
        return [
            doc.problem(path, f"must be one of: {choices}; got {instance!r}{did_you_mean(instance, schema['enum'])}")
        ]
    if v == "type":
        want = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return [doc.problem(path, f"expected {' or '.join(want)}, got {_type_name(instance)}")]
    if v == "pattern":
        helpful = _PATTERN_HELP.get(schema["pattern"], f"must match {schema['pattern']}")
        return [doc.problem(path, f"{instance!r} {helpful}")]
    if v == "propertyNames":
        return [doc.problem(path + (instance,), f"{instance!r} is not allowed as a name here: {error.message}")]
    return [doc.problem(path, error.message)]


def check_schema(doc: Document, schema_name: str) -> list[Problem]:
    """Every schema problem of one document."""
    if doc.data is None:
        return [doc.problem((), "the file is empty")]
    problems: list[Problem] = []
    for error in validator(schema_name).iter_errors(doc.data):
        problems.extend(_problems(doc, error))
    return problems
