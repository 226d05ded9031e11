"""vigil's detections written in NAB's results format read back with NAB's layout (nab_files) and
score exactly as the detections they came from; firing onsets land on the row at or after them."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import SHARED
from vigil.backtest.nab import Profile, Window, score_corpus, threshold_scores
from vigil.backtest.nab_files import load_detector_results, load_profiles, load_windows
from vigil.backtest.nab_results import onset_rows, results_path, write_results

NAB = SHARED / "real-incidents"
T0 = datetime(2014, 3, 7, 3, 41)


def test_onsets_land_on_the_first_row_at_or_after_them() -> None:
    rows = [T0 + timedelta(minutes=5 * i) for i in range(6)]
    onsets = [T0 + timedelta(minutes=1), T0 + timedelta(minutes=10), T0 + timedelta(hours=9)]
    assert onset_rows(rows, onsets) == [False, True, True, False, False, False]
    # A file that steps back in time (NAB's machine_temperature): the first row that reached the onset.
    back = [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=5), T0 + timedelta(minutes=15)]
    assert onset_rows(back, [T0 + timedelta(minutes=6)]) == [False, True, False, False]


def test_written_results_read_back_and_score_identically(tmp_path: Path) -> None:
    stamps = [f"{T0 + timedelta(minutes=5 * i):%Y-%m-%d %H:%M:%S}" for i in range(2000)]
    values = [f"{i % 7}.5" for i in range(2000)]
    times = [datetime.fromisoformat(s) for s in stamps]
    windows = {"g/a.csv": [Window(times[900], times[1000]), Window(times[1500], times[1600])], "g/b.csv": []}
    flags = {
        "g/a.csv": onset_rows(times, [times[950] + timedelta(minutes=2), times[1200], times[1700]]),
        "g/b.csv": onset_rows(times, [times[400], times[1800]]),
    }
    for key, detections in flags.items():
        write_results(results_path(tmp_path, "vigil", key), stamps, values, detections, windows[key])
    read = load_detector_results(tmp_path, "vigil")
    assert sorted(read) == ["g/a.csv", "g/b.csv"]
    with (tmp_path / "vigil" / "g" / "vigil_a.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["timestamp", "value", "anomaly_score", "label"]
    assert rows[952][:2] == [stamps[951], values[951]]  # NAB's text, byte for byte
    assert [r[3] for r in rows[1:]].count("1") == 101 + 101  # the label column: both windows, ends included
    profiles = {"standard": Profile("standard", 1.0, 0.11, 1.0), "low_fn": Profile("low_fn", 1.0, 0.11, 2.0)}
    direct = score_corpus({k: (times, f) for k, f in flags.items()}, windows, profiles)
    from_files = score_corpus(
        {k: (r.timestamps, threshold_scores(r.anomaly_scores, 0.5)) for k, r in read.items()}, windows, profiles
    )
    assert from_files == direct
    assert direct["standard"] > 0  # the detections earned something: the comparison is not of two nulls


@pytest.mark.skipif(not (NAB / "labels").is_dir(), reason=f"{NAB} missing (NAB's data, not part of the repo)")
def test_results_of_a_real_nab_series_score_as_nab_reads_them(tmp_path: Path) -> None:
    key = "realKnownCause/ec2_request_latency_system_failure.csv"
    with (NAB / "data" / key).open() as f:
        rows = list(csv.reader(f))[1:]
    stamps, values = [r[0] for r in rows], [r[1] for r in rows]
    times = [datetime.fromisoformat(s) for s in stamps]
    windows = load_windows(NAB / "labels" / "combined_windows.json")
    detections = onset_rows(times, [w.start + timedelta(hours=1) for w in windows[key]])
    write_results(results_path(tmp_path, "vigil", key), stamps, values, detections, windows[key])
    read = load_detector_results(tmp_path, "vigil")[key]
    assert len(read.timestamps) == 4032  # NAB's 12 rows sharing 2014-03-09 03:00 kept, in file order
    profiles = load_profiles(NAB / "config" / "profiles.json")
    assert score_corpus({key: (read.timestamps, threshold_scores(read.anomaly_scores, 1.0))}, windows, profiles) == (
        score_corpus({key: (times, detections)}, windows, profiles)
    )
