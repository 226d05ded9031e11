"""The NAB scorer: reproduces NAB's published scores, and keeps the scoring rules' properties.

The published checks read NAB's own files from ../shared/real-incidents (never copied into the
repo): the windowedGaussian and null detectors' raw results, their per-file score summaries, their
per-row S(t) columns and results/final_results.json.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from vigil.backtest.nab import (
    Profile,
    Window,
    perfect_detections,
    probationary_length,
    scaled_sigmoid,
    score_corpus,
    score_series,
    score_series_detail,
    window_spans,
)
from vigil.backtest.nab_files import (
    load_detector_results,
    load_profiles,
    load_results,
    load_windows,
    score_detector,
)
from vigil.errors import BacktestDataError

NAB = SHARED / "real-incidents"
# NAB's README scoreboard: Windowed Gaussian, standard / reward_low_FP_rate / reward_low_FN_rate.
SCOREBOARD = {"standard": 39.6, "reward_low_FP_rate": 20.9, "reward_low_FN_rate": 47.4}
STANDARD = Profile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)


@pytest.fixture(scope="module")
def nab() -> Path:
    if not (NAB / "results" / "windowedGaussian").is_dir():
        pytest.skip(f"{NAB} (NAB's data, labels and published results) is absent: nothing to score against")
    return NAB


@pytest.fixture(scope="module")
def gaussian(nab: Path) -> dict:
    return score_detector(nab, "windowedGaussian")


# --- against NAB's published results ---------------------------------------------------------


def test_windowed_gaussian_reproduces_the_scoreboard(gaussian: dict) -> None:
    for profile, published in SCOREBOARD.items():
        assert abs(gaussian[profile].normalised - published) <= 0.1, (profile, gaussian[profile].normalised)
        # NAB's perfect score counts all 116 labelled windows; ours counts the scorable ones: the same here
        assert gaussian[profile].perfect == 116.0


def test_windowed_gaussian_matches_final_results_json(nab: Path, gaussian: dict) -> None:
    """The scoreboard rounds to 0.1; NAB's final_results.json keeps every digit."""
    final = json.loads((nab / "results" / "final_results.json").read_text())["windowedGaussian"]
    assert sorted(gaussian) == sorted(final)
    for profile, published in final.items():
        assert gaussian[profile].normalised == pytest.approx(published, abs=1e-6), profile


@pytest.mark.parametrize("detector", ["windowedGaussian", "null"])
def test_every_file_matches_nabs_per_file_scores(nab: Path, detector: str) -> None:
    """results/<detector>/<detector>_<profile>_scores.csv: each file's score and TP/TN/FP/FN rows."""
    scored = score_detector(nab, detector)
    for profile, corpus in scored.items():
        with (nab / "results" / detector / f"{detector}_{profile}_scores.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        per_file = {r["File"]: r for r in rows if r["Detector"] != "Totals"}
        assert sorted(per_file) == sorted(corpus.series)
        assert len(per_file) == 58
        for name, series in corpus.series.items():
            row = per_file[name]
            assert series.score == pytest.approx(float(row["Score"]), abs=1e-9), (profile, name)
            counts = (series.tp, series.tn, series.fp, series.fn)
            assert counts == tuple(int(row[k]) for k in ("TP", "TN", "FP", "FN")), (profile, name)
        total = next(r for r in rows if r["Detector"] == "Totals")
        assert corpus.raw == pytest.approx(float(total["Score"]), abs=1e-8), profile


def test_published_null_detector_scores_zero(nab: Path) -> None:
    scored = score_detector(nab, "null")
    assert {p: c.normalised for p, c in scored.items()} == {p: 0.0 for p in SCOREBOARD}
    # NAB's baselines: -fnWeight for each of the 116 windows.
    assert {p: c.raw for p, c in scored.items()} == {
        "standard": -116.0,
        "reward_low_FP_rate": -116.0,
        "reward_low_FN_rate": -232.0,
    }


def test_in_memory_null_and_perfect_detectors(nab: Path) -> None:
    windows = load_windows(nab / "labels" / "combined_windows.json")
    profiles = load_profiles(nab / "config" / "profiles.json")
    results = load_detector_results(nab / "results", "windowedGaussian")
    silent = {k: (r.timestamps, [False] * len(r.timestamps)) for k, r in results.items()}
    perfect = {k: (r.timestamps, perfect_detections(r.timestamps, windows[k])) for k, r in results.items()}
    assert score_corpus(silent, windows, profiles) == {p: 0.0 for p in SCOREBOARD}
    assert score_corpus(perfect, windows, profiles) == pytest.approx({p: 100.0 for p in SCOREBOARD})


def test_row_contributions_match_nabs_s_t_columns(nab: Path, gaussian: dict) -> None:
    """Every row of every windowedGaussian results file, against its S(t)_<profile> columns.

    These include the files whose timestamps repeat (ec2_request_latency, a DST night) and go
    back (machine_temperature), false positives before any window (cpu_utilization_asg) and just
    after one (rogue_agent_key_updown).
    """
    checked = 0
    wrong: list[tuple[str, str, int, float, float]] = []  # (file, profile, CSV line, NAB's, ours)
    for name in gaussian["standard"].series:
        group, file = name.split("/")
        with (nab / "results" / "windowedGaussian" / group / f"windowedGaussian_{file}").open(newline="") as f:
            rows = list(csv.DictReader(f))
        for profile, corpus in gaussian.items():
            ours = corpus.series[name].contributions
            assert len(ours) == len(rows)
            column = f"S(t)_{profile}"
            for i, row in enumerate(rows):
                if abs(float(row[column]) - ours[i]) > 1e-9:
                    wrong.append((name, profile, i + 2, float(row[column]), ours[i]))
            checked += len(rows)
    assert wrong[:5] == []
    assert checked == 3 * 365558


# --- the scoring rules, on made-up series ----------------------------------------------------

T0 = datetime(2026, 11, 27)


def stamps(n: int) -> list[datetime]:
    return [T0 + timedelta(minutes=5 * i) for i in range(n)]


def test_scaled_sigmoid_at_nabs_reference_points() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.5) == -1.0


