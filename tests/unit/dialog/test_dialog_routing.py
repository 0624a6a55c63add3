"""A/B routing: sticky per session, weighted, zero weight never chosen, bad weights rejected."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from models.dialog import InvalidWeightsError, choose_variant, session_point, variant_label
from schemas.errors import ConfigurationError

SESSIONS = [f"session-{n}" for n in range(10_000)]


def test_same_session_and_weights_always_get_the_same_version() -> None:
    weights = {"1.0.0": 0.5, "1.1.0": 0.5}
    first = [choose_variant(session, weights) for session in SESSIONS[:500]]
    again = [choose_variant(session, dict(reversed(list(weights.items())))) for session in SESSIONS[:500]]
    assert first == again
    assert len(set(first)) == 2


def test_session_point_is_a_stable_value_in_unit_interval() -> None:
    # A fixed value: workers in other processes (and other Python versions) must compute the same one.
    assert session_point("session-1") == 0.6720969550677797
    assert all(0.0 <= session_point(session) < 1.0 for session in SESSIONS[:1000])


@pytest.mark.parametrize(
    "weights",
    [{"1.0.0": 0.9, "1.1.0": 0.1}, {"a": 1, "b": 1, "c": 2}, {"2.0.0": 0.2, "10.0.0": 0.8}],
)
def test_distribution_roughly_follows_weights(weights: dict[str, float]) -> None:
    counts = Counter(choose_variant(session, weights) for session in SESSIONS)
    total = sum(weights.values())
    for version, weight in weights.items():
        # 10k draws: the standard deviation of a share is at most 0.5%; 2.5% is a loose bound.
        assert abs(counts[version] / len(SESSIONS) - weight / total) < 0.025


def test_zero_weight_version_is_never_chosen() -> None:
    weights = {"1.0.0": 0.0, "1.1.0": 1.0, "1.2.0": 0.0}
    assert {choose_variant(session, weights) for session in SESSIONS} == {"1.1.0"}


def test_raising_one_weight_moves_sessions_one_way_only() -> None:
    before = {"1.0.0": 0.9, "1.1.0": 0.1}
    after = {"1.0.0": 0.8, "1.1.0": 0.2}
    moves = Counter((choose_variant(s, before), choose_variant(s, after)) for s in SESSIONS)
    assert moves[("1.1.0", "1.0.0")] == 0
    assert 0.075 < moves[("1.0.0", "1.1.0")] / len(SESSIONS) < 0.125


def test_experiment_salt_reshuffles_sessions() -> None:
    weights = {"a": 1.0, "b": 1.0}
    plain = [choose_variant(session, weights) for session in SESSIONS[:1000]]
    salted = [choose_variant(session, weights, experiment="exp-2") for session in SESSIONS[:1000]]
    assert plain != salted


def test_labels_follow_numeric_version_order_and_survive_zero_weight() -> None:
    weights = {"1.10.0": 1.0, "1.9.0": 0.0, "1.2.0": 1.0}
    assert [variant_label(v, weights) for v in ("1.2.0", "1.9.0", "1.10.0")] == ["A", "B", "C"]
    many = {f"v{n:03d}": 1.0 for n in range(28)}
    assert [variant_label(v, many) for v in ("v000", "v025", "v026", "v027")] == ["A", "Z", "AA", "AB"]
    with pytest.raises(KeyError):
        variant_label("2.0.0", weights)


@pytest.mark.parametrize(
    ("weights", "reason"),
    [
        ({}, "non-empty mapping"),
        ({"1.0.0": -0.1, "1.1.0": 1.0}, "must be a finite number >= 0"),
        ({"1.0.0": math.nan}, "must be a finite number >= 0"),
        ({"1.0.0": math.inf}, "must be a finite number >= 0"),
        ({"1.0.0": True}, "must be a finite number >= 0"),
        ({"1.0.0": "0.5"}, "must be a finite number >= 0"),
        ({"1.0.0": 0.0, "1.1.0": 0}, "sum to more than 0"),
        ({"": 1.0}, "non-empty strings"),
    ],
)
def test_invalid_weights_are_rejected(weights: dict[Any, Any], reason: str) -> None:
    with pytest.raises(InvalidWeightsError, match=reason) as caught:
        choose_variant("session-1", weights)
    assert isinstance(caught.value, ConfigurationError)
