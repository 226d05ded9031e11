"""`vigil suggest thresholds`: proposals learned from a series backfilled into a real Prometheus
(both generations), pasted into the service file and accepted by `vigil validate`; and the errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fixtures.backfilled import backfilled_prometheus

from vigil.backtest.client import Series
from vigil.backtest.history import History
from vigil.backtest.timespec import format_time
from vigil.build import BuildReport, compile_catalog
from vigil.reports.suggest_thresholds import Expressions, excursions, quantile, round_away, sensitivity, suggest

START = (int(time.time()) // 3600) * 3600 - 26 * 3600
END = START + 24 * 3600
STEP = 60
# Latency at 190 or 210ms, and three short normal bumps of 3 minutes to 290ms (0.6% of the day).
BUMPS = [(60 * STEP, 63 * STEP), (150 * STEP, 153 * STEP), (300 * STEP, 303 * STEP)]


def latency(t: int) -> float:
    if any(a <= t - START < b for a, b in BUMPS):
        return 0.29
    return 0.19 if (t // STEP) % 2 else 0.21


def history() -> History:
    h = History(START, END, STEP)
    h.add("api_latency_seconds", "gauge", {"job": "api", "instance": "api-1"}, latency)
    return h


SERVICE = {
    "name": "api",
    "owner": "api-dev",
    "tier": 2,
    "customer_facing": False,
    "selector": {"job": "api"},
    "metrics": {"latency": {"expr": "max(api_latency_seconds{$selector})", "unit": "seconds"}},
}


def write_catalog(root: Path, service: dict[str, object]) -> Path:
    (root / "services").mkdir(parents=True, exist_ok=True)
    (root / "vigil.yaml").write_text(yaml.safe_dump({"evaluation_interval": "1m"}))
    (root / "departments.yaml").write_text(
        yaml.safe_dump(
            {
                "departments": [
                    {"id": "api-dev", "role": "engineering", "channels": {"chat": {"webhook": {"url": "http://x/"}}}},
                    {"id": "ops", "role": "operations", "channels": {"chat": {"webhook": {"url": "http://y/"}}}},
                ],
                "propagation": [{"notify": "owner", "severity": "warning", "channel": "chat"}],
            }
        )
    )
    (root / "services" / "api.yaml").write_text(yaml.safe_dump(service))
    return root


@pytest.fixture
def prometheus(generation: str, tmp_path: Path) -> Iterator[str]:
    with backfilled_prometheus(history(), tmp_path) as url:
        yield url


def run(capsys: pytest.CaptureFixture[str], catalog: Path, *args: str) -> tuple[int, str, str]:
    """The command as a user runs it: main() turns errors into a message on stderr and an exit code."""
    from vigil.cli import main

    capsys.readouterr()
    try:
        main(["--catalog", str(catalog), *args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_suggest_learns_thresholds_that_bracket_the_normal_range_and_validate(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = write_catalog(tmp_path / "catalog", SERVICE)
    code, out, err = run(
        capsys,
        catalog,
        "suggest",
        "thresholds",
        "--service",
        "api",
        "--prometheus",
        prometheus,
        "--from",
        format_time(START),
        "--to",
        format_time(END),
    )
    assert code == 0, err
    assert f"over {format_time(START)} .. {format_time(END)}" in out  # says what it learned from
    proposal = yaml.safe_load(out)["metrics"]["latency"]
    warning, critical = (float(proposal[k].removesuffix("ms")) / 1000 for k in ("warning", "critical"))
    normal = [latency(t) for t in range(START, END + 1, STEP)]
    args = ["--prometheus", prometheus, "--from", format_time(START), "--to", format_time(END), "--json"]
    code, out, _ = run(capsys, catalog, "suggest", "thresholds", "--service", "api", *args)
    assert code == 0
    (stats,) = yaml.safe_load(out)
    assert stats["samples"] == len(normal)
    assert stats["worst"] == pytest.approx(0.29)
    assert stats["median"] in (pytest.approx(0.19), pytest.approx(0.21))
    assert stats["sigma"] == pytest.approx(1.4826 * 0.02)  # the MAD of 190/210ms around either is 20ms
    # The warning lies beyond everything the history reached, and 8 robust sigmas out; the critical
    # twice as far from the median.
    median, sigma = stats["median"], stats["sigma"]
    assert max(normal) < warning == pytest.approx(max(0.29 + 0.1 * (0.29 - median), median + 8 * sigma), abs=1e-3)
    assert critical == pytest.approx(median + 2 * (warning - median), abs=1e-3)
    # The history's excursions beyond its 99th percentile are the bumps, 2m from first to last
    # sample: both wait one interval longer (a blip shorter than the usual ones does not page,
    # however tall).
    assert stats["excursion_seconds"] == 120
    assert proposal["for"] == {"warning": "3m", "critical": "3m"}
    assert proposal["keep_firing_for"] == "2h"  # the anomaly alert's hysteresis, for the thresholds too
    # The anomaly alert was replayed on the z-score the real Prometheus computed from the backfilled
    # baseline: the 3-minute bumps never outlast its `for: 5m`, so the lowest sensitivity pages 0 times.
    assert stats["anomaly_pages"] == 0
    assert proposal["anomaly"]["sensitivity"] == 3

    # Pasted into the service file, the catalog validates and builds.
    latency_metric = {"expr": "max(api_latency_seconds{$selector})", "unit": "seconds", **proposal}
    service = {**SERVICE, "metrics": {"latency": latency_metric}}
    write_catalog(catalog, service)
    assert run(capsys, catalog, "validate")[0] == 0
    model = compile_catalog(catalog, BuildReport())[1]
    (metric,) = model["services"][0]["metrics"]
    assert [t["value"] for t in metric["thresholds"]] == [warning, critical]
    assert [t["keep_firing_for"] for t in metric["thresholds"]] == ["2h", "2h"]


def test_suggest_errors_name_the_service_and_the_empty_range(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = write_catalog(tmp_path / "catalog", SERVICE)
    args = ["suggest", "thresholds", "--prometheus", prometheus]
    code, _, err = run(
        capsys, catalog, *args, "--service", "nope", "--from", format_time(START), "--to", format_time(END)
    )
    assert code != 0
    assert "no service nope in the catalog" in err
    # A range before the history: no data, said so with the metric and the range (exit code of NoDataError).
    early = (format_time(START - 7200), format_time(START - 3600))
    code, _, err = run(capsys, catalog, *args, "--service", "api", "--from", early[0], "--to", early[1])
    assert code != 0
    assert "service api: no data between" in err and "latency" in err and early[0] in err


def test_statistics_helpers() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert round_away(0.2913) == 0.292
    assert round_away(-10.37) == -10.3  # for `below` metrics: up on the negated scale, lower in reality
    assert excursions([0, 60, 120, 300, 360, 420], [True, True, True, True, False, True], 60) == [120, 0, 0]
    # A `below` metric: thresholds under the normal range, critical further down.
    times = [float(t) for t in range(100)]
    s = suggest("free", "count", "below", "x", [(times, [50.0 + (t % 5) for t in range(100)])], 60)
    assert s.critical < s.warning < 50.0


class ZScores:
    """A stand-in for the Prometheus API that answers every range query with one z-score series."""

    def __init__(self, z: list[float], step: float) -> None:
        self.series = Series({}, [i * step for i in range(len(z))], z)

    def query_range_post(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        kept = [(t, z) for t, z in zip(self.series.times, self.series.values) if start <= t <= end]
        return [Series({}, [t for t, _ in kept], [z for _, z in kept])]


def test_sensitivity_is_the_lowest_that_pages_at_most_twice() -> None:
    """Three 10-minute deviations at z 4 and one at z 6, 3 hours apart (more than keep_firing_for):
    at 3, 3.5 and 4 they page four times, at 4.5 only the z-6 one pages; a deviation shorter than
    `for` never counts, and with keep_firing_for two deviations an hour apart page once."""
    step = 60.0
    z = [1.0] * (16 * 60)
    for start, level in ((60, 4.2), (240, 4.2), (420, 4.2), (600, 6.2)):
        z[start : start + 10] = [level] * 10
    z[800:803] = [20.0] * 3  # 3 minutes: pending, never fires with for 5m
    anomaly = {"for_seconds": 300.0, "keep_firing_for_seconds": 7200.0}
    e = Expressions(metric={}, value="x", zscore="z", anomaly=anomaly)  # type: ignore[arg-type]
    api = ZScores(z, step)
    assert sensitivity(api, e, 0, len(z) * step, step) == (4.5, 1)  # type: ignore[arg-type]
    # With keep_firing_for 4h the z-4 deviations (3h apart) merge into one firing: 3 is enough.
    kept = Expressions(metric={}, value="x", zscore="z", anomaly={**anomaly, "keep_firing_for_seconds": 4 * 3600.0})  # type: ignore[arg-type]
    assert sensitivity(api, kept, 0, len(z) * step, step) == (3.0, 1)  # type: ignore[arg-type]
    assert sensitivity(ZScores([], step), e, 0, 600, step) == (3.0, None)  # type: ignore[arg-type]
