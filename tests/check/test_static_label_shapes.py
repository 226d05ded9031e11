"""Services that differ only in the value of a carried label (tier, customer_facing, an extra
label) share one promtool run; a label that anything reads, or that varies within a service, keeps
them apart (check.promtool.blank_static_labels)."""

from __future__ import annotations

import pytest

from vigil.check.promtool import blank_static_labels, service_shape

RULES = """groups:
- name: vigil-{name}
  rules:
  - record: service:x:ratio
    expr: sum(rate(x_total{{job="{name}"}}[5m]))
    labels:
      cluster: {cluster}
      service: {name}
  - alert: XHigh
    expr: service:x:ratio{{service="{name}"}} > {threshold}
    for: 5m
    labels:
      cluster: {cluster}
      customer_facing: "{cf}"
      service: {name}
      severity: critical
      team: {team}
      tier: "{tier}"
    annotations:
      summary: "{name}: x above {threshold}"
"""

TEST = """rule_files:
- ../rules/{name}.yaml
evaluation_interval: 1m
tests:
- name: x critical
  interval: 1m
  input_series:
  - series: x_total{{job="{name}"}}
    values: 0+1x20
  alert_rule_test:
  - eval_time: 20m
    alertname: XHigh
    exp_alerts:
    - exp_labels:
        cluster: {cluster}
        customer_facing: "{cf}"
        service: {name}
        severity: critical
        team: {team}
        tier: "{expected_tier}"
      exp_annotations:
        summary: "{name}: x above {threshold}"
"""


def shape(name: str = "svc-a", *, rules: str = RULES, **fields: object) -> str:
    values = {"cluster": "eu-1", "cf": "true", "team": "team-00", "tier": 1, "threshold": 0.03, **fields}
    values.setdefault("expected_tier", values["tier"])
    return service_shape(name, TEST.format(name=name, **values), rules.format(name=name, **values))


def test_services_differing_in_carried_labels_share_a_shape():
    assert shape("svc-a") == shape("svc-b", tier=2, cf="false", cluster="us-2", team="team-07")


def test_a_different_threshold_is_a_different_shape():
    assert shape("svc-a") != shape("svc-b", threshold=0.04)


def test_a_test_expecting_another_value_than_its_rule_is_a_different_shape():
    """A test that would fail (it expects tier 2 of a rule that says 1) never joins one that passes."""
    assert shape("svc-a") != shape("svc-b", expected_tier=2)


@pytest.mark.parametrize(
    "reads",
    [
        'service:x:ratio{{service="{name}",tier="{tier}"}}',  # a matcher
        "max by (tier) (service:x:ratio)",
    ],
)
def test_a_label_an_expression_reads_is_not_blanked(reads):
    rules = RULES.replace('service:x:ratio{{service="{name}"}}', reads)
    assert shape("svc-a", rules=rules) != shape("svc-b", rules=rules, tier=2)


def test_a_label_read_by_a_template_is_not_blanked():
    rules = RULES.replace('summary: "{name}: x above {threshold}"', 'summary: "{{{{ $labels.tier }}}} {name}"')
    assert shape("svc-a", rules=rules) != shape("svc-b", rules=rules, tier=2)


def test_a_label_with_two_values_in_one_service_is_not_blanked():
    two = RULES.replace(
        "      cluster: {cluster}\n      service: {name}\n  - alert",
        "      cluster: other\n      service: {name}\n  - alert",
    )
    assert (
        blank_static_labels(two.format(name="a", cluster="eu-1", cf="true", team="t", tier=1, threshold=1)).count(
            " cluster: other\n"
        )
        == 1
    )
    assert shape("svc-a", rules=two) != shape("svc-b", rules=two, cluster="us-2")


def test_a_label_named_like_a_key_promtool_reads_is_not_blanked():
    """A label called `interval` shares its lines with the tests' `interval: 1m`, which promtool
    reads: such a label keeps services apart."""
    rules = RULES.replace("      tier:", "      interval: {interval}\n      tier:")
    assert shape("svc-a", rules=rules, interval="1m") != shape("svc-b", rules=rules, interval="2m")
