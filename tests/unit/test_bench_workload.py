"""The inference benches' fixed workload: the same distinct prompts every time, all of them for the model."""

from __future__ import annotations

import re

import pytest

from agents.bench.workload import workload
from models.dialog import PolicyEngine, load_default_policy


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
