"""The pattern recognizers as a set: they cover the declared pattern types, and their two kinds of check score
differently (overlap resolution ranks a checksum-proven hit, scored 1.0, above any other)."""

from __future__ import annotations

import pytest

from models.deid.entity_types import PATTERN_TYPES
from models.deid.recognizers import PATTERN_RECOGNIZERS, pattern_recognizers

from ._helpers import luhn, resident_id, uscc


def test_the_registry_covers_exactly_the_pattern_entity_types_in_order() -> None:
    assert tuple(recognizer.ENTITY for recognizer in PATTERN_RECOGNIZERS) == PATTERN_TYPES
    assert [recognizer.supported_entities for recognizer in pattern_recognizers()] == [[t] for t in PATTERN_TYPES]


@pytest.mark.parametrize(
    ("entity_type", "value", "score"),
    [
        ("BANK_CARD", luhn("622202123456789"), 1.0),
        ("CN_RESIDENT_ID", resident_id(), 1.0),
        ("CN_USCC", uscc("91110000600037341"), 1.0),
        ("CN_MOBILE", "13812345678", 0.7),
        ("EMAIL_ADDRESS", "zhang.wei@example.com.cn", 0.8),
        ("IP_ADDRESS", "192.168.1.20", 0.6),
    ],
)
def test_a_checksum_pass_scores_one_and_a_plausibility_pass_keeps_the_pattern_score(
    entity_type: str, value: str, score: float
) -> None:
    (recognizer,) = [r for r in pattern_recognizers() if entity_type in r.supported_entities]
    results = recognizer.analyze(f"见 {value} 。", [entity_type])
    assert [(r.entity_type, r.score) for r in results] == [(entity_type, pytest.approx(score))]
