"""Names at a script boundary: English names set in Chinese text, Chinese names set in English text."""

from __future__ import annotations

import pytest

from models.deid.recognizers.chinese_ner import looks_like_full_name
from models.deid.recognizers.mixed_script_person import MixedScriptPersonRecognizer

recognizer = MixedScriptPersonRecognizer()


def found(text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["PERSON"])]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("经理Katrina Mills已批准退款", ["Katrina Mills"]),
        ("请联系Brandi Morris确认发票", ["Brandi Morris"]),
        ("收件人Shannon Hall，地址在新加坡", ["Shannon Hall"]),
        ("CRM备注：Janice Rodriguez（Spain）对此有兴趣", ["Janice Rodriguez"]),
        ("Kelsey Steele在ERP里下单", ["Kelsey Steele"]),
        # 杨辉和 is glued to the English name: Chinese text for jiagu to read, not a name set in English.
        ("杨辉和Sean Park在法国见面", ["Sean Park"]),
        ("Met 陆敏 and Susan Mccarthy in Tokyo", ["陆敏"]),
        ("Spoke to 任凯 (采购) about the order", ["任凯"]),
        ("Contact person：冷雪梅，Tel 13800000000", ["冷雪梅"]),
        ("Please ask 向莉 to approve", ["向莉"]),  # 向 is a surname here, not the preposition
        ("邹杨先生 and Rhonda Patel agreed", ["邹杨"]),  # the honorific stays outside
        ("曹英 from our Spain office", ["曹英"]),
        ("Customer 欧阳娜娜 called", ["欧阳娜娜"]),
    ],
)
def test_names_across_the_script_boundary_are_found(text: str, names: list[str]) -> None:
    assert found(text) == names


@pytest.mark.parametrize(
    "text",
    [
        "Met Jill Hays at the expo",  # English in English: spaCy's and the cue recognizer's job
        "客户张伟来电",  # Chinese in Chinese: jiagu's job
        "发货地New York，周五到",  # a known place; and 周五到 is Chinese after an English word, not set in English
        "用ERP，周五到货",
        "联系Customer Service处理",  # a business phrase, not a name
        "请用ERP系统",  # an acronym
        "ship to 北京 by Friday",  # a city, not a surname + given name
        "the 明天 meeting",  # a common word
        "Order (采购) pending",  # 采 is no surname
    ],
)
def test_places_words_and_single_script_text_are_not_reported(text: str) -> None:
    assert found(text) == []


def test_a_name_glued_to_latin_letters_is_not_set_in_chinese() -> None:
    assert found("邮箱abcEvelyn Nguyen在") == []


@pytest.mark.parametrize(
    ("text", "alone", "expected"),
    [
        ("陆敏", False, True),
        ("高兴", False, False),  # a common word
        ("向莉", False, False),  # 向 is a preposition in Chinese text...
        ("向莉", True, True),  # ...and a surname when the run stands alone in English
        ("北京", True, False),
    ],
)
def test_full_name_shape(text: str, alone: bool, expected: bool) -> None:
    assert looks_like_full_name(text, standing_alone=alone) is expected
