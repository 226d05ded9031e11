"""The checks of output/kubernetes/, in every `vigil build` and in `vigil check`.

On every object: a known apiVersion and kind, a DNS-1123 name and namespace, valid label and
annotation keys and values, annotations within 256 KiB, and a listing in kustomization.yaml.
Then, per kind, what the API server and prometheus-operator would refuse, and the real tools:
- PrometheusRule: content within the operator's 512 KiB; its spec is the text of
  output/prometheus/rules/<service>.yaml, and `promtool check rules` runs on it as on the files
  (check.check_rules). promtool parses with Prometheus' rulefmt, as the operator's admission check
  does: unique group names, exactly one of alert/record, valid PromQL and templates;
- dashboard ConfigMap: one valid key of dashboard JSON, the same as output/grafana/dashboards/, at
  most 1 MiB (an error naming the dashboard); over 256 KiB a warning, as client-side `kubectl
  apply` cannot store its last-applied annotation;
- the Alertmanager Secret: key alertmanager.yaml, no credential written in it, the same text as
  output/alertmanager/alertmanager.yaml, and amtool (check-config and the routing cases) on it.

With VIGIL_K8S_SCHEMAS naming a folder of the CRDs' OpenAPI schemas as JSON (the tests use
../shared/k8s-schemas/), each PrometheusRule is also validated against `prometheusrule.v1.schema.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, Callable, ClassVar

import jsonschema
import orjson
import yaml

from vigil import kube_names
from vigil.amrefs import bare
from vigil.check.amtool import CheckConfig, RoutesTest
from vigil.check.promtool import CheckRules
from vigil.check.report import CheckReport
from vigil.layout import ALERTMANAGER_CONFIG as CONFIG
from vigil.layout import ROUTING_CASES as CASES
from vigil.render.dashboards import OVERVIEW_UID
from vigil.render.kubernetes import DIR, KUSTOMIZATION, RULE_API, SECRET_KEY, body

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
KINDS = {("monitoring.coreos.com/v1", "PrometheusRule"), ("v1", "ConfigMap"), ("v1", "Secret")}
SCHEMAS_ENV = "VIGIL_K8S_SCHEMAS"
# Credentials by receiver kind, as Alertmanager names them: in the Secret they may only be a
# ${NAME} reference (vigil writes *_file paths or references; this guards against a hand edit).
CREDENTIALS = {"slack_configs": ("api_url",), "pagerduty_configs": ("routing_key", "service_key"),
               "opsgenie_configs": ("api_key",), "email_configs": ("auth_password",),
               "msteams_configs": ("webhook_url",), "msteamsv2_configs": ("webhook_url",),
               "global": ("smtp_auth_password", "slack_api_url", "opsgenie_api_key")}


@cache
def crd_validator(folder: str, name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def crd_problems(obj: Any, folder: Path, name: str = "prometheusrule.v1.schema.json") -> list[str]:
    """Where `obj` breaks a CRD's own OpenAPI schema (converted to JSON Schema)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in crd_validator(str(folder), name).iter_errors(obj)]


