"""The generated Alertmanager config and its routing cases, checked with the real amtool."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import require
from vigil import tools
from vigil.build import BuildReport, build, compile_catalog
from vigil.check import CheckReport
from vigil.check import amtool as amtool_checks
from vigil.errors import CheckError
from vigil.render import alertmanager
from vigil.render.alertmanager import CASES, CONFIG
from vigil.render.cache import Cache
from vigil.render.files import Files

pytestmark = pytest.mark.usefixtures("amtool")


@pytest.fixture(scope="module")
def amtool() -> str:
    return require("amtool")


def load(out: Path, rel: str) -> Any:
    return yaml.safe_load((out / rel).read_text())


def routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config["route"]["routes"]


# --- the tree --------------------------------------------------------------------------------------


def test_routes_match_labels_never_services(example_output, example_model):
    config = load(example_output, CONFIG)
    services = {s["name"] for s in example_model["services"]}
    for route in routes(config):
        assert route["continue"] is True, route
        names = {m.split("=")[0].rstrip("!~") for m in route["matchers"]}
        assert names <= {"team", "severity", "customer_facing", "tier", "kind"}, route
        assert not {v for m in route["matchers"] for v in m.split('"')[1].split("|")} & services, route
        assert "routes" not in route and "match" not in route
    # one route per (policy line × department told); `owner` lines → one per owning department
    assert [(r["receiver"], r["matchers"]) for r in routes(config)] == [
        ("commerce-dev/page", ['team="commerce-dev"', 'severity="critical"']),
        ("payments-dev/page", ['team="payments-dev"', 'severity="critical"']),
        ("platform-dev/page", ['team="platform-dev"', 'severity="critical"']),
        ("commerce-dev/chat", ['team="commerce-dev"', 'severity="warning"']),
        ("payments-dev/chat", ['team="payments-dev"', 'severity="warning"']),
        ("platform-dev/chat", ['team="platform-dev"', 'severity="warning"']),
        ("business/chat", ['severity="critical"', 'customer_facing="true"']),
        ("cs/chat", ['severity="critical"', 'customer_facing="true"']),
        ("operations/chat", ['severity="critical"', 'tier="1"']),
    ]


def test_root_is_the_operations_catch_all_grouped_per_incident(example_output):
    root = load(example_output, CONFIG)["route"]
    assert root["receiver"] == "operations/chat"
    assert root["group_by"] == ["alertname", "service", "cluster"]  # cluster: the catalog's extra_labels
    assert (root["group_wait"], root["group_interval"], root["repeat_interval"]) == ("30s", "5m", "4h")


def test_timings_and_hours_come_from_the_catalog(example_output):
    config = load(example_output, CONFIG)
    business = next(r for r in routes(config) if r["receiver"] == "business/chat")
    assert business["active_time_intervals"] == ["office-hours"]
    assert business["repeat_interval"] == "12h"  # the department's override
    assert all("active_time_intervals" not in r for r in routes(config) if r["receiver"] != "business/chat")
    assert config["time_intervals"] == [
        {
            "name": "office-hours",
            "time_intervals": [
                {
                    "weekdays": ["monday:friday"],
                    "times": [{"start_time": "09:00", "end_time": "18:00"}],
                    "location": "Asia/Seoul",
                }
            ],
        }
    ]


def test_one_receiver_per_department_channel_of_its_kind(example_output):
    receivers = {r["name"]: sorted(k for k in r if k != "name") for r in load(example_output, CONFIG)["receivers"]}
    assert receivers == {
        "business/chat": ["email_configs"],
        "commerce-dev/chat": ["slack_configs"],
        "commerce-dev/page": ["pagerduty_configs"],
        "cs/chat": ["webhook_configs"],
        "operations/chat": ["webhook_configs"],
        "payments-dev/chat": ["slack_configs"],
        "payments-dev/page": ["opsgenie_configs"],
        "platform-dev/chat": ["slack_configs"],
        "platform-dev/page": ["pagerduty_configs"],
    }


def test_inhibition(example_output):
    assert load(example_output, CONFIG)["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["service", "key_metric", "cluster"],
        },
        {
            "source_matchers": ['kind="absent"', 'key_metric="up"'],
            "target_matchers": ['key_metric!="up"'],
            "equal": ["service", "cluster"],
        },
        {
            "source_matchers": ['kind="slo_burn"', 'severity="critical"'],
            "target_matchers": ['kind="slo_burn"', 'severity="warning"'],
            "equal": ["service", "slo", "cluster"],
        },
    ]


def test_secrets_stay_references(example_output):
    text = (example_output / CONFIG).read_text()
    assert "url: https://env.invalid/${OPS_NOC_WEBHOOK_URL}" in text  # resolved by deploy, not here
    assert "routing_key_file: /etc/alertmanager/secrets/commerce-pd" in text
    assert "smtp_smarthost: env.invalid:${SMTP_SMARTHOST}" in text  # no mail server in the catalog


def test_env_secrets_pass_the_real_amtool_as_references(catalog_copy):
    root = catalog_copy()
    deps = root / "departments.yaml"
    text = deps.read_text().replace("api_url_file: /etc/alertmanager/secrets/slack", "api_url: '${SLACK_API_URL}'")
    text = text.replace("routing_key_file: /etc/alertmanager/secrets/platform-pd", "routing_key: '${PLATFORM_PD_KEY}'")
    text = text.replace(
        "defaults:",
        "smtp: {smarthost: 'mail.internal:587', from: vigil@example.com, "
        "auth_username: vigil, auth_password: '${SMTP_PASSWORD}'}\ndefaults:",
    )
    deps.write_text(text)
    out = root.parent / "output"
    report = build(root, out)
    assert report.check and report.check.checked["amtool/routes-test"] > 0
    config = (out / CONFIG).read_text()
    for ref in (
        "api_url: https://env.invalid/${SLACK_API_URL}",
        "routing_key: ${PLATFORM_PD_KEY}",
        "smtp_auth_password: ${SMTP_PASSWORD}",
    ):
        assert ref in config


def test_placeholders_have_the_shape_amtool_wants():
    assert amtool_checks.checkable(
        {
            "global": {"smtp_smarthost": "${H}", "smtp_from": "${F}"},
            "receivers": [
                {
                    "webhook_configs": [{"url": "${U}"}, {"url": "http://x/${T}"}],
                    "pagerduty_configs": [{"routing_key": "${K}"}],
                }
            ],
        }
    ) == {
        "global": {"smtp_smarthost": "placeholder.invalid:25", "smtp_from": "placeholder@placeholder.invalid"},
        "receivers": [
            {
                "webhook_configs": [{"url": "http://placeholder.invalid/U"}, {"url": "http://x/placeholder"}],
                "pagerduty_configs": [{"routing_key": "placeholder-K"}],
            }
        ],
    }


# --- the routing cases ------------------------------------------------------------------------------


def real_alerts(out: Path, service: str) -> list[dict[str, str]]:
    doc = load(out, f"prometheus/rules/{service}.yaml")
    return [{**r["labels"], "alertname": r["alert"]} for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_the_alerts_labels_are_those_the_rules_carry(example_output, example_model):
    for service in example_model["services"]:
        key = lambda a: sorted(a.items())
        assert sorted(alertmanager.service_alerts(service), key=key) == sorted(
            real_alerts(example_output, service["name"]), key=key
        )


def test_a_case_for_every_service_and_severity_with_real_labels(example_output, example_model):
    cases = load(example_output, CASES)["cases"]
    for service in example_model["services"]:
        mine = [c for c in cases if c["labels"]["service"] == service["name"]]
        real = real_alerts(example_output, service["name"])
        assert {c["labels"]["severity"] for c in mine} == {"critical", "warning", "info"}
        assert {(a["severity"], a["kind"]) for a in real} == {
            (c["labels"]["severity"], c["labels"]["kind"]) for c in mine if "kind" in c["labels"]
        }
        for case in mine:
            assert case["labels"] in real or "alertname" not in case["labels"], case["name"]


def case(out: Path, name: str) -> list[str]:
    return next(c["receivers"] for c in load(out, CASES)["cases"] if c["name"] == name)


def test_the_cases_state_the_policy(example_output):
    # checkout: commerce-dev, tier 1, customer-facing
    assert case(example_output, "checkout critical threshold (ErrorRatioHigh)") == [
        "commerce-dev/page",
        "business/chat",
        "cs/chat",
        "operations/chat",
    ]
    assert case(example_output, "checkout warning threshold (ErrorRatioHigh)") == ["commerce-dev/chat"]
    assert case(example_output, "checkout info (no such alert yet)") == ["operations/chat"]
    # redis-cache: platform-dev, tier 2, internal: only its owners hear
    assert case(example_output, "redis-cache critical absent (ServiceDown)") == ["platform-dev/page"]


def _render(model: Any) -> Files:
    files = Files(Cache(None))
    alertmanager.render(model, files)
    return files


def broken_copy(example_output: Path, tmp_path: Path, old: str, new: str) -> Path:
    out = tmp_path / "output"
    shutil.copytree(example_output, out)
    text = (out / CONFIG).read_text()
    assert text.count(old) == 1, old
    (out / CONFIG).write_text(text.replace(old, new))
    return out


def check(out: Path) -> list[str]:
    report = CheckReport(out=out)
    for unit in (amtool_checks.CheckConfig(), amtool_checks.RoutesTest()):
        unit.run(report)
    return report.failures


def test_check_passes_on_the_example(example_output):
    assert check(example_output) == []


def test_check_catches_a_hand_edited_route(example_output, tmp_path):
    out = broken_copy(example_output, tmp_path, '- tier="1"', '- tier="2"')
    failures = check(out)
    assert any(
        "routing case 'checkout critical" in f
        and "expected receivers commerce-dev/page,business/chat,cs/chat,"
        "operations/chat, amtool routed to commerce-dev/page,business/chat,cs/chat\n"
        in f
        for f in failures
    ), failures
    assert all(f.startswith("routing case ") for f in failures)


def test_check_catches_an_invalid_config(example_output, tmp_path):
    out = broken_copy(example_output, tmp_path, "receiver: cs/chat\n", "receiver: cs/chatt\n")
    [failure] = check(out)
    assert failure.startswith(f"{CONFIG}:") and 'undefined receiver "cs/chatt"' in failure


def test_build_refuses_a_tree_that_fails_its_own_cases(tmp_path, monkeypatch):
    from conftest import CATALOG

    real = alertmanager.evaluate

    def without_continue(program: str, **tla: Any) -> Any:  # a generator bug: the first route stops the walk
        doc = real(program, **tla)
        if program == "alertmanager.jsonnet":
            doc["route"]["routes"][0]["continue"] = False
        return doc

    monkeypatch.setattr(alertmanager, "evaluate", without_continue)
    out = tmp_path / "output"
    with pytest.raises(CheckError, match="routing case 'catalog-api critical absent"):
        build(CATALOG, out, cache_dir=None)
    assert not out.exists()


def test_newer_targets_render_their_fields_and_an_older_amtool_says_so(catalog_copy, generation):
    root = catalog_copy()
    deps = root / "departments.yaml"
    text = deps.read_text().replace(
        'chat: {webhook: {url: "http://cs-bot.internal/alerts"}}',
        "chat: {msteams: {webhook_url_file: /etc/alertmanager/secrets/teams}}",
    )
    deps.write_text('alertmanager_version: "0.28"\n' + text)
    _, model = compile_catalog(root, BuildReport())
    out = root.parent / "output"
    for rel, body in _render(model).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(body)
    config = load(out, CONFIG)
    assert next(r for r in config["receivers"] if r["name"] == "cs/chat")["msteamsv2_configs"] == [
        {"send_resolved": True, "webhook_url_file": "/etc/alertmanager/secrets/teams"}
    ]
    if generation == "current":  # amtool 0.33 knows msteamsv2 (0.28)
        assert check(out) == []
        return
    assert " 0.25." in tools.version("amtool")
    [failure] = check(out)
    assert "field msteamsv2_configs not found" in failure
    assert "this config is written for Alertmanager 0.28 or later" in failure


# --- scale ------------------------------------------------------------------------------------------


def write_synthetic(root: Path, n: int) -> Path:
    """n services over 4 owning departments, every tier, half customer-facing."""
    (root / "services").mkdir(parents=True)
    (root / "vigil.yaml").write_text("extra_labels: {cluster: synthetic}\n")
    teams = [f"team-{i}" for i in range(4)]
    depts = [
        {
            "id": t,
            "role": "engineering",
            "channels": {
                "page": {"webhook": {"url": f"http://127.0.0.1:9/{t}/page"}},
                "chat": {"webhook": {"url": f"http://127.0.0.1:9/{t}/chat"}},
            },
        }
        for t in teams
    ]
    depts += [
        {
            "id": "business",
            "role": "business",
            "channels": {"chat": {"email": {"to": "biz@example.com"}}},
            "active_hours": "office-hours",
        },
        {"id": "cs", "role": "support", "channels": {"chat": {"webhook": {"url": "http://127.0.0.1:9/cs"}}}},
        {
            "id": "operations",
            "role": "operations",
            "channels": {"chat": {"webhook": {"url": "http://127.0.0.1:9/ops"}}},
        },
    ]
    (root / "departments.yaml").write_text(
        yaml.safe_dump(
            {
                "time_intervals": {"office-hours": {"weekdays": ["monday:friday"], "times": ["09:00-18:00"]}},
                "departments": depts,
                "propagation": [
                    {"notify": "owner", "severity": "critical", "channel": "page"},
                    {"notify": "owner", "severity": "warning", "channel": "chat"},
                    {
                        "notify": ["business", "cs"],
                        "severity": "critical",
                        "channel": "chat",
                        "when": {"customer_facing": True},
                    },
                    {
                        "notify": "operations",
                        "severity": ["critical", "warning"],
                        "channel": "chat",
                        "when": {"tier": [1]},
                    },
                ],
            }
        )
    )
    for i in range(n):
        (root / "services" / f"svc-{i:04d}.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": f"svc-{i:04d}",
                    "owner": teams[i % 4],
                    "tier": 1 + i % 3,
                    "customer_facing": i % 2 == 0,
                    "selector": {"job": f"svc-{i:04d}"},
                }
            )
        )
    return root


def test_route_count_does_not_grow_with_services(tmp_path, capsys):
    counts = {}
    for n in (10, 1000):
        _, model = compile_catalog(write_synthetic(tmp_path / str(n) / "catalog", n), BuildReport())
        out = tmp_path / str(n) / "output"
        for rel, body in _render(model).items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(body)
        config, cases = load(out, CONFIG), load(out, CASES)["cases"]
        assert check(out) == []  # every service's cases, through amtool
        counts[n] = (len(routes(config)), len(config["receivers"]), len(cases))
    with capsys.disabled():
        print(f"\nroutes/receivers/cases: 10 services {counts[10]}, 1000 services {counts[1000]}")
    assert counts[10][:2] == counts[1000][:2] == (4 + 4 + 2 + 1, 4 * 2 + 3)
    assert counts[1000][2] == 1000 * 3  # cases do grow: one per service × severity


def test_the_mail_server_comes_from_the_catalog_or_the_deploy_environment():
    from vigil.catalog.resolve import resolve_departments

    base = {"departments": [{"id": "ops", "role": "operations", "channels": {"chat": {"email": {"to": "a@b.c"}}}}]}
    assert resolve_departments(base)["smtp"] == {"smarthost": "${SMTP_SMARTHOST}", "from": "${SMTP_FROM}"}
    base["departments"][0]["channels"]["chat"]["email"].update({"smarthost": "mail:25", "from": "x@y.z"})
    assert resolve_departments(base)["smtp"] is None  # every email channel names its own
    assert resolve_departments({**base, "smtp": {"smarthost": "m:587"}})["smtp"] == {
        "smarthost": "m:587",
        "from": "${SMTP_FROM}",
    }


def test_the_generated_config_passes_amtool_as_written(example_output, generation):
    """`amtool check-config output/alertmanager/alertmanager.yaml` as a user runs it, placeholders
    and all, on Alertmanager 0.25 and 0.33: whole-value references sit in amtool-valid shapes."""
    result = tools.run("amtool", ["check-config", str(example_output / CONFIG)])
    assert result.ok, result.output
    assert "SUCCESS" in result.output


def test_the_shaped_placeholders_are_needed_and_resolved_by_deploy(example_output, generation, tmp_path):
    """The bare references amtool rejects (the control that makes the test above able to fail),
    and deploy's resolution of the shaped ones to the whole value of their variable."""
    from vigil.deploy import secrets

    text = (example_output / CONFIG).read_text()
    bare = tmp_path / "bare.yaml"
    bare.write_text(text.replace("env.invalid:${SMTP_SMARTHOST}", "${SMTP_SMARTHOST}"))
    rejected = tools.run("amtool", ["check-config", str(bare)])
    assert not rejected.ok and "SMTP_SMARTHOST" in rejected.output
    env = {
        "SMTP_SMARTHOST": "mail.internal:587",
        "SMTP_FROM": "alerts@example.com",
        "OPS_NOC_WEBHOOK_URL": "https://noc.example.com/hook?token=a:b",
    }
    resolved = secrets.resolve(text, env, CONFIG)
    doc = yaml.safe_load(resolved)
    assert doc["global"]["smtp_smarthost"] == "mail.internal:587"
    hooks = [c["url"] for r in doc["receivers"] for c in r.get("webhook_configs", [])]
    assert env["OPS_NOC_WEBHOOK_URL"] in hooks and not any("invalid" in h for h in hooks)
    deployed = tmp_path / "deployed.yaml"
    deployed.write_text(resolved)
    assert tools.run("amtool", ["check-config", str(deployed)]).ok
