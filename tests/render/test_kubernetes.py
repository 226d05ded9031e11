"""output/kubernetes/: the objects kube-prometheus-stack reads, validated against the upstream CRD
schemas (../shared/k8s-schemas/ when present), wrapping the very artefacts of the file outputs, and
checked with the real promtool and amtool."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.small_catalog import write_catalog
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from vigil import kube_names
from vigil.amrefs import bare
from vigil.build import build
from vigil.catalog.kubernetes import chart_fullname, default_alertmanager
from vigil.catalog.load import load_catalog
from vigil.catalog.validate import validate
from vigil.check import CheckReport, check_output
from vigil.check.kubernetes import check_kubernetes, crd_problems, metadata_problems
from vigil.errors import CatalogError, CheckError
from vigil.render import kubernetes

CASE = Path(__file__).parents[1] / "testdata" / "in-kubernetes"
SCHEMAS = SHARED / "k8s-schemas"
needs_schemas = pytest.mark.skipif(
    not (SCHEMAS / "prometheusrule.v1.schema.json").exists(),
    reason="no ../shared/k8s-schemas (the upstream CRD schemas)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kubernetes case built without checks (the tests below run them, per tool generation)."""
    out = tmp_path_factory.mktemp("k8s") / "output"
    build(CASE, out, run_checks=False)
    return out


@pytest.fixture
def out(built: Path, tmp_path: Path) -> Path:
    """A writable copy of the built output, for tests that break it."""
    dest = tmp_path / "output"
    shutil.copytree(built, dest)
    return dest


def objects(out: Path) -> dict[str, Any]:
    return {
        p.relative_to(out / "kubernetes").as_posix(): yaml.safe_load(p.read_text())
        for p in sorted((out / "kubernetes").rglob("*.yaml"))
    }


# --- what is generated ------------------------------------------------------------------------


def test_one_object_per_service_dashboard_and_the_alertmanager_in_a_kustomization(built: Path) -> None:
    objs = objects(built)
    assert sorted(objs) == [
        "alertmanager-secret.yaml",
        "dashboards/vigil-cache.yaml",
        "dashboards/vigil-overview.yaml",
        "dashboards/vigil-queue.yaml",
        "kustomization.yaml",
        "prometheusrules/cache.yaml",
        "prometheusrules/queue.yaml",
    ]
    kustomization = objs.pop("kustomization.yaml")
    assert kustomization["namespace"] == "monitoring"
    assert kustomization["resources"] == sorted(objs)
    assert {o["metadata"]["namespace"] for o in objs.values()} == {"monitoring"}
    assert all(o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "vigil" for o in objs.values())
    assert all(metadata_problems(o) == [] for o in objs.values())


def test_objects_are_byte_identical_across_builds_and_from_the_cache(built: Path, tmp_path: Path) -> None:
    tree = lambda root: {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "kubernetes").rglob("*.yaml"))
    }
    assert len(tree(built)) == 7
    for name in ("first", "cached"):  # the second renders every service from the cache the first filled
        build(CASE, tmp_path / name, run_checks=False, cache_dir=tmp_path / "cache")
        assert tree(tmp_path / name) == tree(built)