def metadata_problems(obj: dict[str, Any]) -> list[str]:
    """What the API server checks of metadata, which the CRD schemas leave as `type: object`."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return ["metadata: missing"]
    found = [kube_names.name_problem(str(meta.get("name", ""))),
             kube_names.dns_label_problem(str(meta.get("namespace", "")), "a namespace")]
    for label, value in (meta.get("labels") or {}).items():
        found += [kube_names.key_problem(str(label)), kube_names.label_value_problem(str(value))]
    annotations = meta.get("annotations") or {}
    found += [kube_names.key_problem(str(k), "an annotation key") for k in annotations]
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > kube_names.ANNOTATIONS_MAX_BYTES:
        found.append(f"annotations: {kube_names.kib(size)}, over the API server's 256 KiB")
    return [f"metadata: {p}" for p in found if p]


def _rule_size_problem(spec_text: str) -> str | None:
    """prometheus-operator refuses a PrometheusRule whose rule file would pass half a Secret."""
    size = len(spec_text.encode())
    if size <= kube_names.PROMETHEUS_RULE_MAX_BYTES:
        return None
    return (f"{kube_names.kib(size)} of rules, over prometheus-operator's limit of "
            f"{kube_names.kib(kube_names.PROMETHEUS_RULE_MAX_BYTES)} per PrometheusRule "
            "(it would refuse the object); split the service, or leave out metrics it does not need")


def _credential_problems(config: Any) -> list[str]:
    problems = []
    for key, value in (config.get("global") or {}).items() if isinstance(config, dict) else []:
        if key in CREDENTIALS["global"] and "${" not in str(value):
            problems.append(f"global.{key}: a credential written into the Secret; use a *_file path or ${{NAME}}")
    for receiver in (config.get("receivers") or []) if isinstance(config, dict) else []:
        for kind, fields in CREDENTIALS.items():
            for conf in receiver.get(kind) or []:
                problems += [f"receiver {receiver.get('name')}: {kind}.{f}: a credential written into the Secret; "
                             "use a *_file path or ${NAME}" for f in fields if f in conf and "${" not in str(conf[f])]
    return problems


def _unindent_spec(spec: str) -> str | None:
    """The text under `spec:` as a document of its own, or None if a line is not indented under it."""
    lines = spec.splitlines(keepends=True)
    if any(line.strip() and not line.startswith("  ") for line in lines):
        return None
    return "".join(line[2:] if line.strip() else line for line in lines)


def _same_as(out: Path, rel: str, text: str, view: Callable[[str], str] = lambda s: s) -> str | None:
    """None when output/<rel>, seen through `view`, holds `text` (after its leading comments), or
    does not exist."""
    path = out / rel
    if not path.exists() or body(view(path.read_text(encoding="utf-8"))) == body(text):
        return None
    return f"differs from {rel} (the object must wrap the same artefact; rebuild)"


class Objects:
    id: ClassVar[str] = "kubernetes/objects"
    description: ClassVar[str] = ("Kubernetes objects (names, labels, sizes, kustomization; the same artefacts, "
                                  "with promtool and amtool on what they embed)")
    slow: ClassVar[bool] = False

    def run(self, report: CheckReport) -> None:
        check_kubernetes(report.out, report)


def _merge(report: CheckReport, sub: CheckReport, prefix: str) -> None:
    for problem in sub.failures:
        report.fail(Objects.id, f"{prefix}: {problem}")
    report.stats.setdefault(Objects.id, {}).update({f"{k}, in the {prefix}": v for k, v in sub.checked.items()})


def check_kubernetes(out: Path, report: CheckReport) -> None:
    """Every check of output/kubernetes/ (see the module's docstring). Nothing when it is absent."""
    root = out / DIR
    if not root.exists():
        return
    fail = lambda rel, msg: report.fail(Objects.id, f"{DIR}/{rel}: {msg}")  # noqa: E731
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml"))
    listed: list[str] = []
    if "kustomization.yaml" not in files:
        fail("kustomization.yaml", "missing; run `vigil build`")
    else:
        kustomization = yaml.load((out / KUSTOMIZATION).read_text(encoding="utf-8"), Loader=_Loader) or {}
        listed = list(kustomization.get("resources") or [])
        for rel in sorted(set(files) - set(listed) - {"kustomization.yaml"}):
            fail(rel, "not listed in kustomization.yaml, so a GitOps tool would not apply it")
        for rel in sorted(set(listed) - set(files)):
            fail("kustomization.yaml", f"lists {rel}, which does not exist")
    schemas = os.environ.get(SCHEMAS_ENV)
    counts = {"PrometheusRule": 0, "ConfigMap": 0, "Secret": 0}
    with tempfile.TemporaryDirectory(prefix="vigil-k8s-") as tmp:
        embedded = Path(tmp)
        (embedded / "prometheus" / "rules").mkdir(parents=True)
        for rel in (f for f in files if f != "kustomization.yaml"):
            text = (root / rel).read_text(encoding="utf-8")
            # A PrometheusRule's spec is a whole rule file: parsing it here would cost more than
            # everything else in the check (PyYAML builds Python objects slowly), and promtool
            # parses it anyway. Only the part above `spec:` is read here.
            head, has_spec, spec = text.partition("\nspec:\n")
            try:
                obj = yaml.load(head if has_spec else text, Loader=_Loader)
            except yaml.YAMLError as e:
                fail(rel, f"invalid YAML: {e}")
                continue
            kind = (obj.get("apiVersion"), obj.get("kind")) if isinstance(obj, dict) else None
            if kind not in KINDS:
                fail(rel, f"unexpected apiVersion/kind {kind}")
                continue
            counts[obj["kind"]] += 1
            for p in metadata_problems(obj):
                fail(rel, p)
            if kind[0] == RULE_API:
                rules = _unindent_spec(spec) if has_spec else None
                if rules is None:
                    fail(rel, "no `spec:` with the rule groups indented under it, as vigil writes it; rebuild")
                    continue
                problems = [_rule_size_problem(rules)]
                if schemas:
                    problems += [f"CRD schema: {p}" for p in crd_problems(yaml.load(text, Loader=_Loader), Path(schemas))]
                for p in filter(None, problems):
                    fail(rel, p)
                service = Path(rel).stem
                (embedded / "prometheus" / "rules" / f"{service}.yaml").write_text(rules, encoding="utf-8")
                same = _same_as(out, f"prometheus/rules/{service}.yaml", rules)
            elif obj["kind"] == "ConfigMap":
                same = _check_configmap(out, rel, obj, report, fail)
            else:
                same = _check_secret(out, rel, obj, embedded, fail)
            if same:
                fail(rel, same)
        promtool = CheckReport(out=embedded, cache=report.cache)
        CheckRules().run(promtool)
        _merge(report, promtool, "PrometheusRules")
        if (embedded / CONFIG).exists():
            amtool = CheckReport(out=embedded, cache=report.cache, parsed=report.parsed)
            for unit in (CheckConfig(), RoutesTest()):
                unit.run(amtool)
            _merge(report, amtool, "Alertmanager Secret")
    report.checked[Objects.id] = sum(counts.values())
    if schemas:
        report.stats.setdefault(Objects.id, {})["PrometheusRules validated against the CRD schema"] = counts["PrometheusRule"]


def _check_configmap(out: Path, rel: str, obj: dict[str, Any], report: CheckReport, fail: Any) -> str | None:
    data = obj.get("data") or {}
    if len(data) != 1 or obj.get("binaryData"):
        fail(rel, "a dashboard ConfigMap holds exactly one key, <uid>.json")
        return None
    [(key, text)] = data.items()
    found = kube_names.data_key_problem(key)
    if found:
        fail(rel, found)
    uid = key.removesuffix(".json")
    size = len(str(text).encode())
    if size > kube_names.CONFIGMAP_MAX_BYTES:
        advice = ("it lists every service (about 2 KiB each): set `overview: false` under kubernetes: in vigil.yaml "
                  "and import output/grafana/dashboards/{uid}.json another way" if uid == OVERVIEW_UID
                  else "split the service or leave out metrics it does not need")
        fail(rel, f"dashboard {uid} is {kube_names.kib(size)}, over the 1 MiB a ConfigMap can hold; {advice.format(uid=uid)}")
        return None
    # Client-side `kubectl apply` (and Argo CD's default sync) stores the whole object, compact, in
    # the last-applied-configuration annotation, which may not pass 256 KiB.
    applied = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
    if applied > kube_names.ANNOTATIONS_MAX_BYTES:
        report.warnings.append(
            f"{DIR}/{rel}: dashboard {uid} is {kube_names.kib(applied)} as an object, over the 256 KiB that client-side "
            "`kubectl apply` can record in its last-applied annotation: apply with server-side apply "
            "(`kubectl apply --server-side`; Argo CD sync option ServerSideApply=true; Flux always does)")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        fail(rel, f"{key} is not JSON: {e}")
        return None
    if doc.get("uid") != uid:
        return f"{key} holds dashboard uid {doc.get('uid')!r}"
    path = out / f"grafana/dashboards/{key}"
    if path.exists() and orjson.loads(path.read_bytes()) != doc:
        return f"{key} differs from grafana/dashboards/{key} (the object must wrap the same artefact; rebuild)"
    return None


def _check_secret(out: Path, rel: str, obj: dict[str, Any], embedded: Path, fail: Any) -> str | None:
    data = obj.get("stringData") or {}
    if not str(obj["metadata"].get("name", "")).startswith("alertmanager-") or SECRET_KEY not in data:
        fail(rel, f"the operator reads Secret alertmanager-<name>, key {SECRET_KEY}")
        return None
    text = data[SECRET_KEY]
    try:
        config = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        fail(rel, f"{SECRET_KEY} is not YAML: {e}")
        return None
    for p in _credential_problems(config):
        fail(rel, p)
    (embedded / "alertmanager").mkdir(exist_ok=True)
    (embedded / CONFIG).write_text(text, encoding="utf-8")
    if (out / CASES).exists():
        shutil.copyfile(out / CASES, embedded / CASES)
    return _same_as(out, CONFIG, text, bare)   # the Secret keeps bare ${NAME} for Flux (amrefs.py)
