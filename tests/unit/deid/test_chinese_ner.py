"""PERSON/LOCATION/ORGANIZATION in Chinese text: jiagu NER over CJK runs plus the name repairs."""

from __future__ import annotations

import pytest

from models.deid.recognizers.chinese_ner import ChineseNerRecognizer

ENTITIES = ["PERSON", "LOCATION", "ORGANIZATION"]


def _spans(recognizer: ChineseNerRecognizer, text: str, entity: str) -> list[str]:
    results = recognizer.analyze(text, ENTITIES)
    return sorted(text[r.start : r.end] for r in results if r.entity_type == entity)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("客户张伟来电咨询订单", "张伟"),
        ("联系人：王芳", "王芳"),
        ("投诉人马桂英，电话未接通", "马桂英"),
        ("经办人曾冬梅已签字确认", "曾冬梅"),
        ("李秀英女士要求退款", "李秀英"),
        ("本次会议由欧阳娜娜主持", "欧阳娜娜"),
    ],
)
def test_short_names_in_crm_notes_are_found(chinese_ner: ChineseNerRecognizer, text: str, name: str) -> None:
    assert name in _spans(chinese_ner, text, "PERSON")


def test_offsets_point_into_the_original_mixed_text(chinese_ner: ChineseNerRecognizer) -> None:
    text = "Ticket #42: 客户张伟 (VIP) 来电, 联系人：王芳 said hello"
    people = [r for r in chinese_ner.analyze(text, ENTITIES) if r.entity_type == "PERSON"]
    assert sorted(text[r.start : r.end] for r in people) == ["张伟", "王芳"]


def test_places_and_organisations_are_mapped(chinese_ner: ChineseNerRecognizer) -> None:
    text = "北京大学的李明今天去了上海"
    assert "上海" in _spans(chinese_ner, text, "LOCATION")
    assert "北京大学" in _spans(chinese_ner, text, "ORGANIZATION")


@pytest.mark.parametrize(
    "text",
    ["客户马上来电，周末很高兴", "今天天气很好，我们明天开会", "客户于昨日来电咨询", "请在工作日内回复"],
)
def test_common_words_next_to_cues_are_not_names(chinese_ner: ChineseNerRecognizer, text: str) -> None:
    assert _spans(chinese_ner, text, "PERSON") == []


def test_text_without_chinese_yields_nothing(chinese_ner: ChineseNerRecognizer) -> None:
    assert chinese_ner.analyze("John Smith called from London about order 42", ENTITIES) == []
    assert chinese_ner.analyze("", ENTITIES) == []


def test_only_requested_entities_are_returned(chinese_ner: ChineseNerRecognizer) -> None:
    results = chinese_ner.analyze("北京大学的李明今天去了上海", ["LOCATION"])
    assert results
    assert {r.entity_type for r in results} == {"LOCATION"}


@pytest.mark.parametrize("text", ["付款卡号6248906828836075984", "请核对账号和单号", "联系电话和邮箱已更新"])
def test_field_labels_before_values_are_not_persons(chinese_ner: ChineseNerRecognizer, text: str) -> None:
    persons = [r for r in chinese_ner.analyze(text, ["PERSON"])]
    assert persons == [], [text[r.start : r.end] for r in persons]


def test_loading_the_recognizer_again_leaves_dictionary_frequencies_as_they_were() -> None:
    # jiagu adds a dictionary's counts on every load; a second load once halved every threshold in effect.
    from models.deid.recognizers.chinese_ner import _vocab_freq

    before = _vocab_freq("明天")
    ChineseNerRecognizer()
    assert _vocab_freq("明天") == before > 0
