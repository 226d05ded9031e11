"""The Kubernetes target: the rendered artefacts wrapped as the objects kube-prometheus-stack reads.

With `kubernetes:` in vigil.yaml, `output/kubernetes/` holds
- `prometheusrules/<service>.yaml`: a PrometheusRule (monitoring.coreos.com/v1) per service, its
  spec the very text of output/prometheus/rules/<service>.yaml, indented; labelled for the
  Prometheus ruleSelector (`release: <release>` by default);
- `dashboards/<uid>.yaml`: a ConfigMap per dashboard, its one key `<uid>.json` the lines of
  output/grafana/dashboards/<uid>.json without their indentation (see unindented()), labelled for
  the Grafana sidecar and annotated with the department's folder; the overview too, unless
  `overview: false`;
- `alertmanager-secret.yaml`: the Secret the operator reads (`alertmanager-<name>`, key
  `alertmanager.yaml`), the text of output/alertmanager/alertmanager.yaml with its secrets still
  as `*_file` paths and `${NAME}` references;
- `kustomization.yaml`: every object above, and the namespace.

The objects wrap text that is already rendered and checked, so nothing is rendered twice and the
embedded rules cannot drift from the files. Long texts go in YAML literal blocks: a reviewer's diff
of a ConfigMap shows the changed dashboard lines, not one changed line of 50 KB.
The limits (512 KiB per PrometheusRule, 1 MiB per ConfigMap, 256 KiB for client-side apply) are
checked by vigil.check.kubernetes, in every build and in `vigil check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vigil.amrefs import bare
from vigil.layout import ALERTMANAGER_CONFIG, KUBERNETES_DIR
from vigil.layout import DASHBOARDS_DIR as GRAFANA_DASHBOARDS_DIR
from vigil.model import Model
from vigil.render import yamlout
from vigil.render.serialise import HEADER, Artefacts

DIR = KUBERNETES_DIR
RULES_DIR = f"{DIR}/prometheusrules"
DASHBOARDS_DIR = f"{DIR}/dashboards"
SECRET = f"{DIR}/alertmanager-secret.yaml"
KUSTOMIZATION = f"{DIR}/kustomization.yaml"
SECRET_KEY = "alertmanager.yaml"   # the key prometheus-operator reads (alertmanagerConfigFile)
RULE_API = "monitoring.coreos.com/v1"
SERVICE_LABEL = "vigil.dev/service"
TEAM_LABEL = "vigil.dev/team"

# Kubernetes' conventional order: what an object is, then its metadata, then its content.
_FIRST = ("apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations", "type")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Flux's post-build substitution replaces every ${name} in what it applies, an unknown one with
# nothing: dashboards read `${datasource}`. Only the Secret's ${NAME} references are meant for it.
NO_SUBSTITUTION = {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}
_LINE_START = re.compile(r"^(?=.)", re.M)   # the start of a non-empty line ('.' is never '\n')
_INDENTATION = re.compile(r"\n +")


def rule_name(service: str) -> str:
    return f"vigil-{service}"


def _head(obj: dict[str, Any]) -> str:
    return HEADER + yamlout.dump(obj, first=_FIRST)


def literal(text: str, indent: str) -> str:
    """`text` as the value after a key: a literal block (`|`) when YAML reads it back unchanged,
    else a double-quoted scalar. Generated JSON and YAML always qualify: their control characters
    are escaped inside their own strings, so every line is printable."""
    if (text.endswith("\n") and not text.endswith("\n\n") and text[:1] not in (" ", "\n", "")
            and text.replace("\n", "").isprintable()):
        return "|\n" + indented(text, indent)
    return yamlout.scalar(text) + "\n"


def indented(text: str, indent: str) -> str:
    """Every non-empty line of `text` indented. A thousand dashboards are millions of lines: without
    empty lines (generated JSON and YAML have none) a plain replace does it, 4x faster than the regex."""
    if "\n\n" in text or not text.endswith("\n"):
        return _LINE_START.sub(indent, text)
    return indent + text[:-1].replace("\n", "\n" + indent) + "\n"


def body(text: str) -> str:
    """A generated YAML file without its leading comment lines."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def prometheus_rule(k8s: dict[str, Any], service: dict[str, Any], rules_text: str) -> str:
    """The PrometheusRule of one service. Its spec is the rule file's own text indented under
    `spec:` (vigil's YAML has no multi-line scalars, so indenting each line keeps the meaning)."""
    labels = {**k8s["labels"], **k8s["rule_labels"], SERVICE_LABEL: service["name"], TEAM_LABEL: service["owner"]}
    head = _head({"apiVersion": RULE_API, "kind": "PrometheusRule",
                  "metadata": {"name": rule_name(service["name"]), "namespace": k8s["namespace"], "labels": labels,
                               "annotations": NO_SUBSTITUTION}})
    return head + "spec:\n" + indented(body(rules_text), "  ")