def test_probationary_period_is_15_percent_capped_at_750_rows() -> None:
    assert probationary_length(4032) == 604
    assert probationary_length(22695) == 750


def test_window_spans_follow_repeated_and_backward_timestamps() -> None:
    t = stamps(10)
    ts = [t[0], t[1], t[2], t[2], t[3], t[1], t[4], t[5], t[6], t[7]]  # a repeat, then a step back
    assert window_spans(ts, [Window(t[2], t[4]), Window(t[6], t[9])]) == [(2, 6), (8, 9)]
    assert window_spans(ts, [Window(t[8], t[9])]) == []  # after the last row: covers nothing


def test_a_detection_on_a_windows_first_row_earns_tp_weight() -> None:
    ts = stamps(100)
    windows = [Window(ts[50], ts[59])]
    first = [i == 50 for i in range(100)]
    last = [i == 59 for i in range(100)]
    assert score_series(ts, first, windows, STANDARD) == pytest.approx(1.0)
    # the last row is -1/width from the edge: a little above 0
    assert score_series(ts, last, windows, STANDARD) == pytest.approx(scaled_sigmoid(-0.1) / scaled_sigmoid(-1))
    assert score_series(ts, [False] * 100, windows, STANDARD) == -1.0


def test_detections_in_probation_do_not_count() -> None:
    ts = stamps(100)
    windows = [Window(ts[5], ts[9]), Window(ts[50], ts[59])]
    early = [i < 15 for i in range(100)]
    detail = score_series_detail(ts, early, windows, STANDARD)
    assert detail.score == -1.0  # the first window lies in probation; the second is missed
    assert (detail.tp, detail.fp) == (0, 0)


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="3 detections for 4 timestamps"):
        score_series(stamps(4), [False] * 3, [], STANDARD)


def test_a_series_without_windows_is_refused_rather_than_scored_as_quiet() -> None:
    ts = stamps(40)
    with pytest.raises(ValueError, match="no labelled windows for g/typo.csv"):
        score_corpus({"g/typo.csv": (ts, [False] * 40)}, {"g/a.csv": [Window(ts[30], ts[35])]}, {"standard": STANDARD})


# timestamps, windows, the windows' (first, last) rows, detections
Case = tuple[list[datetime], list[Window], list[tuple[int, int]], list[bool]]


