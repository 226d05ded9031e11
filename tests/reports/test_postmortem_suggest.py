"""`vigil postmortem suggest`: over backfilled history in a real Prometheus (both generations), a
postmortem whose alert fired late gets a threshold or `for` change that fires earlier, backtested
with its cost; the YAML it prints is valid catalog once pasted."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fixtures.backfilled import backfilled_prometheus
from hypothesis import given
from hypothesis import strategies as st
from tool_generations import GENERATIONS, on_path

from vigil.backtest.history import History
from vigil.cli import cli
from vigil.reports.postmortem_suggest import nice, shorter_for

M = 60
# 6 hours of history at 15s, starting on an hour boundary 7 hours ago (inside any retention).
START = (int(time.time()) // 3600) * 3600 - 7 * 3600
END = START + 6 * 3600
OCCURRED = START + 4 * 3600
RESOLVED = OCCURRED + 60 * M
# Two short bursts of 3.2% errors before the incident (a lower threshold pays for them), then the
# incident: 3% of requests fail for 30 minutes (below the 5% warning), then 15% for 20 minutes.
BURSTS = [(START + 60 * M, START + 70 * M), (START + 120 * M, START + 130 * M)]
JOB = {"job": "pay", "instance": "pay-1"}


def error_ratio(t: int) -> float:
    if any(a <= t < b for a, b in BURSTS):
        return 0.032
    if OCCURRED <= t < OCCURRED + 30 * M:
        return 0.03
    if OCCURRED + 30 * M <= t < OCCURRED + 50 * M:
        return 0.15
    return 0.001


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


PM_ID = f"{utc(OCCURRED)[:10]}-pay-card-errors"
OLD_ID = "2020-01-02-pay-before-the-history"
SERVICE = {
    "name": "pay",
    "owner": "pay-dev",
    "tier": 1,
    "customer_facing": True,
    "selector": {"job": "pay"},
    "profiles": ["http"],
    "metrics": {"error_ratio": {"warning": "5%", "critical": "10%", "for": "5m", "title": "Errors"}},
}


def postmortem(pid: str, occurred: float, detected: float, resolved: float) -> str:
    front = {
        "id": pid,
        "title": "Card payments failing",
        "service": "pay",
        "severity": "critical",
        "status": "draft",
        "occurred": utc(occurred),
        "detected": utc(detected),
        "resolved": utc(resolved),
        "detected_by": "alert",
        "alert": "ErrorRatioHigh",
        "anomalous_metrics": [{"service": "pay", "key_metric": "error_ratio"}],
    }
    return f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n## Summary\n\nCard payments failed.\n"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("suggest")
    (root / "catalog" / "services").mkdir(parents=True)
    (root / "catalog" / "vigil.yaml").write_text(
        yaml.safe_dump({"evaluation_interval": "1m", "scrape_interval": "15s"})
    )
    (root / "catalog" / "departments.yaml").write_text(
        yaml.safe_dump(
            {
                "departments": [
                    {"id": "pay-dev", "role": "engineering", "channels": {"page": {"webhook": {"url": "http://x/p"}}}},
                    {"id": "ops", "role": "operations", "channels": {"chat": {"webhook": {"url": "http://x/o"}}}},
                ],
                "propagation": [{"notify": "owner", "severity": "critical", "channel": "page"}],
            }
        )
    )
    (root / "catalog" / "services" / "pay.yaml").write_text(yaml.safe_dump(SERVICE, sort_keys=False))
    (root / "postmortems").mkdir()
    # Someone was paged 40 minutes in: the warning alert fired when errors reached 15%.
    (root / "postmortems" / f"{PM_ID}.md").write_text(postmortem(PM_ID, OCCURRED, OCCURRED + 40 * M, RESOLVED))
    old = datetime(2020, 1, 2, 3, 0, tzinfo=UTC).timestamp()
    (root / "postmortems" / f"{OLD_ID}.md").write_text(postmortem(OLD_ID, old, old + 600, old + 1800))
    return root / "catalog"


def history() -> History:
    h = History(START, END, 15)
    h.add("up", "gauge", JOB, lambda t: 1.0)
    h.counter("http_requests_total", {**JOB, "code": "200"}, lambda t: 100.0 * (1 - error_ratio(t)))
    h.counter("http_requests_total", {**JOB, "code": "500"}, lambda t: 100.0 * error_ratio(t))
    return h


@pytest.fixture(scope="module", params=GENERATIONS)
def prometheus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus of each generation holding only the raw history (no rules ever ran)."""
    with (
        on_path(request.param),
        backfilled_prometheus(history(), tmp_path_factory.mktemp(f"prometheus-{request.param}")) as url,
    ):
        yield url


def run(catalog: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--catalog", str(catalog), *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def suggest(catalog: Path, prometheus: str, *args: str, code: int = 0) -> Any:
    return run(catalog, "postmortem", "suggest", *args, "--prometheus", prometheus, code=code)


@pytest.fixture(scope="module")
def found(catalog: Path, prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))  # its render cache
        return json.loads(suggest(catalog, prometheus, PM_ID, "--lookback", "5h", "--json"))


def by_change(found: dict[str, Any]) -> dict[tuple[str, Any, Any], dict[str, Any]]:
    def pair(c: dict[str, str] | None) -> Any:
        return None if c is None else (c["from"], c["to"])

    return {(s["severity"], pair(s["change"]["threshold"]), pair(s["change"]["for"])): s for s in found["suggestions"]}


def minutes(a: str, b: str) -> float:
    return (datetime.fromisoformat(b).timestamp() - datetime.fromisoformat(a).timestamp()) / 60