def unindented(text: str) -> str:
    """Indented JSON without its indentation: the same document, one token per line as before (so
    diffs stay line by line), but about half the bytes, which is what a ConfigMap (1 MiB) and
    client-side apply (256 KiB) count. JSON strings hold no raw newline, so the spaces that start
    a line are always indentation, never part of a string."""
    return _INDENTATION.sub("\n", text.lstrip(" "))


def dashboard_configmap(k8s: dict[str, Any], uid: str, text: str, service: dict[str, Any] | None) -> str:
    """The ConfigMap the Grafana sidecar turns into a dashboard: one key `<uid>.json`. A service's
    dashboard carries its department's folder title in the folder annotation; the overview has
    none, so it lands in the provider's folder (General by default)."""
    labels = {**k8s["labels"], **k8s["dashboard_labels"]}
    metadata: dict[str, Any] = {"name": uid, "namespace": k8s["namespace"], "annotations": dict(NO_SUBSTITUTION)}
    if service is not None:
        labels.update({SERVICE_LABEL: service["name"], TEAM_LABEL: service["owner"]})
        metadata["annotations"][k8s["folder_annotation"]] = service["dashboard"]["folder_title"]
    metadata["labels"] = labels
    head = _head({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata})
    return head + f"data:\n  {uid}.json: " + literal(unindented(text), "    ")


def alertmanager_secret(k8s: dict[str, Any], text: str) -> str:
    """The Secret prometheus-operator reads by default for the Alertmanager `k8s["alertmanager"]`.
    `stringData`, not base64 `data`: it holds no secret value (only *_file paths and ${NAME}
    references), so reviewers can read its diff, and Flux's post-build substitution can fill the
    ${NAME} references, which it could not inside base64."""
    head = _head({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": {"name": k8s["alertmanager_secret"], "namespace": k8s["namespace"], "labels": k8s["labels"]}})
    return head + f"stringData:\n  {SECRET_KEY}: " + literal(text, "    ")


def render(model: Model, artefacts: Mapping[str, str]) -> tuple[Artefacts, list[str]]:
    """output/kubernetes/ from the artefacts already rendered, and the build's warnings about it."""
    k8s = model["kubernetes"]
    out: Artefacts = {}
    by_uid = {s["dashboard"]["uid"]: s for s in model["services"]}
    for service in model["services"]:
        rules = artefacts.get(f"prometheus/rules/{service['name']}.yaml")
        if rules is not None:
            out[f"{RULES_DIR}/{service['name']}.yaml"] = prometheus_rule(k8s, service, rules)  # type: ignore[arg-type]
    prefix = GRAFANA_DASHBOARDS_DIR + "/"
    for path in sorted(p for p in artefacts if p.startswith(prefix) and p.endswith(".json")):
        uid = path[len(prefix):-len(".json")]
        if uid not in by_uid and not k8s["overview"]:
            continue   # the overview, left out on request: it grows with every service
        out[f"{DASHBOARDS_DIR}/{uid}.yaml"] = dashboard_configmap(k8s, uid, artefacts[path], by_uid.get(uid))  # type: ignore[arg-type]
    warnings: list[str] = []
    if ALERTMANAGER_CONFIG in artefacts:
        # Flux substitutes ${NAME} in place, so the Secret keeps the bare references (amrefs.py).
        text = bare(artefacts[ALERTMANAGER_CONFIG])
        out[SECRET] = alertmanager_secret(k8s, text)
        names = sorted(set(_ENV.findall(body(text))))
        if names:
            warnings.append(
                f"{SECRET}: the references {', '.join('${' + n + '}' for n in names)} stay in the Secret as "
                "written, and Alertmanager does not expand them: have your GitOps tool substitute them (Flux: "
                "postBuild.substituteFrom), or use *_file paths to Secrets mounted through "
                "alertmanagerSpec.secrets (docs/kubernetes.md)")
    resources = sorted(path[len(DIR) + 1:] for path in out)
    out[KUSTOMIZATION] = HEADER + yamlout.dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                                "namespace": k8s["namespace"], "resources": resources}, first=_FIRST)
    return out, warnings