@needs_schemas
def test_every_prometheusrule_validates_against_the_upstream_crd_schema(built: Path) -> None:
    rules = {rel: o for rel, o in objects(built).items() if rel.startswith("prometheusrules/")}
    assert len(rules) == 2
    for rel, obj in rules.items():
        assert (obj["apiVersion"], obj["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
        assert crd_problems(obj, SCHEMAS) == [], rel


@needs_schemas
def test_the_schema_check_can_fail(built: Path) -> None:
    """The CRD schema is really applied: a number where it wants a duration string is refused."""
    obj = objects(built)["prometheusrules/cache.yaml"]
    obj["spec"]["groups"][0]["rules"][-1]["for"] = 5
    assert any("is not of type 'string'" in p for p in crd_problems(obj, SCHEMAS))


def test_the_rules_inside_each_prometheusrule_are_the_rule_files(built: Path) -> None:
    files = sorted((built / "prometheus" / "rules").glob("*.yaml"))
    assert len(files) == 2
    for path in files:
        obj = yaml.safe_load((built / "kubernetes" / "prometheusrules" / path.name).read_text())
        assert obj["spec"] == yaml.safe_load(path.read_text())
        assert obj["metadata"]["name"] == f"vigil-{path.stem}"
        # What kube-prometheus-stack's Prometheus selects on (release `monitoring`), and what a person filters by.
        assert obj["metadata"]["labels"]["release"] == "monitoring"
        assert obj["metadata"]["labels"]["vigil.dev/service"] == path.stem


def test_each_dashboard_configmap_holds_the_dashboard_file_in_its_department_folder(built: Path) -> None:
    folders = json.loads((built / "grafana" / "folders.json").read_text())
    folder_of = {uid: f["title"] for f in folders["folders"] for uid in f["dashboards"]}
    files = sorted((built / "grafana" / "dashboards").glob("*.json"))
    assert len(files) == 3
    for path in files:
        obj = yaml.safe_load((built / "kubernetes" / "dashboards" / f"{path.stem}.yaml").read_text())
        # The file's lines without their indentation (the literal block reads back exactly): the same dashboard.
        assert obj["data"] == {path.name: kubernetes.unindented(path.read_text())}
        assert json.loads(obj["data"][path.name]) == json.loads(path.read_text())
        assert obj["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert (obj["metadata"].get("annotations") or {}).get("grafana_folder") == folder_of.get(path.stem)
        assert obj["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"] == "disabled"  # ${datasource}
    overview = yaml.safe_load((built / "kubernetes" / "dashboards" / "vigil-overview.yaml").read_text())
    assert "grafana_folder" not in overview["metadata"]["annotations"]  # the provider's folder (General)


def test_the_alertmanager_secret_is_the_config_with_its_secrets_still_references(built: Path) -> None:
    obj = objects(built)["alertmanager-secret.yaml"]
    assert obj["metadata"]["name"] == "alertmanager-monitoring-kube-prometheus-alertmanager"
    text = (built / "alertmanager" / "alertmanager.yaml").read_text()
    assert obj["stringData"] == {"alertmanager.yaml": bare(text)}  # Flux substitutes bare ${NAME} in place
    config = yaml.safe_load(obj["stringData"]["alertmanager.yaml"])
    slack = [c for r in config["receivers"] for c in r.get("slack_configs") or []]
    pagerduty = [c for r in config["receivers"] for c in r.get("pagerduty_configs") or []]
    assert [c["api_url"] for c in slack] == ["${SLACK_URL}"]
    assert [c["routing_key_file"] for c in pagerduty] == ["/etc/am/platform-pd"]


def test_defaults_follow_kube_prometheus_stack(tmp_path: Path) -> None:
    """Only a namespace: release kube-prometheus-stack, its ruleSelector label, sidecar label, Secret."""
    catalog = write_catalog(tmp_path / "catalog", extra={"vigil.yaml": "kubernetes: {namespace: monitoring}\n"})
    build(catalog, tmp_path / "out", run_checks=False)
    objs = objects(tmp_path / "out")
    assert objs["prometheusrules/checkout.yaml"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert objs["dashboards/vigil-checkout.yaml"]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert objs["alertmanager-secret.yaml"]["metadata"]["name"] == "alertmanager-kube-prometheus-stack-alertmanager"


@pytest.mark.parametrize(
    "release, fullname",
    [
        ("monitoring", "monitoring-kube-prometheus"),  # the chart README's example, trunc 26
        ("kube-prometheus-stack", "kube-prometheus-stack"),  # contains the chart name: used alone
        ("prod-kube-prometheus-stack-eu", "prod-kube-prometheus-stack"),  # ... and truncated to 26
        ("abcdefghijklm", "abcdefghijklm-kube-prometh"),
        ("abcdefghijklmnopqrstuvwxy", "abcdefghijklmnopqrstuvwxy"),  # 26th character '-' is trimmed
    ],
)
def test_the_alertmanager_name_is_derived_as_the_chart_does(release: str, fullname: str) -> None:
    assert chart_fullname(release) == fullname
    assert default_alertmanager(release) == f"{fullname}-alertmanager"


@pytest.mark.parametrize(
    "text",
    [
        '{\n  "a": 1\n}\n',
        "x\n\n  y\n",
        " leading space\n",
        "tab\there\n",
        "no newline",
        "two newlines\n\n",
        '# a comment\nkey: "v"\n',
        "é ü 한글\n",
        "nel\x85line\n",
    ],
)
def test_literal_blocks_read_back_exactly(text: str) -> None:
    assert yaml.safe_load("key: " + kubernetes.literal(text, "  "))["key"] == text


@given(st.text())
@settings(max_examples=300)
def test_any_text_reads_back_exactly(text: str) -> None:
    assert yaml.safe_load("key: " + kubernetes.literal(text, "    "))["key"] == text


@given(st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1), min_size=1))
@settings(max_examples=300)
def test_lines_read_back_exactly_from_a_literal_block(lines: list[str]) -> None:
    """The common case, generated text in lines (the fast path of indented())."""
    text = "\n".join(lines) + "\n"
    assert yaml.safe_load("key: " + kubernetes.literal(text, "    "))["key"] == text


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(_json)
@settings(max_examples=300)
def test_unindented_json_is_the_same_document(doc: Any) -> None:
    assert json.loads(kubernetes.unindented(json.dumps(doc, indent=2, ensure_ascii=False))) == doc


# --- the checks, with the real tools ------------------------------------------------------------


def test_vigil_check_runs_promtool_and_amtool_on_the_embedded_artefacts(out: Path, generation: str) -> None:
    report = check_output(out, tests=False)
    stats = report.stats["kubernetes/objects"]
    assert stats["promtool/check-rules, in the PrometheusRules"] == 2
    assert stats["amtool/check-config, in the Alertmanager Secret"] == 1
    assert stats["amtool/routes-test, in the Alertmanager Secret"] == 14
    assert report.checked["kubernetes/objects"] == 6


def test_broken_rules_inside_a_prometheusrule_fail_promtool(out: Path, generation: str) -> None:
    path = out / "kubernetes" / "prometheusrules" / "queue.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "expr: sum(rate(rabbitmq_global_messages_received_total",
            "expr: sum(rate(rabbitmq_global_messages_received_total{",
            1,
        )
    )
    with pytest.raises(CheckError) as e:
        check_output(out, tests=False)
    assert "PrometheusRules: Checking " in str(e.value) and "could not parse expression" in str(e.value)
    assert "kubernetes/prometheusrules/queue.yaml: differs from prometheus/rules/queue.yaml" in str(e.value)


def test_a_broken_alertmanager_secret_fails_amtool(out: Path, generation: str) -> None:
    path = out / "kubernetes" / "alertmanager-secret.yaml"
    path.write_text(path.read_text().replace("receiver: ops/chat", "receiver: nobody", 1))
    with pytest.raises(CheckError) as e:
        check_output(out, tests=False)
    assert "Alertmanager Secret: alertmanager/alertmanager.yaml:" in str(e.value)


def test_a_credential_written_into_the_secret_is_refused(out: Path) -> None:
    path = out / "kubernetes" / "alertmanager-secret.yaml"
    path.write_text(
        path.read_text().replace("api_url: ${SLACK_URL}", "api_url: https://hooks.slack.com/services/T0/B0/xyz", 1)
    )
    report = CheckReport(out=out)
    check_kubernetes(out, report)
    assert any("slack_configs.api_url: a credential written into the Secret" in f for f in report.failures)


def _replace_dashboard(out: Path, uid: str, size: int) -> None:
    """Pad a dashboard to `size` bytes and wrap it again, as a build of a huge service would."""
    path = out / "grafana" / "dashboards" / f"{uid}.json"
    doc = json.loads(path.read_text())
    text = json.dumps({**doc, "description": ""}, indent=2, sort_keys=True) + "\n"
    doc["description"] = "x" * (size - len(kubernetes.unindented(text)))
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    path.write_text(text)
    model_k8s = {
        "namespace": "monitoring",
        "labels": {},
        "dashboard_labels": {"grafana_dashboard": "1"},
        "folder_annotation": "grafana_folder",
    }
    service = (
        {"name": "cache", "owner": "platform", "dashboard": {"folder_title": "platform"}}
        if uid != "vigil-overview"
        else None
    )
    (out / "kubernetes" / "dashboards" / f"{uid}.yaml").write_text(
        kubernetes.dashboard_configmap(model_k8s, uid, text, service)
    )


def test_a_dashboard_over_1_mib_is_refused_by_name(out: Path) -> None:
    _replace_dashboard(out, "vigil-cache", kube_names.CONFIGMAP_MAX_BYTES + 1)
    report = CheckReport(out=out)
    check_kubernetes(out, report)
    assert report.failures == [
        "kubernetes/dashboards/vigil-cache.yaml: dashboard vigil-cache is 1024.0 KiB, over the 1 MiB "
        "a ConfigMap can hold; split the service or leave out metrics it does not need"
    ]


def test_an_overview_over_1_mib_is_refused_with_the_setting_that_leaves_it_out(out: Path) -> None:
    _replace_dashboard(out, "vigil-overview", kube_names.CONFIGMAP_MAX_BYTES + 1)
    report = CheckReport(out=out)
    check_kubernetes(out, report)
    assert report.failures == [
        "kubernetes/dashboards/vigil-overview.yaml: dashboard vigil-overview is 1024.0 KiB, over the "
        "1 MiB a ConfigMap can hold; it lists every service (about 2 KiB each): set `overview: false` "
        "under kubernetes: in vigil.yaml and import output/grafana/dashboards/vigil-overview.json another way"
    ]


def test_overview_false_leaves_the_overview_out(tmp_path: Path) -> None:
    catalog = write_catalog(
        tmp_path / "c", extra={"vigil.yaml": "kubernetes: {namespace: monitoring, overview: false}\n"}
    )
    build(catalog, tmp_path / "out", run_checks=False)
    assert sorted(objects(tmp_path / "out")) == [
        "alertmanager-secret.yaml",
        "dashboards/vigil-checkout.yaml",
        "dashboards/vigil-redis-cache.yaml",
        "kustomization.yaml",
        "prometheusrules/checkout.yaml",
        "prometheusrules/redis-cache.yaml",
    ]
    assert (tmp_path / "out" / "grafana" / "dashboards" / "vigil-overview.json").exists()


def test_a_build_with_a_dashboard_over_1_mib_is_refused_and_writes_nothing(tmp_path: Path, generation: str) -> None:
    """End to end: 300 key metrics, each with a long description (only the dashboard shows it):
    a dashboard of about 1.2 MiB, while the rules stay far below the PrometheusRule limit."""
    catalog = write_catalog(tmp_path / "c", extra={"vigil.yaml": "kubernetes: {namespace: monitoring}\n"})
    words = "Explains the metric at length. " * 100
    metrics = "".join(
        f"  m{i:03d}: {{title: Metric {i}, expr: 'sum(rate(x{i}_total{{$selector}}[5m]))', "
        f"description: '{words}', unit: per_second, critical: 100}}\n"
        for i in range(300)
    )
    (catalog / "services" / "huge.yaml").write_text(
        f"name: huge\nowner: commerce-dev\nselector: {{job: huge}}\nmetrics:\n{metrics}"
    )
    with pytest.raises(CheckError) as e:
        build(catalog, tmp_path / "out")
    assert "kubernetes/dashboards/vigil-huge.yaml: dashboard vigil-huge is " in str(e.value)
    assert "over the 1 MiB a ConfigMap can hold" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_a_dashboard_over_256_kib_warns_to_apply_server_side(out: Path) -> None:
    _replace_dashboard(out, "vigil-cache", 300 * 1024)
    report = CheckReport(out=out)
    check_kubernetes(out, report)
    assert report.failures == []
    [warning] = report.warnings
    assert warning.startswith("kubernetes/dashboards/vigil-cache.yaml: dashboard vigil-cache is ")
    assert "kubectl apply --server-side" in warning and "ServerSideApply=true" in warning


def test_a_prometheusrule_over_512_kib_is_refused(out: Path) -> None:
    path = out / "kubernetes" / "prometheusrules" / "cache.yaml"
    padding = "x" * (kube_names.PROMETHEUS_RULE_MAX_BYTES)
    path.write_text(path.read_text().replace('summary: "', f'summary: "{padding}', 1))
    report = CheckReport(out=out)
    check_kubernetes(out, report)
    assert any(
        f.startswith("kubernetes/prometheusrules/cache.yaml: ") and "over prometheus-operator's limit of 512.0 KiB" in f
        for f in report.failures
    )


def test_an_object_missing_from_the_kustomization_is_reported(out: Path) -> None:
    (out / "kubernetes" / "dashboards" / "vigil-extra.yaml").write_text(
        (out / "kubernetes" / "dashboards" / "vigil-cache.yaml").read_text()
    )
    report = CheckReport(out=out)
    check_kubernetes(out, report)
    assert (
        "kubernetes/dashboards/vigil-extra.yaml: not listed in kustomization.yaml, so a GitOps tool would not apply it"
        in report.failures
    )


# --- a catalog that cannot be expressed is refused, with file and line -------------------------


def problems(catalog: Path) -> list[str]:
    with pytest.raises(CatalogError) as e:
        validate(load_catalog(catalog))
    return [str(p) for p in e.value.problems]


def test_an_over_long_owner_id_is_refused(tmp_path: Path) -> None:
    long_id = "commerce-" + "x" * 60
    catalog = write_catalog(tmp_path / "c", extra={"vigil.yaml": "kubernetes: {namespace: monitoring}\n"})
    for name in ("departments.yaml", "services/checkout.yaml", "services/redis-cache.yaml"):
        (catalog / name).write_text((catalog / name).read_text().replace("commerce-dev", long_id))
    assert problems(catalog) == [
        f"c/departments.yaml:2: departments[0].id: {long_id!r} is 69 characters; the id of a department that owns "
        "services (it becomes the vigil.dev/team label) has at most 63"
    ]
    (catalog / "vigil.yaml").unlink()  # without kubernetes: the same catalog is fine
    validate(load_catalog(catalog))


def test_settings_that_are_not_kubernetes_names_are_refused(tmp_path: Path) -> None:
    catalog = write_catalog(
        tmp_path / "c",
        extra={
            "vigil.yaml": (
                "grafana_url: http://grafana\n"
                "kubernetes:\n"
                "  namespace: Monitoring\n"
                "  release: " + "r" * 54 + "\n"
                "  rule_labels: {release: has space}\n"
            )
        },
    )
    assert problems(catalog) == [
        "c/vigil.yaml:3: kubernetes.namespace: 'Monitoring' is not a DNS-1123 label: lowercase letters, digits and '-', "
        "starting and ending with a letter or digit",
        f"c/vigil.yaml:4: kubernetes.release: '{'r' * 54}' is too long",
        "c/vigil.yaml:5: kubernetes.rule_labels.release: 'has space' is not a Kubernetes label value: letters, digits, "
        "'-', '_' and '.', starting and ending with a letter or digit",
    ]


def test_a_service_name_that_cannot_be_a_label_value_is_refused(tmp_path: Path) -> None:
    catalog = write_catalog(
        tmp_path / "c",
        extra={
            "vigil.yaml": "kubernetes: {namespace: monitoring}\n",
            "services/edge-.yaml": "name: edge-\nowner: commerce-dev\nselector: {job: edge}\n",
        },
    )
    assert problems(catalog) == [
        "c/services/edge-.yaml:1: name: 'edge-' cannot be a service name with kubernetes: on (it becomes a label value): "
        "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    ]


def test_a_folder_title_with_a_slash_is_refused(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c", extra={"vigil.yaml": "kubernetes: {namespace: monitoring}\n"})
    departments = catalog / "departments.yaml"
    departments.write_text(
        departments.read_text().replace("  - id: commerce-dev\n", "  - id: commerce-dev\n    name: Commerce / web\n")
    )
    [problem] = problems(catalog)
    assert problem.startswith(
        "c/departments.yaml:3: departments[0].name: 'Commerce / web' is a department's dashboard folder"
    )


def test_a_secret_value_in_the_catalog_is_refused_and_never_reaches_output(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c", extra={"vigil.yaml": "kubernetes: {namespace: monitoring}\n"})
    departments = catalog / "departments.yaml"
    departments.write_text(
        departments.read_text().replace(
            'page: {webhook: {url: "http://pager"}}',
            'page: {pagerduty: {routing_key: "0123456789abcdef0123456789abcdef"}}',
        )
    )
    with pytest.raises(CatalogError) as e:
        build(catalog, tmp_path / "out", run_checks=False)
    assert str(e.value) == (
        "c/departments.yaml:4: departments[0].channels.page.pagerduty.routing_key: a secret must not be "
        "written in the catalog; use routing_key_file, or a ${ENV} reference resolved at deploy time"
    )
    assert not (tmp_path / "out").exists()
