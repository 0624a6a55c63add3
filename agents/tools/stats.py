"""The statistics every figure of the benches, the demo and the A/B report is computed with, defined once.

Percentiles interpolate linearly between the two closest ranks: numpy's and pandas' default (Hyndman and Fan
type 7, Excel's PERCENTILE.INC). The 50th percentile is then the ordinary median, so `median` and `p50` never
disagree, and anyone recomputing a figure from per-request latencies with numpy gets the same number. The bench
figures in the README were measured this way.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of values, interpolated between the closest ranks; raises on no values."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0 and 100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentiles(values: Sequence[float], quantiles: Iterable[int], places: int = 1) -> dict[int, float | None]:
    """Each percentile in quantiles, rounded to places; None for each when there are no values."""
    return {q: round(percentile(values, q), places) if values else None for q in quantiles}


def latency_summary(values_ms: Sequence[float], quantiles: Iterable[int] = (50, 95, 99)) -> dict[str, float | None]:
    """{"p50": …, "p95": …, "p99": …} in milliseconds to 0.1 ms; None for each when nothing was measured."""
    return {f"p{q}": value for q, value in percentiles(values_ms, quantiles).items()}


def median(values: Iterable[float], places: int | None = 2) -> float | None:
    """The median (the mean of the middle two for an even count), rounded to places unless None; None for no
    values."""
    listed = list(values)
    if not listed:
        return None
    middle = float(statistics.median(listed))
    return middle if places is None else round(middle, places)


def mean(values: Sequence[float], places: int = 2) -> float | None:
    """The arithmetic mean rounded to places; None for no values."""
    return round(sum(values) / len(values), places) if values else None


def ratio(numerator: float | None, denominator: float | None, places: int = 3) -> float | None:
    """numerator / denominator rounded to places; None where either is missing or the denominator is not
    positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, places)


def rate(count: float, seconds: float) -> float:
    """count per second to 2 places; 0.0 when no time passed."""
    return round(count / seconds, 2) if seconds > 0 else 0.0


def middle_rate(arrivals_s: Sequence[float], share: float = 0.8) -> float | None:
    """Arrivals per second over the middle `share` of them: the rate without the start-up and the tail."""
    ordered = sorted(arrivals_s)
    first, last = round(len(ordered) * (1 - share) / 2), round(len(ordered) * (1 + share) / 2) - 1
    if last <= first or ordered[last] <= ordered[first]:
        return None
    return round((last - first) / (ordered[last] - ordered[first]), 2)