@st.composite
def series(draw: st.DrawFn) -> Case:
    """A 5-minute series with 1-3 windows after its probationary period, and random detections."""
    n = draw(st.integers(40, 300))
    start = probationary_length(n)
    cuts = sorted(draw(st.sets(st.integers(start, n - 1), min_size=2, max_size=6)))
    cuts = cuts[: len(cuts) // 2 * 2]
    ts = stamps(n)
    spans = [(cuts[k], cuts[k + 1]) for k in range(0, len(cuts), 2)]  # distinct cuts: no overlap
    detections = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return ts, [Window(ts[a], ts[b]) for a, b in spans], spans, detections


profiles = st.builds(Profile, st.just("p"), st.floats(0.1, 2.0), st.floats(0.01, 1.0), st.floats(0.1, 2.0))


@given(series(), profiles, st.data())
def test_an_earlier_detection_in_a_window_never_scores_less(case: Case, profile: Profile, data: st.DataObject) -> None:
    ts, windows, spans, _ = case
    first, last = spans[0]
    i = data.draw(st.integers(first, last))
    j = data.draw(st.integers(i, last))
    earlier = [k == i for k in range(len(ts))]
    later = [k == j for k in range(len(ts))]
    assert score_series(ts, earlier, windows, profile) >= score_series(ts, later, windows, profile)


@given(series(), profiles, st.data())
def test_adding_a_false_positive_never_raises_the_score(case: Case, profile: Profile, data: st.DataObject) -> None:
    ts, windows, spans, detections = case
    outside = [
        i
        for i in range(probationary_length(len(ts)), len(ts))
        if not any(a <= i <= b for a, b in spans) and not detections[i]
    ]
    if not outside:
        return
    k = data.draw(st.sampled_from(outside))
    more = list(detections)
    more[k] = True
    assert score_series(ts, more, windows, profile) < score_series(ts, detections, windows, profile)


@given(series(), profiles, st.data())
def test_only_the_first_detection_in_a_window_counts(case: Case, profile: Profile, data: st.DataObject) -> None:
    ts, windows, spans, detections = case
    first, last = spans[0]
    hit = data.draw(st.integers(first, last))
    base = [d if not first <= i <= last else i == hit for i, d in enumerate(detections)]
    later = list(base)
    for i in range(hit, last + 1):
        later[i] = True
    assert score_series(ts, later, windows, profile) == score_series(ts, base, windows, profile)


@given(series(), profiles)
def test_score_is_the_sum_of_row_contributions_and_never_beats_perfect(case: Case, profile: Profile) -> None:
    ts, windows, _, detections = case
    detail = score_series_detail(ts, detections, windows, profile)
    assert detail.score == pytest.approx(sum(detail.contributions))
    perfect = score_series(ts, perfect_detections(ts, windows), windows, profile)
    assert perfect == pytest.approx(profile.tp_weight * len(windows))
    assert detail.score <= perfect + 1e-9


# --- bad input -------------------------------------------------------------------------------


def test_a_bad_anomaly_score_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "d_x.csv"
    path.write_text("timestamp,value,anomaly_score,label\n2014-01-01 00:00:00,1,0.5,0\n2014-01-01 00:05:00,1,high,0\n")
    with pytest.raises(BacktestDataError, match=rf"{path}:3: anomaly_score: 'high' is not a number"):
        load_results(path)


def test_a_zoned_timestamp_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d_x.csv"
    path.write_text("timestamp,value,anomaly_score,label\n2014-01-01T00:00:00+01:00,1,0.5,0\n")
    with pytest.raises(BacktestDataError, match=rf"{path}:2: timestamp:"):
        load_results(path)


def test_a_window_ending_before_it_starts_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "windows.json"
    path.write_text(
        '{\n  "g/a.csv": [],\n  "g/b.csv": [\n    ["2014-01-02 00:00:00.000000", "2014-01-01 00:00:00.000000"]\n  ]\n}\n'
    )
    with pytest.raises(BacktestDataError, match=rf"{path}:3: g/b.csv.0: the window ends before it starts"):
        load_windows(path)


def test_a_profile_without_fp_weight_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text('{"standard": {"CostMatrix": {"tpWeight": 1, "fnWeight": 1}}}')
    with pytest.raises(BacktestDataError, match=r"standard.CostMatrix: 'fpWeight' is a required property"):
        load_profiles(path)


def nab_tree(root: Path, windows: str) -> Path:
    """A one-series NAB tree: 40 rows 5 minutes apart, the anomaly score 1.0 on row 30 only."""
    (root / "labels").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "results" / "det" / "g").mkdir(parents=True)
    (root / "labels" / "combined_windows.json").write_text(windows)
    (root / "config" / "profiles.json").write_text(
        json.dumps({"standard": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0, "tnWeight": 1.0}}})
    )
    (root / "config" / "thresholds.json").write_text(json.dumps({"det": {"standard": {"threshold": 0.5}}}))
    rows = [f"{t:%Y-%m-%d %H:%M:%S},1.0,{1.0 if i == 30 else 0.0},0" for i, t in enumerate(stamps(40))]
    (root / "results" / "det" / "g" / "det_a.csv").write_text(
        "timestamp,value,anomaly_score,label\n" + "\n".join(rows) + "\n"
    )
    return root


def test_score_detector_on_a_small_tree(tmp_path: Path) -> None:
    root = nab_tree(tmp_path, '{"g/a.csv": [["2026-11-27 02:30:00.000000", "2026-11-27 02:50:00.000000"]]}')
    scored = score_detector(root, "det")["standard"]
    assert scored.raw == pytest.approx(1.0)  # a detection on the window's first row
    assert scored.normalised == pytest.approx(100.0)


def test_results_for_an_unlabelled_series_name_the_windows_file(tmp_path: Path) -> None:
    root = nab_tree(tmp_path, '{"g/b.csv": []}')
    with pytest.raises(BacktestDataError, match=r"combined_windows.json: g/a.csv: results of 'det' for a series"):
        score_detector(root, "det")
