"""CN_USCC: 18-character unified social credit codes with the GB 32100-2015 check character."""

from __future__ import annotations

import pytest

from models.deid.recognizers.cn_uscc import CnUsccRecognizer
from models.deid.syntax.cn_uscc import is_valid_uscc

from ._helpers import USCC_ALPHABET, found, resident_id, uscc, wrong_check

RECOGNIZER = CnUsccRecognizer()
# Company (91), public institution (12) and social organisation (52) bodies; check chars computed.
BODIES = [
    "91350100M000100Y4",
    "91110000802100433",
    "12100000400000860",
    "91440300MA5ABCDE1",
    "52440300MJL012345",
]


def _codes() -> list[str]:
    return [uscc(body) for body in BODIES]


def test_helper_reproduces_a_published_code() -> None:
    assert uscc("91350100M000100Y4") == "91350100M000100Y43"


@pytest.mark.parametrize("code", _codes())
def test_valid_code_is_found(code: str) -> None:
    assert found(RECOGNIZER, f"统一社会信用代码：{code}。") == [code]


def test_lower_case_code_is_found_and_validated() -> None:
    code = uscc("91440300MA5ABCDE1")
    assert found(RECOGNIZER, f"code {code.lower()}") == [code.lower()]


@pytest.mark.parametrize("code", _codes())
def test_wrong_check_character_is_not_reported(code: str) -> None:
    assert found(RECOGNIZER, f"信用代码{wrong_check(code, USCC_ALPHABET)}") == []


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_letters_outside_the_code_alphabet_are_rejected(letter: str) -> None:
    code = uscc("91440300MA5ABCDE1")
    assert not is_valid_uscc(code[:10] + letter + code[11:])


def test_code_glued_to_more_characters_is_not_reported() -> None:
    code = uscc("91350100M000100Y4")
    assert found(RECOGNIZER, f"X{code}") == []
    assert found(RECOGNIZER, f"{code}7") == []


def test_a_resident_id_is_not_mistaken_for_a_credit_code_unless_its_check_matches() -> None:
    identifier = resident_id()
    assert is_valid_uscc(identifier) == (uscc(identifier[:17]) == identifier)
