"""departments.yaml: every mistake gets its exact `file:line: path: message`, before anything renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.build import BuildReport, compile_catalog
from vigil.errors import CatalogError

# Line numbers matter: the tests below assert them.
DEPARTMENTS = """\
defaults: {group_wait: 30s}
time_intervals:
  office-hours: {weekdays: ["monday:friday"], times: ["09:00-18:00"], location: Asia/Seoul}
departments:
  - id: dev
    role: engineering
    channels:
      page: {pagerduty: {routing_key_file: /run/secrets/pd}}
      chat: {slack: {api_url_file: /run/secrets/slack}}
  - id: business
    role: business
    channels: {chat: {email: {to: biz@example.com}}}
    active_hours: office-hours
  - id: operations
    role: operations
    channels: {chat: {webhook: {url: "http://noc.internal/hook"}}}
propagation:
  - {notify: owner, severity: critical, channel: page}
  - {notify: [business], severity: critical, channel: chat, when: {customer_facing: true}}
"""
SHOP = "name: shop\nowner: dev\ntier: 1\ncustomer_facing: true\nselector: {job: shop}\n"
FILE = "catalog/departments.yaml"


def problems(tmp_path: Path, departments: str, shop: str = SHOP) -> list[str]:
    root = tmp_path / "catalog"
    (root / "services").mkdir(parents=True)
    (root / "departments.yaml").write_text(departments)
    (root / "services" / "shop.yaml").write_text(shop)
    try:
        compile_catalog(root, BuildReport())
    except CatalogError as e:
        return [str(p) for p in e.problems]
    return []


def edit(old: str, new: str, text: str = DEPARTMENTS) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_the_base_file_is_valid(tmp_path):
    assert problems(tmp_path, DEPARTMENTS) == []


def test_unknown_department_in_a_policy(tmp_path):
    bad = edit("notify: [business]", "notify: [busines, sales]")
    assert problems(tmp_path, bad) == [
        f"{FILE}:19: propagation[1].notify[0]: unknown department 'busines' (did you mean 'business'?)",
        f"{FILE}:19: propagation[1].notify[1]: unknown department 'sales'",
    ]


def test_unknown_department_as_owner(tmp_path):
    assert problems(tmp_path, DEPARTMENTS, SHOP.replace("owner: dev", "owner: devs")) == [
        "catalog/services/shop.yaml:2: owner: unknown department 'devs' (did you mean 'dev'?)",
    ]


def test_unknown_channel(tmp_path):
    bad = edit("channel: page}", "channel: pager}")
    bad = edit("severity: critical, channel: chat,", "severity: critical, channel: chatt,", bad)
    assert problems(tmp_path, bad) == [
        f"{FILE}:18: propagation[0].channel: department 'dev' owns services but has no channel 'pager'",
        f"{FILE}:19: propagation[1].channel: department 'business' has no channel 'chatt' (it has: chat) (did you mean 'chat'?)",
    ]


SECRET = (
    "a secret must not be written in the catalog; use {field}_file, or a ${{ENV}} reference resolved at deploy time"
)


@pytest.mark.parametrize(
    "old, new, line, path, field",
    [
        (
            "{slack: {api_url_file: /run/secrets/slack}}",
            "{slack: {api_url: 'https://hooks.slack.com/services/T0/B0/x'}}",
            9,
            "departments[0].channels.chat.slack.api_url",
            "api_url",
        ),
        (
            "{pagerduty: {routing_key_file: /run/secrets/pd}}",
            "{pagerduty: {routing_key: 0123456789abcdef0123456789abcdef}}",
            8,
            "departments[0].channels.page.pagerduty.routing_key",
            "routing_key",
        ),
        (
            "{pagerduty: {routing_key_file: /run/secrets/pd}}",
            "{opsgenie: {api_key: 12345678-aaaa-bbbb-cccc-1234567890ab}}",
            8,
            "departments[0].channels.page.opsgenie.api_key",
            "api_key",
        ),
        (
            "{email: {to: biz@example.com}}",
            "{email: {to: biz@example.com, auth_username: biz, auth_password: hunter2}}",
            12,
            "departments[1].channels.chat.email.auth_password",
            "auth_password",
        ),
        (
            "defaults: {group_wait: 30s}",
            "defaults: {group_wait: 30s}\nsmtp: {smarthost: 'mail:587', from: a@b.c, auth_password: hunter2}",
            2,
            "smtp.auth_password",
            "auth_password",
        ),
    ],
)
def test_inline_secret_is_refused(tmp_path, old, new, line, path, field):
    assert problems(tmp_path, edit(old, new)) == [f"{FILE}:{line}: {path}: {SECRET.format(field=field)}"]


@pytest.mark.parametrize(
    "old, new",
    [
        ("{slack: {api_url_file: /run/secrets/slack}}", "{slack: {api_url: '${SLACK_URL}'}}"),
        ("{pagerduty: {routing_key_file: /run/secrets/pd}}", "{pagerduty: {routing_key: '${PD_KEY}'}}"),
        ("{pagerduty: {routing_key_file: /run/secrets/pd}}", "{opsgenie: {api_key_file: /run/secrets/og}}"),
        ("{email: {to: biz@example.com}}", "{email: {to: biz@example.com, auth_password_file: /run/secrets/smtp}}"),
        (
            '{webhook: {url: "http://noc.internal/hook"}}',
            '{webhook: {url: "http://noc.internal/hook?token=${NOC_TOKEN}"}}',
        ),
    ],
)
def test_secrets_from_files_or_env_and_plain_webhook_urls_are_fine(tmp_path, old, new):
    assert problems(tmp_path, edit(old, new)) == []


def test_unknown_time_interval(tmp_path):
    assert problems(tmp_path, edit("active_hours: office-hours", "active_hours: office-hour")) == [
        f"{FILE}:13: departments[1].active_hours: unknown time interval 'office-hour' (did you mean 'office-hours'?); "
        "defined: office-hours",
    ]


def test_bad_time_interval_values(tmp_path):
    bad = edit('times: ["09:00-18:00"], location: Asia/Seoul', 'times: ["18:00-09:00"], location: Asia/Soul')
    assert problems(tmp_path, bad) == [
        f"{FILE}:3: time_intervals.office-hours.location: unknown time zone 'Asia/Soul'; use an IANA name such as Asia/Seoul or Europe/Berlin",
        f"{FILE}:3: time_intervals.office-hours.times[0]: '18:00-09:00' is not a range of the day: HH:MM-HH:MM, start before end, at most 24:00",
    ]


def test_a_channel_must_say_where_it_sends(tmp_path):
    bad = edit("{slack: {api_url_file: /run/secrets/slack}}", "{slack: {channel: '#dev'}}")
    assert problems(tmp_path, bad) == [
        f"{FILE}:9: departments[0].channels.chat.slack: slack needs one of: api_url, api_url_file"
    ]


def test_secret_files_are_absolute_and_env_references_well_formed(tmp_path):
    bad = edit("routing_key_file: /run/secrets/pd", "routing_key_file: secrets/pd")
    bad = edit('url: "http://noc.internal/hook"', 'url: "http://noc.internal/${NOC TOKEN}"', bad)
    assert problems(tmp_path, bad) == [
        f"{FILE}:8: departments[0].channels.page.pagerduty.routing_key_file: 'secrets/pd' must be an absolute path "
        "(Alertmanager reads it when it notifies)",
        f"{FILE}:16: departments[2].channels.chat.webhook.url: malformed ${{ENV}} reference; write ${{NAME}} with letters, digits and '_'",
    ]


def test_fields_newer_than_the_target_alertmanager_say_which_version_they_need(tmp_path):
    bad = edit('{webhook: {url: "http://noc.internal/hook"}}', "{webhook: {url_file: /run/secrets/noc}}")
    bad = edit("{slack: {api_url_file: /run/secrets/slack}}", "{msteams: {webhook_url_file: /run/secrets/teams}}", bad)
    assert problems(tmp_path, bad) == [
        f"{FILE}:9: departments[0].channels.chat.msteams: msteams (Teams Workflows, msteamsv2_configs) needs "
        'Alertmanager 0.28 or later; this catalog targets 0.25 (set alertmanager_version: "0.28" at the top of departments.yaml)',
        f"{FILE}:16: departments[2].channels.chat.webhook.url_file: webhook url_file needs Alertmanager 0.26 or later; "
        'this catalog targets 0.25 (set alertmanager_version: "0.26" at the top of departments.yaml)',
    ]
    assert problems(tmp_path / "newer", 'alertmanager_version: "0.28"\n' + bad) == []


def test_the_target_version_must_be_supported(tmp_path):
    assert problems(tmp_path, 'alertmanager_version: "0.21"\n' + DEPARTMENTS) == [
        f"{FILE}:1: alertmanager_version: vigil generates for Alertmanager 0.25 or later; got 0.21"
    ]


def test_nothing_may_be_dropped_silently(tmp_path):
    no_ops = DEPARTMENTS.replace(
        '  - id: operations\n    role: operations\n    channels: {chat: {webhook: {url: "http://noc.internal/hook"}}}\n',
        "",
    )
    assert problems(tmp_path, no_ops) == [
        f"{FILE}:4: departments: no catch-all receiver: alerts that no propagation line takes would be dropped; "
        "add a department with role operations and a `chat` channel, or set catch_all: {department, channel}"
    ]
    assert problems(tmp_path / "explicit", no_ops + "catch_all: {department: dev, channel: chat}\n") == []
    assert problems(tmp_path / "unknown", no_ops + "catch_all: {department: dev, channel: pager}\n") == [
        f"{FILE}:17: catch_all.channel: department 'dev' has no channel 'pager' (it has: chat, page)"
    ]


def test_the_catch_all_is_told_at_any_hour(tmp_path):
    bad = DEPARTMENTS + "catch_all: {department: business, channel: chat}\n"
    assert problems(tmp_path, bad) == [
        f"{FILE}:13: departments[1].active_hours: 'business' is the catch-all (it hears what no other route takes) "
        "and must be told at any hour; remove active_hours or choose another catch_all"
    ]


def test_owner_is_a_reserved_department_id(tmp_path):
    bad = edit("  - id: business\n", "  - id: owner\n").replace("notify: [business]", "notify: [owner]")
    assert problems(tmp_path, bad) == [
        f"{FILE}:10: departments[1].id: 'owner' is reserved: in propagation it means the service's owning department"
    ]


def test_when_only_matches_attributes_alerts_carry(tmp_path):
    bad = edit("when: {customer_facing: true}", "when: {customer_facing: true, tier: 4, kind: outage}")
    assert problems(tmp_path, bad) == [
        f"{FILE}:19: propagation[1].when.kind: must be one of: threshold, trend, anomaly, absent, slo_burn; got 'outage'",
        f"{FILE}:19: propagation[1].when.tier: must be one of: 1, 2, 3; got 4",
    ]
