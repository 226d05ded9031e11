"""Postmortems beside the catalog: front matter validation at the .md file's lines, search by each
filter, stats (medians, customer-first counts), and the page's bytes (safe, deterministic, only
when there are postmortems). The page's behaviour in a browser: test_postmortems_page.py."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from conftest import CATALOG, ROOT
from vigil.build import BuildReport, compile_catalog
from vigil.catalog.postmortems import headings, template, template_sections
from vigil.cli import cli
from vigil.errors import CatalogError
from vigil.layout import POSTMORTEMS_PAGE
from vigil.render import postmortems as page_renderer
from vigil.reports.postmortems import Query, parse_since, search, stats, summary, unknown_names

FRONT: dict[str, Any] = {
    "id": "2026-01-05-checkout-cart-errors",
    "title": "Cart errors",
    "service": "checkout",
    "severity": "critical",
    "status": "draft",
    "occurred": "2026-01-05T10:00:00Z",
    "detected": "2026-01-05T10:05:00Z",
    "resolved": "2026-01-05T11:00:00Z",
    "detected_by": "alert",
    "told": [{"department": "commerce-dev", "channel": "page", "at": "2026-01-05T10:05:00Z"}],
    "anomalous_metrics": [{"service": "checkout", "key_metric": "error_ratio", "peak": "6%"}],
    "dependencies_involved": ["redis-cache"],
    "tags": ["test"],
}


def write_pm(folder: Path, body: str = "## Summary\n\nA test.\n", **changes: Any) -> Path:
    front = {**FRONT, **changes}
    front = {k: v for k, v in front.items() if v is not None}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{front['id']}.md"
    path.write_text("---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + body, encoding="utf-8")
    return path


def copy_catalog(dest: Path) -> Path:
    """The example catalog, without its `because:` references: they name example postmortems,
    which the tests here replace with their own (a collection that lacks them is an error)."""
    shutil.copytree(CATALOG, dest)
    for path in (dest / "services").glob("*.yaml"):
        path.write_text(re.sub(r", because: [a-z0-9-]+", "", path.read_text()))
    return dest


def catalog_with(tmp_path: Path, *fronts: dict[str, Any]) -> Path:
    """A copy of the example catalog with exactly these postmortems beside it."""
    copy_catalog(tmp_path / "catalog")
    for front in fronts:
        write_pm(tmp_path / "postmortems", **front)
    return tmp_path / "catalog"


def problems_of(catalog: Path) -> list[str]:
    with pytest.raises(CatalogError) as e:
        compile_catalog(catalog, BuildReport())
    return [str(p) for p in e.value.problems]


def line_of(path: Path, needle: str) -> int:
    """The first line of the file that starts with `needle`, ignoring indentation and list dashes."""
    lines = path.read_text().splitlines()
    return next(
        i
        for i, line in enumerate(lines, 1)
        if line.lstrip(" -").startswith(needle.lstrip(" -"))
        and (not needle.startswith("-") or line.lstrip().startswith("-"))
    )


# --- validation ---------------------------------------------------------------------------------


def test_the_example_postmortems_are_valid_and_tagged_as_fiction(example_model):
    pms = example_model["postmortems"]
    assert len(pms) == len(list((ROOT / "postmortems").glob("*.md")))
    assert all({"example", "fiction"} <= set(pm["tags"]) for pm in pms)


def test_unknown_service_names_file_line_and_suggestion(tmp_path):
    catalog = catalog_with(tmp_path, {"service": "chekout"})
    path = tmp_path / "postmortems" / f"{FRONT['id']}.md"
    assert problems_of(catalog) == [
        f"postmortems/{path.name}:{line_of(path, 'service:')}: "
        "service: unknown service 'chekout' (did you mean 'checkout'?)"
    ]


@pytest.mark.parametrize(
    "change, needle, field, message",
    [
        (
            {"told": [{"department": "css", "at": "2026-01-05T10:05:00Z"}]},
            "department: css",
            "told[0].department",
            "unknown department 'css' (did you mean 'cs'?)",
        ),
        (
            {"anomalous_metrics": [{"service": "redis-cache", "key_metric": "hit_rate"}]},
            "key_metric: hit_rate",
            "anomalous_metrics[0].key_metric",
            "'redis-cache' has no key metric 'hit_rate' (did you mean 'hit_ratio'?)",
        ),
        (
            {"anomalous_metrics": [{"service": "redis", "key_metric": "hit_ratio"}]},
            "service: redis",
            "anomalous_metrics[0].service",
            "unknown service 'redis' (did you mean 'redis-cache'?)",
        ),
        (
            {"dependencies_involved": ["orders-q"]},
            "- orders-q",
            "dependencies_involved[0]",
            "unknown service 'orders-q' (did you mean 'orders-mq'?)",
        ),
        (
            {"status": "finall"},
            "status:",
            "status",
            "must be one of: draft, final; got 'finall' (did you mean 'final'?)",
        ),
        (
            {"detected_by": "pager"},
            "detected_by:",
            "detected_by",
            "must be one of: alert, customer, person; got 'pager'",
        ),
        (
            {"detected": "2026-01-05 10:05"},
            "detected:",
            "detected",
            "'2026-01-05 10:05' is not an RFC 3339 time with an offset",
        ),
        (
            {"detected": "2026-01-05T09:00:00Z"},
            "detected:",
            "detected",
            "times must run occurred ≤ detected ≤ resolved",
        ),
        ({"id": "2026-01-05-checkout-other"}, "id:", "id", "the id must be the file name without .md"),
        ({"severity": None}, "id:", "", "missing required field 'severity'"),  # the first line of the front matter
        ({"owner": "x"}, "owner:", "owner", "unknown field 'owner'"),
    ],
)
def test_front_matter_problems_point_at_the_md_files_line(tmp_path, change, needle, field, message):
    catalog = catalog_with(tmp_path)
    path = write_pm(tmp_path / "postmortems", **change)
    if "id" in change:  # the file keeps the name the id should be
        path = path.rename(path.with_name(f"{FRONT['id']}.md"))
    [problem] = problems_of(catalog)
    where = f"postmortems/{path.name}:{line_of(path, needle)}: "
    assert problem == where + (f"{field}: {message}" if field else message) or (
        problem.startswith(where + f"{field}: ") and message in problem
    )


def test_unquoted_yaml_times_with_offsets_are_accepted(tmp_path):
    catalog = catalog_with(tmp_path)
    path = write_pm(tmp_path / "postmortems")
    path.write_text(path.read_text().replace("'2026-01-05T10:00:00Z'", "2026-01-05T19:00:00+09:00"))
    assert "occurred: 2026-01-05T19:00:00+09:00" in path.read_text()
    _, model = compile_catalog(catalog, BuildReport())
    assert model["postmortems"][0]["occurred"] == "2026-01-05T10:00:00Z"


def test_a_file_without_front_matter_is_an_error(tmp_path):
    catalog = catalog_with(tmp_path)
    (tmp_path / "postmortems").mkdir()
    (tmp_path / "postmortems" / "2026-01-01-checkout-x.md").write_text("# just notes\n")
    assert problems_of(catalog) == [
        "postmortems/2026-01-01-checkout-x.md:1: no front matter: the file must start "
        "with a `---` line, then YAML, then another `---` line"
    ]


def test_a_final_postmortem_missing_template_sections_warns_at_its_body(tmp_path):
    catalog = catalog_with(tmp_path, {"status": "final"})
    report = BuildReport()
    compile_catalog(catalog, report)
    missing = [w for w in report.warnings if w.startswith(f"postmortems/{FRONT['id']}.md:")]
    assert len(missing) == len(template_sections()) - 1  # only ## Summary is there
    assert all(w.split(":")[1] == str(len(yaml.safe_dump(FRONT).splitlines()) + 3) for w in missing)


def test_the_template_is_a_valid_postmortem_and_the_examples_follow_it(tmp_path):
    assert "Timeline" in template_sections() and "Fixes" in template_sections()
    copy_catalog(tmp_path / "catalog")
    (tmp_path / "postmortems").mkdir()
    front = yaml.safe_load(template().split("---\n")[1])
    (tmp_path / "postmortems" / f"{front['id']}.md").write_text(template())
    report = BuildReport()
    compile_catalog(tmp_path / "catalog", report)
    assert not [w for w in report.warnings if "postmortem" in w]
    final = [p for p in (ROOT / "postmortems").glob("*.md") if "status: final" in p.read_text()]
    assert final
    for path in final:
        assert set(template_sections()) <= set(headings(path.read_text().split("\n---\n", 1)[1]))


def test_the_postmortems_setting_points_elsewhere(tmp_path):
    catalog = catalog_with(tmp_path)
    write_pm(tmp_path / "elsewhere")
    with open(catalog / "vigil.yaml", "a") as f:
        f.write("postmortems: ../elsewhere\n")
    _, model = compile_catalog(catalog, BuildReport())
    assert [pm["file"] for pm in model["postmortems"]] == [f"elsewhere/{FRONT['id']}.md"]


# --- search -------------------------------------------------------------------------------------

SEARCH_SET = [
    {"id": "2026-01-05-checkout-cart-errors"},
    {
        "id": "2026-02-10-payment-pool",
        "service": "payment",
        "title": "Pool exhausted",
        "occurred": "2026-02-10T10:00:00Z",
        "detected": "2026-02-10T10:30:00Z",
        "resolved": "2026-02-10T12:00:00Z",
        "detected_by": "customer",
        "told": [{"department": "cs", "at": "2026-02-10T10:30:00Z"}],
        "anomalous_metrics": [{"service": "orders-db", "key_metric": "connections"}],
        "dependencies_involved": ["orders-db"],
    },
    {
        "id": "2026-03-01-checkout-queue",
        "title": "Queue backlog",
        "occurred": "2026-03-01T10:00:00Z",
        "detected": "2026-03-01T10:20:00Z",
        "resolved": "2026-03-01T10:40:00Z",
        "detected_by": "customer",
        "told": [],
        "anomalous_metrics": [{"service": "orders-mq", "key_metric": "queue_ready"}],
        "dependencies_involved": ["orders-mq"],
    },
]


@pytest.fixture
def search_model(tmp_path):
    _, model = compile_catalog(catalog_with(tmp_path, *SEARCH_SET), BuildReport())
    return model


def ids(model: Any, **query: Any) -> list[str]:
    return [pm["id"][:10] for pm in search(model, Query(**query))]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({}, ["2026-03-01", "2026-02-10", "2026-01-05"]),  # newest first
        ({"text": "pool"}, ["2026-02-10"]),
        ({"text": "QUEUE backlog"}, ["2026-03-01"]),  # every word, any case
        ({"text": "queue pool"}, []),
        ({"text": "a test"}, ["2026-03-01", "2026-02-10", "2026-01-05"]),  # the body is searched
        ({"service": "checkout"}, ["2026-03-01", "2026-01-05"]),
        ({"department": "cs"}, ["2026-02-10"]),  # told
        ({"department": "commerce-dev"}, ["2026-03-01", "2026-01-05"]),  # owner
        ({"department": "payments-dev"}, ["2026-02-10"]),
        ({"metric": "connections"}, ["2026-02-10"]),
        ({"metric": "orders-mq:queue_ready"}, ["2026-03-01"]),
        ({"metric": "redis-cache:queue_ready"}, []),
        ({"dependency": "redis-cache"}, ["2026-01-05"]),
        ({"service": "checkout", "dependency": "orders-mq"}, ["2026-03-01"]),
    ],
)
def test_search_filters(search_model, query, expected):
    assert ids(search_model, **query) == expected


def test_search_since(search_model):
    assert ids(search_model, since=parse_since("2026-02-10")) == ["2026-03-01", "2026-02-10"]
    assert ids(search_model, since=parse_since("2026-02-10T10:00:01Z")) == ["2026-03-01"]
    now = parse_since("2026-03-02T00:00:00Z")
    assert ids(search_model, since=parse_since("-2d", now=now)) == ["2026-03-01"]
    with pytest.raises(ValueError, match="is not a time"):
        parse_since("yesterday")


def test_a_misspelt_filter_is_named(search_model):
    assert unknown_names(search_model, Query(service="chekout", metric="conections")) == [
        "--service: no service 'chekout' in the catalog (did you mean 'checkout'?)",
        "--metric: no metric 'conections' in the catalog (did you mean 'connections'?)",
    ]


def test_search_command_json_and_text(tmp_path):
    catalog = catalog_with(tmp_path, *SEARCH_SET)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--catalog", str(catalog), "postmortems", "search", "--json", "--dependency", "orders-db"]
    )
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.stdout)
    assert found["id"] == "2026-02-10-payment-pool" and "body" not in found and found["owner"] == "payments-dev"
    result = runner.invoke(cli, ["--catalog", str(catalog), "postmortems", "search", "backlog"])
    assert result.stdout.splitlines() == [
        "2026-03-01  critical  checkout          Queue backlog  (postmortems/2026-03-01-checkout-queue.md, draft)"
    ]
    result = runner.invoke(cli, ["--catalog", str(catalog), "postmortems", "search", "--service", "chekout"])
    assert result.exit_code == 2 and "did you mean 'checkout'" in result.output


# --- stats --------------------------------------------------------------------------------------


def test_stats_medians_and_customer_first(search_model):
    report = stats(search_model["postmortems"])
    by_service = {s["name"]: s for s in report["services"]}
    # checkout: detected after 5m and 20m, recovered after 60m and 40m.
    assert by_service["checkout"] == {
        "name": "checkout",
        "incidents": 2,
        "median_time_to_detect_seconds": 750.0,
        "median_time_to_recover_seconds": 3000.0,
        "customer_first": 1,
    }
    assert by_service["payment"] == {
        "name": "payment",
        "incidents": 1,
        "median_time_to_detect_seconds": 1800.0,
        "median_time_to_recover_seconds": 7200.0,
        "customer_first": 1,
    }
    assert [d["name"] for d in report["departments"]] == ["commerce-dev", "payments-dev"]
    assert report["total"] == {
        "name": "all",
        "incidents": 3,
        "median_time_to_detect_seconds": 1200.0,
        "median_time_to_recover_seconds": 3600.0,
        "customer_first": 2,
    }


def test_stats_command(tmp_path):
    catalog = catalog_with(tmp_path, *SEARCH_SET)
    result = CliRunner().invoke(cli, ["--catalog", str(catalog), "postmortems", "stats"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["checkout", "2", "12m30s", "50m", "1"] in rows
    assert ["payments-dev", "1", "30m", "2h", "1"] in rows
    assert rows.count(["all", "3", "20m", "1h", "2"]) == 2  # under each table
    result = CliRunner().invoke(
        cli, ["--catalog", str(catalog), "postmortems", "stats", "--json", "--since", "2026-02-01"]
    )
    assert json.loads(result.stdout)["total"]["incidents"] == 2


# --- the page's bytes ---------------------------------------------------------------------------


def test_no_postmortems_no_page(tmp_path):
    shutil.copytree(CATALOG, tmp_path / "catalog")
    _, model = compile_catalog(tmp_path / "catalog", BuildReport())
    assert "postmortems" not in model
    assert page_renderer.render(model) == {}


def test_the_page_is_self_contained_and_escapes_what_it_is_given(tmp_path):
    body = (
        "## Summary\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n"
        "[click](javascript:alert(3))\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    catalog = catalog_with(tmp_path)
    write_pm(tmp_path / "postmortems", body=body, title="<b>bold</b> & co")
    _, model = compile_catalog(catalog, BuildReport())
    html = page_renderer.render(model)[POSTMORTEMS_PAGE]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<img" not in html
    assert 'href="javascript' not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    assert "<table>" in html  # tables are on
    assert html.count("<script>") == 1  # only the page's own
    assert "http://" not in html.replace("http://localhost:3000", "")  # nothing fetched
    assert page_renderer.render(model) == page_renderer.render(compile_catalog(catalog, BuildReport())[1])


# --- charts -------------------------------------------------------------------------------------

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a0f5b1"
    "5b0000000049454e44ae426082"
)


@pytest.mark.parametrize(
    "src, message",
    [
        ("img/missing.png", "image 'img/missing.png' not found (postmortems keep charts in img/)"),
        ("../catalog/vigil.yaml", "image '../catalog/vigil.yaml' is outside the postmortems folder"),
        ("img/chart.svg", "image 'img/chart.svg': the page embeds only .gif, .jpeg, .jpg, .png, .webp files"),
    ],
)
def test_a_bad_chart_is_named_at_its_line(tmp_path, src, message):
    catalog = catalog_with(tmp_path)
    (tmp_path / "postmortems" / "img").mkdir(parents=True)
    (tmp_path / "postmortems" / "img" / "chart.svg").write_text("<svg/>")
    path = write_pm(tmp_path / "postmortems", body=f"## Summary\n\nText.\n\n![chart]({src})\n")
    assert problems_of(catalog) == [f"postmortems/{path.name}:{line_of(path, '![chart]')}: {message}"]


def test_a_chart_is_embedded_so_the_page_stands_alone(tmp_path):
    catalog = catalog_with(tmp_path)
    (tmp_path / "postmortems" / "img").mkdir(parents=True)
    (tmp_path / "postmortems" / "img" / "chart.png").write_bytes(PNG_1x1)
    write_pm(
        tmp_path / "postmortems",
        body="## Summary\n\n![the chart](img/chart.png)\n\n![remote](https://x.example/a.png)\n",
    )
    _, model = compile_catalog(catalog, BuildReport())
    html = page_renderer.render(model)[POSTMORTEMS_PAGE]
    data_url = "data:image/png;base64," + base64.b64encode(PNG_1x1).decode()
    assert f'<img src="{data_url}" alt="the chart" />' in html
    assert 'src="img/chart.png"' not in html
    assert "images" not in summary(model["postmortems"][0]) and "body" not in summary(model["postmortems"][0])