def test_a_late_alert_gets_a_lower_warning_that_fires_earlier(found: dict[str, Any]) -> None:
    assert found["postmortem"] == PM_ID
    assert found["window"] == {"from": utc(RESOLVED - 5 * 3600), "to": utc(RESOLVED)}
    suggestions = by_change(found)
    # The metric held 3% before the halfway point between the fault and its detection: a warning
    # just below that (2.9%), held the same 5m, fires some 10 minutes in instead of some 36.
    lower = suggestions[("warning", ("5%", "2.9%"), None)]
    current = lower["current"]["detected"]
    proposed = lower["proposed"]["detected"]
    # The current warning fired once errors reached 15%, 30 minutes in, and 5m later; a rate over
    # 5m reaches 5% a minute or two after the step.
    assert 35 <= minutes(utc(OCCURRED), current) <= 38
    assert 9 <= minutes(utc(OCCURRED), proposed) <= 11
    assert lower["minutes_earlier"] == pytest.approx(minutes(proposed, current))
    # Its cost: the two earlier bursts at 3.2% would have paged too, which 5% never did.
    assert lower["current"]["firings"] == 1
    assert lower["proposed"]["firings"] == 3
    assert lower["extra_firings"] == 2
    assert yaml.safe_load(lower["yaml"]) == {
        "metrics": {
            "error_ratio": {"warning": "2.9%", "critical": "10%", "for": "5m", "title": "Errors", "because": PM_ID}
        }
    }
    assert lower["file"] == "catalog/services/pay.yaml"


def test_a_shorter_for_on_critical_is_a_smaller_gain_at_no_cost(found: dict[str, Any]) -> None:
    shorter = by_change(found)[("critical", None, ("5m", "2m"))]
    assert 2 <= shorter["minutes_earlier"] <= 3.5
    assert shorter["extra_firings"] == 0
    assert yaml.safe_load(shorter["yaml"])["metrics"]["error_ratio"]["for"] == {"warning": "5m", "critical": "2m"}
    # A critical as low as the metric's early level would pass the 5% warning: said, not proposed.
    assert not [s for s in found["suggestions"] if s["severity"] == "critical" and s["change"]["threshold"]]
    assert found["notes"] == [
        "pay error_ratio critical: 2.9% would pass the warning threshold; see the warning suggestion instead"
    ]


def test_the_largest_gain_comes_first(found: dict[str, Any]) -> None:
    gains = [s["minutes_earlier"] for s in found["suggestions"]]
    assert gains == sorted(gains, reverse=True)


def test_every_printed_yaml_is_valid_catalog_once_pasted(found: dict[str, Any], catalog: Path, tmp_path: Path) -> None:
    import shutil

    assert found["suggestions"]
    for i, s in enumerate(found["suggestions"]):
        copy = tmp_path / str(i)
        shutil.copytree(catalog.parent, copy)
        path = copy / "catalog" / "services" / "pay.yaml"
        service = yaml.safe_load(path.read_text())
        service["metrics"].update(yaml.safe_load(s["yaml"])["metrics"])
        path.write_text(yaml.safe_dump(service, sort_keys=False))
        run(copy / "catalog", "validate")


def test_the_text_report_prints_the_yaml_to_paste(
    catalog: Path, prometheus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = suggest(catalog, prometheus, f"postmortems/{PM_ID}.md", "--lookback", "5h")
    assert out.startswith(f"{PM_ID}: pay, occurred {utc(OCCURRED)}")
    assert "pay error_ratio warning (ErrorRatioHigh): threshold 5% → 2.9%\n" in out
    # Pasted as is: the metric's whole entry, the service's own fields kept, with `because:`.
    assert f"      error_ratio: {{warning: 2.9%, critical: 10%, for: 5m, title: Errors, because: {PM_ID}}}\n" in out
    assert "paste into catalog/services/pay.yaml" in out


def test_no_history_is_an_error(
    catalog: Path, prometheus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["--catalog", str(catalog), "postmortem", "suggest", OLD_ID, "--prometheus", prometheus]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, Exception)
    assert "none of its key metrics (pay error_ratio) has data" in str(result.exception)


def test_an_unknown_postmortem_is_a_usage_error_with_a_suggestion(catalog: Path) -> None:
    out = run(catalog, "postmortem", "suggest", PM_ID[:-1], "--prometheus", "http://127.0.0.1:9", code=2)
    assert f"no postmortem '{PM_ID[:-1]}' (did you mean '{PM_ID}'?)" in out


@pytest.mark.parametrize(
    "x, direction, expected",
    [(0.03, "above", 0.029), (0.0314, "above", 0.031), (850, "above", 840), (0.41, "below", 0.42), (0, "above", None)],
)
def test_nice_rounds_to_the_safe_side(x: float, direction: str, expected: float | None) -> None:
    assert nice(x, direction) == expected


def test_a_shorter_for() -> None:
    assert [shorter_for(s, 60) for s in (180, 300, 600, 3600, 60)] == [60, 120, 300, 1800, None]


@given(st.floats(min_value=1e-6, max_value=1e12), st.sampled_from(["above", "below"]))
def test_nice_is_crossed_by_the_level_and_within_one_step_of_it(x: float, direction: str) -> None:
    """A metric that held x crosses the threshold (> for above, < for below), which is at most one
    unit of its second significant digit away, and a whole number of that unit."""
    y = nice(x, direction)
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    if y is None:
        assert direction == "above" and x <= step * (1 + 1e-9)
        return
    assert (x > y > 0) if direction == "above" else (x < y)
    assert abs(x - y) <= step * (1 + 1e-6)
    assert abs(y / step - round(y / step)) < 1e-6  # a whole number of that unit: 2.9%, not 2.934%
