"""The one set of statistics behind the benches, the demo and the A/B report (no timings asserted)."""

from __future__ import annotations

import pytest

from agents.tools.stats import latency_summary, mean, median, middle_rate, percentile, percentiles, rate, ratio


def test_percentile_interpolates_between_the_closest_ranks_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)  # nearest rank would say 40.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter


def test_the_50th_percentile_is_the_median_for_odd_and_even_counts() -> None:
    for values in ([5.0, 1.0, 3.0], [4.0, 1.0, 3.0, 2.0], [1.0, 2.0, 10.0, 11.0, 12.0, 40.0]):
        assert percentile(values, 50) == median(values, places=None)


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


def test_percentiles_are_rounded_to_a_tenth_and_none_without_values() -> None:
    assert percentiles([1.0, 2.0, 4.0], (50, 95)) == {50: 2.0, 95: 3.8}
    assert percentiles([], (50, 99)) == {50: None, 99: None}


def test_latency_summary_names_each_percentile() -> None:
    assert latency_summary([float(v) for v in range(1, 101)]) == {"p50": 50.5, "p95": 95.0, "p99": 99.0}
    assert latency_summary([40.0, 10.0, 30.0, 20.0], (50, 95)) == {"p50": 25.0, "p95": 38.5}
    assert latency_summary([], (50, 95)) == {"p50": None, "p95": None}


def test_median_of_an_even_count_is_the_mean_of_the_middle_two_and_of_none_is_none() -> None:
    assert median([3.0, 1.0, 4.0, 2.0]) == 2.5
    assert median([5.0]) == 5.0
    assert median([1.0, 2.0, 2.0 / 3.0]) == 1.0
    assert median([0.0, 2.0 / 3.0]) == 0.33
    assert median([0.0, 2.0 / 3.0], places=None) == pytest.approx(1 / 3)
    assert median([]) is None


def test_mean_is_rounded_and_none_without_values() -> None:
    assert mean([1, 2, 4]) == 2.33
    assert mean([1.0, 2.0, 4.0], places=1) == 2.3
    assert mean([]) is None


def test_ratio_is_rounded_and_undefined_without_a_positive_denominator() -> None:
    assert ratio(90.0, 100.0) == 0.9
    assert ratio(2.0, 3.0) == 0.667
    assert ratio(2.0, 3.0, places=2) == 0.67
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 1.0) is None
    assert ratio(1.0, None) is None


def test_rate_is_per_second_to_two_places_and_zero_without_time() -> None:
    assert rate(300, 2.0) == 150.0
    assert rate(10, 3.0) == 3.33
    assert rate(5, 0.0) == 0.0


def test_middle_rate_ignores_the_start_and_the_tail() -> None:
    # 10 acks: a slow start (5 s), 8 acks one per 0.5 s, then a slow tail (10 s later).
    arrivals = [5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 19.0]
    assert middle_rate(arrivals) == 2.0  # the 2nd to the 9th ack: 7 intervals in 3.5 s
    assert middle_rate([1.0]) is None
    assert middle_rate([2.0, 2.0, 2.0, 2.0, 2.0]) is None
