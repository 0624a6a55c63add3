"""The inference bench's pure helpers: percentiles, rates and the fixed workload (no timings asserted)."""

from __future__ import annotations

import re

import pytest

from agents.bench.inference import latency_summary, percentile, rate, workload
from models.dialog import PolicyEngine, load_default_policy


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_and_rate() -> None:
    assert latency_summary([float(v) for v in range(1, 101)]) == {"p50": 50.5, "p95": 95.0, "p99": 99.0}
    assert rate(300, 2.0) == 150.0 and rate(5, 0.0) == 0.0


def test_workload_is_fixed_distinct_mixed_and_goes_to_the_model() -> None:
    prompts = workload(128)
    assert prompts == workload(128) and len(set(prompts)) == 128
    assert workload(64) == prompts[:64]
    chinese = [p for p in prompts[:64] if re.search(r"[\u4e00-\u9fff]", p)]
    assert len(chinese) == 32
    policy = PolicyEngine([load_default_policy()])
    assert {policy.decide(p, tenant="bench", entity_types=[]).action for p in prompts} == {"allow"}
    with pytest.raises(ValueError):
        workload(0)
    with pytest.raises(ValueError):
        workload(129)
