"""The Numenta Anomaly Benchmark (NAB) score of a detector's detections against labelled windows.

Written from the NAB paper (Lavin and Ahmad, ICMLA 2015, arXiv:1510.03336) and the behaviour of
NAB v1's `nab/sweeper.py` and `runner.normalize`, and proven against NAB's published results
(tests/backtest/test_nab.py). For one series and one profile (cost weights from NAB's config/profiles.json):

- The first `probationary_length(n)` rows (15% of the series, at most 750) are ignored: a detector
  is still learning there, so neither its detections nor its silences count.
- Each labelled window (a contiguous run of rows) earns the reward of its *first* detection,
  ``tpWeight * S(-(end - i + 1) / width) / S(-1)``, where S is the scaled sigmoid below: a
  detection on the window's first row earns exactly tpWeight, one on its last row a little more
  than 0. Later detections in the same window earn nothing. A window with no detection costs
  ``-fnWeight``. Windows with no row after the probationary period are not scored at all.
- A detection outside every window is a false positive costing ``fpWeight * S(d)``, where d is its
  distance in rows past the end of the preceding window divided by that window's width - 1: just
  after a window it costs almost nothing (the detection was only late), three window-widths after
  it the full ``-fpWeight``. With no preceding window it costs ``-fpWeight``.
- tnWeight is in NAB's profiles but NAB never uses it, and neither does this scorer.

A corpus's raw score is the sum over its series. It is normalised as NAB does:
``100 * (raw - null) / (perfect - null)``, where the null detector never detects (so it scores
``-fnWeight`` per window) and the perfect detector detects on the first row of every window (so it
scores ``tpWeight`` per window). NAB counts every labelled window for `perfect`; this scorer counts
the windows it can score, which is the same whenever no window lies wholly inside a probationary
period (true of all 116 NAB windows).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# NAB's defaults: the share of a series ignored at its start, capped at 15% of 5000 rows.
PROBATION_PERCENT = 0.15
PROBATION_CAP_ROWS = 5000


@dataclass(frozen=True)
class Window:
    """A labelled anomaly window; both ends are included."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Profile:
    """One of NAB's scoring profiles: the cost matrix of config/profiles.json."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass(frozen=True)
class SeriesScore:
    """One series scored under one profile.

    `contributions` holds each row's share of `score`, laid out as NAB's `S(t)_<profile>` columns
    in results/<detector>/*.csv: a window's reward (or its -fnWeight) sits on the window's first
    row, a false positive's cost on its own row, and every other row is 0. The counts are NAB's
    per-row TP/TN/FP/FN over the rows after the probationary period.
    """

    score: float
    contributions: tuple[float, ...]
    tp: int
    tn: int
    fp: int
    fn: int


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: 2*sigmoid(-5x) - 1, and -1 beyond three widths past a window.

    x = -1 is a window's first row (0.987), 0 its right edge (0), 1 one width past it (-0.987).
    """
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


# The reward of a detection on a window's first row, used to scale that reward to exactly 1.
_MAX_TP = scaled_sigmoid(-1.0)


def probationary_length(rows: int, percent: float = PROBATION_PERCENT) -> int:
    """How many leading rows NAB ignores: 15% of the series, at most 750 rows."""
    return int(min(math.floor(percent * rows), percent * PROBATION_CAP_ROWS))


def window_spans(timestamps: Sequence[datetime], windows: Sequence[Window]) -> list[tuple[int, int]]:
    """Each window as the (first, last) row index it covers, in window order.

    A window covers the rows from the first one at or after its start up to the last one before
    the series leaves it; NAB's windows begin and end on row timestamps, so this is NAB's row range.
    Windows that cover no row are dropped (NAB never enters them either). The timestamps need not
    be strictly increasing: NAB's own files repeat and go back (a DST night, a re-sent hour).
    """
    spans: list[tuple[int, int]] = []
    i = 0
    n = len(timestamps)
    for window in sorted(windows, key=lambda w: w.start):
        if window.end < window.start:
            raise ValueError(f"window ends before it starts: {window.start} > {window.end}")
        while i < n and timestamps[i] < window.start:
            i += 1
        if i == n:
            break
        if timestamps[i] > window.end:
            continue
        first = i
        while i + 1 < n and timestamps[i + 1] <= window.end:
            i += 1
        spans.append((first, i))
        i += 1
    return spans


def score_series_detail(
    timestamps: Sequence[datetime],
    detections: Sequence[bool],
    windows: Sequence[Window],
    profile: Profile,
    probation_percent: float = PROBATION_PERCENT,
) -> SeriesScore:
    """Score one series' detections against its windows under one profile (see the module doc)."""
    n = len(timestamps)
    if len(detections) != n:
        raise ValueError(f"{len(detections)} detections for {n} timestamps")
    spans = window_spans(timestamps, windows)
    probation = probationary_length(n, probation_percent)
    contributions = [0.0] * n
    tp = tn = fp = fn = 0

    span_index = 0  # the next window not yet left behind
    previous: tuple[int, int] | None = None  # the last window left, for false-positive distance
    window_rewards: dict[int, float] = {}
    for i in range(n):
        while span_index < len(spans) and spans[span_index][1] < i:
            previous = spans[span_index]
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= i
        if i < probation:
            continue
        if inside:
            first, last = spans[span_index]
            if not detections[i]:
                fn += 1
                continue
            tp += 1
            if span_index not in window_rewards:  # only the first detection in a window counts
                width = last - first + 1
                reward = scaled_sigmoid(-(last - i + 1) / width) / _MAX_TP
                window_rewards[span_index] = reward * profile.tp_weight
        elif detections[i]:
            fp += 1
            if previous is None:
                cost = -1.0
            else:
                first, last = previous
                # NAB divides by width - 1, which is 0 for a one-row window; count rows then.
                cost = scaled_sigmoid((i - last) / max(last - first, 1))
            contributions[i] = cost * profile.fp_weight
        else:
            tn += 1

    for k, (first, last) in enumerate(spans):
        if last < probation:
            continue  # wholly inside the probationary period: NAB does not score it
        contributions[first] += window_rewards.get(k, -profile.fn_weight)
    return SeriesScore(math.fsum(contributions), tuple(contributions), tp, tn, fp, fn)


def score_series(
    timestamps: Sequence[datetime],
    detections: Sequence[bool],
    windows: Sequence[Window],
    profile: Profile,
    probation_percent: float = PROBATION_PERCENT,
) -> float:
    """The raw NAB score of one series' detections under one profile."""
    return score_series_detail(timestamps, detections, windows, profile, probation_percent).score


def threshold_scores(anomaly_scores: Sequence[float], threshold: float) -> list[bool]:
    """Detections from anomaly scores: NAB detects where the score is at or above the threshold."""
    return [score >= threshold for score in anomaly_scores]


def scorable_windows(
    timestamps: Sequence[datetime], windows: Sequence[Window], probation_percent: float = PROBATION_PERCENT
) -> int:
    """How many windows have a row after the probationary period, i.e. count in the score."""
    probation = probationary_length(len(timestamps), probation_percent)
    return sum(1 for _, last in window_spans(timestamps, windows) if last >= probation)


def perfect_detections(timestamps: Sequence[datetime], windows: Sequence[Window]) -> list[bool]:
    """The perfect detector: a detection on the first row of every window and nowhere else."""
    detections = [False] * len(timestamps)
    for first, _ in window_spans(timestamps, windows):
        detections[first] = True
    return detections


def normalise(raw: float, null: float, perfect: float) -> float:
    """NAB's normalised score: 0 for the null detector, 100 for the perfect one."""
    if perfect == null:
        raise ValueError("the perfect and null scores are equal: there is no window to score")
    return 100.0 * (raw - null) / (perfect - null)


@dataclass(frozen=True)
class CorpusScore:
    """A corpus scored under one profile: the raw sum, both baselines, and the normalised score."""

    profile: str
    raw: float
    null: float
    perfect: float
    normalised: float
    series: Mapping[str, SeriesScore]


def score_corpus_detail(
    detections: Mapping[str, tuple[Sequence[datetime], Sequence[bool]]],
    windows: Mapping[str, Sequence[Window]],
    profile: Profile,
    probation_percent: float = PROBATION_PERCENT,
) -> CorpusScore:
    """Score every series (name -> (timestamps, detections)) under one profile and normalise.

    Every series needs an entry in `windows` (an empty list for a series with no anomaly): a
    missing entry is far more often a misspelt name than a series without incidents.
    """
    missing = sorted(set(detections) - set(windows))
    if missing:
        raise ValueError(f"no labelled windows for {', '.join(missing)}")
    per_series: dict[str, SeriesScore] = {}
    null_parts: list[float] = []
    window_count = 0
    for name in sorted(detections):
        timestamps, flags = detections[name]
        per_series[name] = score_series_detail(timestamps, flags, windows[name], profile, probation_percent)
        counted = scorable_windows(timestamps, windows[name], probation_percent)
        window_count += counted
        null_parts.append(-profile.fn_weight * counted)
    raw = math.fsum(s.score for s in per_series.values())
    null = math.fsum(null_parts)
    perfect = profile.tp_weight * window_count
    return CorpusScore(profile.name, raw, null, perfect, normalise(raw, null, perfect), per_series)


def score_corpus(
    detections: Mapping[str, tuple[Sequence[datetime], Sequence[bool]]],
    windows: Mapping[str, Sequence[Window]],
    profiles: Mapping[str, Profile],
    probation_percent: float = PROBATION_PERCENT,
) -> dict[str, float]:
    """The normalised NAB score of the same detections under each profile: {profile: score}."""
    return {
        name: score_corpus_detail(detections, windows, profile, probation_percent).normalised
        for name, profile in sorted(profiles.items())
    }
