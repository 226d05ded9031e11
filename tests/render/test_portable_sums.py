"""The SLO planner's window means come from prefix sums (render/portable.py): they must equal the
plain mean of the window, for every window the planner may ask about, as the timeline grows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vigil.render.portable import sli_variants


def naive(xs: list[float | None], k: int, n: int) -> list[float]:
    out = []
    for lag in range(2):
        for size in (n, n - 1):
            j = k - lag
            part = [x for x in xs[max(1, j - size + 1) : j + 1] if x is not None]
            if part:
                out.append(sum(part) / len(part))
    return out


values = st.one_of(st.none(), st.floats(min_value=0, max_value=1, allow_nan=False))


@given(st.lists(values, max_size=60), st.lists(values, max_size=20), st.integers(0, 90), st.integers(1, 70))
def test_window_means_equal_the_plain_mean_as_the_timeline_grows(
    xs: list[float | None], more: list[float | None], k: int, n: int
) -> None:
    for got, want in zip(sli_variants(xs, k, n), naive(xs, k, n), strict=True):
        assert abs(got - want) <= 1e-9
    xs.extend(more)  # the planner appends to the timeline it is searching
    for got, want in zip(sli_variants(xs, k, n), naive(xs, k, n), strict=True):
        assert abs(got - want) <= 1e-9
