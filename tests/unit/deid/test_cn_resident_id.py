"""CN_RESIDENT_ID: 18-character resident IDs with a real birth date and a MOD 11-2 check character."""

from __future__ import annotations

import datetime as dt

import pytest

from models.deid.recognizers.cn_resident_id import CnResidentIdRecognizer
from models.deid.syntax.cn_resident_id import is_valid_resident_id

from ._helpers import found, resident_id, wrong_check

RECOGNIZER = CnResidentIdRecognizer()
VALID_IDS = [
    resident_id(),  # the standard's own example, 11010519491231002X
    resident_id("440305", "19900307", "123"),
    resident_id("310104", "20010228", "456"),
    resident_id("510107", "19851111", "017"),
]


def test_helper_reproduces_the_published_example() -> None:
    assert resident_id() == "11010519491231002X"


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_id_in_chinese_text_is_found(value: str) -> None:
    assert found(RECOGNIZER, f"客户身份证号{value}，已核实") == [value]


def test_lower_case_x_check_char_is_accepted() -> None:
    value = resident_id()
    assert found(RECOGNIZER, f"ID: {value.lower()}") == [value.lower()]


@pytest.mark.parametrize("separator", [" ", "-"])
def test_grouped_6_8_4_spelling_is_found(separator: str) -> None:
    value = resident_id("440305", "19900307", "123")
    spelled = separator.join([value[:6], value[6:14], value[14:]])
    assert found(RECOGNIZER, f"证件号 {spelled} 有效") == [spelled]


@pytest.mark.parametrize("value", VALID_IDS)
def test_wrong_check_character_is_not_reported(value: str) -> None:
    assert found(RECOGNIZER, f"身份证{wrong_check(value)}") == []


@pytest.mark.parametrize(
    ("area", "birth", "sequence"),
    [("110105", "19490231", "002"), ("110105", "19491301", "002"), ("110105", "18991231", "002")],
)
def test_impossible_birth_date_is_rejected_even_with_a_correct_check_char(area: str, birth: str, sequence: str) -> None:
    assert found(RECOGNIZER, resident_id(area, birth, sequence)) == []
    assert not is_valid_resident_id(resident_id(area, birth, sequence))


def test_birth_date_in_the_future_is_rejected() -> None:
    value = resident_id("110105", "20300101", "002")
    assert not is_valid_resident_id(value, today=dt.date(2026, 1, 1))
    assert is_valid_resident_id(value, today=dt.date(2031, 1, 1))


@pytest.mark.parametrize("around", ["1{}", "{}1", "A{}", "{}9876"])
def test_id_embedded_in_a_longer_token_is_not_reported(around: str) -> None:
    assert found(RECOGNIZER, around.format(resident_id())) == []


def test_mixed_separators_are_not_one_id() -> None:
    value = resident_id("440305", "19900307", "123")
    assert found(RECOGNIZER, f"{value[:6]} {value[6:14]}-{value[14:]}") == []
