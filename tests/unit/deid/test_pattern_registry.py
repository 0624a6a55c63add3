"""The pattern recognizers as a set: they cover the declared pattern types, and their two kinds of check score
differently (overlap resolution ranks a checksum-proven hit, scored 1.0, above any other)."""

from __future__ import annotations

import pytest

from models.deid.entity_types import PATTERN_TYPES
from models.deid.recognizers import PATTERN_RECOGNIZERS, pattern_recognizers
from models.deid.syntax import PATTERN_SYNTAX, REGEX_FLAGS

from ._helpers import USCC_ALPHABET, luhn, resident_id, uscc, wrong_check


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


def test_each_recognizer_wraps_exactly_the_presidio_free_syntax_of_its_type() -> None:
    # The identifier lookup runs models.deid.syntax without Presidio: it must be what the recognizers run.
    for recognizer_class, recognizer in zip(PATTERN_RECOGNIZERS, pattern_recognizers(), strict=True):
        syntax = PATTERN_SYNTAX[recognizer_class.ENTITY]
        assert tuple(p.regex for p in recognizer.patterns) == syntax.regexes
        assert recognizer_class.CHECKSUM is syntax.checksum
        assert recognizer_class.PLAUSIBILITY is syntax.plausibility
        assert recognizer.global_regex_flags == REGEX_FLAGS
    assert set(PATTERN_SYNTAX) == set(PATTERN_TYPES)


@pytest.mark.parametrize(
    ("entity_type", "value"),
    [
        ("BANK_CARD", luhn("622202123456789")),
        ("BANK_CARD", "6222 0212 3456 7890 123"),
        ("BANK_CARD", luhn("622202123456789")[:-1] + "0"),
        ("BANK_CARD", "0000000000000000"),
        ("CN_RESIDENT_ID", resident_id()),
        ("CN_RESIDENT_ID", resident_id().lower()),
        ("CN_RESIDENT_ID", wrong_check(resident_id())),
        ("CN_RESIDENT_ID", resident_id(birth="18991231")),
        ("CN_USCC", uscc("91110000600037341")),
        ("CN_USCC", uscc("91110000600037341").lower()),
        ("CN_USCC", wrong_check(uscc("91110000600037341"), USCC_ALPHABET)),
        ("CN_MOBILE", "13812345678"),
        ("CN_MOBILE", "+86 138-1234-5678"),
        ("CN_MOBILE", "(86)138 1234 5678"),
        ("CN_MOBILE", "13800000000"),
        ("CN_MOBILE", "12812345678"),
        ("CN_MOBILE", "138123456789"),
        ("EMAIL_ADDRESS", "zhang.wei@example.com.cn"),
        ("EMAIL_ADDRESS", "bob@example.invalidtld"),
        ("EMAIL_ADDRESS", "not-an-address"),
        ("IP_ADDRESS", "192.168.1.20"),
        ("IP_ADDRESS", "2001:db8::1"),
        ("IP_ADDRESS", "::1"),
        ("IP_ADDRESS", "256.1.1.1"),
        ("IP_ADDRESS", "1.2.3.4.5"),
    ],
)
def test_the_syntax_finds_a_whole_value_exactly_when_its_recognizer_does(entity_type: str, value: str) -> None:
    (recognizer,) = [r for r in pattern_recognizers() if entity_type in r.supported_entities]
    by_recognizer = any((r.start, r.end) == (0, len(value)) for r in recognizer.analyze(value, [entity_type]))
    assert PATTERN_SYNTAX[entity_type].matches_whole(value) is by_recognizer
