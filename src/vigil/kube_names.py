"""Kubernetes' rules for names, labels and sizes, as the API server and prometheus-operator apply them.

One definition for the catalog validation (a catalog that cannot be expressed is refused with its
file and line), the renderer and `vigil check` (which re-checks the objects in output/kubernetes/).
Sources: kubernetes apimachinery `util/validation` (DNS-1123, label syntax), `core/validation`
(ConfigMap keys and the 1 MiB data limit), `api/validation/objectmeta.go` (256 KiB of annotations)
and prometheus-operator `pkg/operator/rules.go` (PrometheusRule content at most half a Secret).
"""

from __future__ import annotations

import re

# Object names (ConfigMap, Secret, custom resources): a DNS-1123 subdomain.
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
SUBDOMAIN_MAX = 253
# Namespaces (and the Helm release and Alertmanager names vigil derives names from): a DNS-1123 label.
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_MAX = 63
# Label values: empty, or alphanumerics with '-', '_', '.' inside; at most 63 characters.
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
# Label and annotation keys: an optional DNS-subdomain prefix and '/', then a name like a value.
_KEY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
# ConfigMap and Secret data keys.
DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")

CONFIGMAP_MAX_BYTES = 1024 * 1024            # core.MaxSecretSize: the sum of a ConfigMap's data values
PROMETHEUS_RULE_MAX_BYTES = CONFIGMAP_MAX_BYTES // 2   # operator: MaxConfigMapDataSize = MaxSecretSize * 0.5
ANNOTATIONS_MAX_BYTES = 256 * 1024           # TotalAnnotationSizeLimitB; client-side apply copies the
                                             # whole object into an annotation, so it caps the object


def name_problem(name: str, what: str = "a Kubernetes object name") -> str | None:
    """Why `name` cannot be a metadata.name (a DNS-1123 subdomain), or None."""
    if len(name) > SUBDOMAIN_MAX:
        return f"{name!r} is {len(name)} characters; {what} has at most {SUBDOMAIN_MAX}"
    if not DNS1123_SUBDOMAIN.fullmatch(name):
        return (f"{name!r} cannot be {what}: lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit (DNS-1123)")
    return None


def dns_label_problem(name: str, what: str) -> str | None:
    """Why `name` cannot be a DNS-1123 label (a namespace, say), or None."""
    if len(name) > LABEL_MAX:
        return f"{name!r} is {len(name)} characters; {what} has at most {LABEL_MAX}"
    if not DNS1123_LABEL.fullmatch(name):
        return (f"{name!r} cannot be {what}: lowercase letters, digits and '-', "
                "starting and ending with a letter or digit (DNS-1123 label)")
    return None


def label_value_problem(value: str, what: str = "a Kubernetes label value") -> str | None:
    """Why `value` cannot be a label value, or None."""
    if len(value) > LABEL_MAX:
        return f"{value!r} is {len(value)} characters; {what} has at most {LABEL_MAX}"
    if not LABEL_VALUE.fullmatch(value):
        return (f"{value!r} cannot be {what}: letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit")
    return None


def key_problem(key: str, what: str = "a label key") -> str | None:
    """Why `key` cannot be a label or annotation key ([prefix/]name), or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > SUBDOMAIN_MAX or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return f"{key!r} cannot be {what}: its prefix {prefix!r} is not a DNS-1123 subdomain"
    if len(name) > LABEL_MAX or not _KEY_NAME.fullmatch(name):
        return (f"{key!r} cannot be {what}: the name after the optional 'prefix/' is at most {LABEL_MAX} "
                "letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
    return None


def data_key_problem(key: str) -> str | None:
    """Why `key` cannot be a ConfigMap or Secret data key, or None."""
    if len(key) > SUBDOMAIN_MAX or not DATA_KEY.fullmatch(key) or key in (".", "..") or key.startswith(".."):
        return f"{key!r} cannot be a ConfigMap/Secret key: at most {SUBDOMAIN_MAX} of [-._a-zA-Z0-9], not starting with '..'"
    return None


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"
