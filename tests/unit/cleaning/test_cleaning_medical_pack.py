"""The bundled medical pack: prescription abbreviations and dosage units, and what they must not touch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from models.cleaning import RuleEngine


@pytest.mark.parametrize(
    ("term", "expansion"),
    [
        ("qd", "每日一次"),
        ("bid", "每日两次"),
        ("tid", "每日三次"),
        ("qid", "每日四次"),
        ("qod", "隔日一次"),
        ("qn", "每晚一次"),
        ("qh", "每小时一次"),
        ("q8h", "每8小时一次"),
        ("prn", "必要时"),
        ("po", "口服"),
        ("iv", "静脉注射"),
        ("ac", "饭前"),
        ("pc", "饭后"),
        ("hs", "睡前"),
    ],
)
@pytest.mark.parametrize("spelling", [str.lower, str.upper, str.capitalize])
def test_each_abbreviation_expands_in_any_case(
    bundled: RuleEngine, term: str, expansion: str, spelling: Callable[[str], str]
) -> None:
    assert bundled.clean(f"用法 {spelling(term)} 即可").text == f"用法 {expansion} 即可"


def test_mixed_chinese_english_prescription(bundled: RuleEngine) -> None:
    result = bundled.clean("阿莫西林500MG口服tid")
    # The unit gets one space after the number; an expansion is inserted with no spaces added.
    assert result.text == "阿莫西林500 mg口服每日三次"
    assert result.rule_hits == {"medical.frequency": 1, "medical.unit_mg": 1}


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("口服bid", "口服每日两次"),
        ("bid，饭后", "每日两次，饭后"),
        ("（tid）", "（每日三次）"),
        ("5 mg po bid.", "5 mg 口服 每日两次."),
        ("po/iv", "口服/静脉注射"),
        ("qd;bid", "每日一次;每日两次"),
        ("用法:prn", "用法:必要时"),
        ("头孢曲松 2克 iv q12h", "头孢曲松 2 g 静脉注射 每12小时一次"),
    ],
)
def test_abbreviations_next_to_cjk_and_punctuation_expand(bundled: RuleEngine, raw: str, cleaned: str) -> None:
    assert bundled.clean(raw).text == cleaned


@pytest.mark.parametrize(
    "text",
    [
        "bidding forbid Qdrant tidy liquid poster acid pcs hsbc",
        "BIDS, Tidal, QDII, prone, ivory, action, PCR, HSV, ipo, ACE",
        "qdq bidbid tidq",
    ],
)
def test_words_that_merely_contain_an_abbreviation_are_untouched(bundled: RuleEngine, text: str) -> None:
    assert bundled.clean(text).text == text


@pytest.mark.parametrize(
    "text",
    [
        "SKU bid-3 and tid-2",  # product codes: a hyphen joins the token to its neighbour
        "hs-CRP 升高",  # high-sensitivity CRP, not "at bedtime"
        "3bid x2",  # a digit glued on makes it an identifier
        "qd_flag bid_2",  # underscores likewise
        "mail bid@example.org",  # e-mail local part
        "see messages.po and po.example.com",  # dotted names
        "bid\u0301",  # a combining accent makes it a different word
    ],
)
def test_abbreviations_glued_to_digits_underscores_hyphens_or_dots_are_untouched(
    bundled: RuleEngine, text: str
) -> None:
    assert bundled.clean(text).text == text


@pytest.mark.parametrize(
    "text",
    [
        "IV期肺癌",
        "NYHA IV 级",
        "stage IV disease",
        "Grade iv",
        "AC方案化疗",
        "PC端登录",
        "HS编码 3004",
    ],
)
def test_context_exclusions_keep_stages_and_regimens(bundled: RuleEngine, text: str) -> None:
    assert bundled.clean(text).text == text


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("5毫克", "5 mg"),
        ("5MG", "5 mg"),
        ("5 mg", "5 mg"),
        ("5mg", "5 mg"),
        ("5  Mg", "5 mg"),
        ("10毫升", "10 ml"),
        ("10ML", "10 ml"),
        ("10 mL", "10 ml"),
        ("0.5g", "0.5 g"),
        ("2克", "2 g"),
        ("500μg", "500 mcg"),
        ("500µg", "500 mcg"),
        ("500微克", "500 mcg"),
        ("500 MCG", "500 mcg"),
        ("1,000mg", "1,000 mg"),
        ("5-10mg", "5-10 mg"),
        ("５ｍｇ", "5 mg"),
    ],
)
def test_units_attached_to_a_number_are_normalised(bundled: RuleEngine, raw: str, cleaned: str) -> None:
    assert bundled.clean(raw).text == cleaned


@pytest.mark.parametrize(
    "text",
    [
        "毫克数不详",  # a unit word without a number
        "mg ml g",  # bare units
        "5G网络",  # g is case-sensitive: this is the network
        "5 grams",  # the alias runs on into a letter
        "维生素B12mg",  # the number continues a token
        "12,5mg",  # a decimal comma is ambiguous: left for a human
        "5千克",  # kilograms are not grams
    ],
)
def test_units_without_a_clean_number_are_untouched(bundled: RuleEngine, text: str) -> None:
    assert bundled.clean(text).text == text


def test_already_canonical_units_are_not_counted_as_hits(bundled: RuleEngine) -> None:
    result = bundled.clean("5 mg 和 10毫升")
    assert result.text == "5 mg 和 10 ml"
    assert result.rule_hits == {"medical.unit_ml": 1}


def test_abbreviation_before_unit_word_expands_and_frees_the_unit(bundled: RuleEngine) -> None:
    # "毫克" glued to "bid" is not a unit until "bid" is expanded; the pack orders rules for this.
    assert bundled.clean("5毫克bid").text == "5 mg每日两次"
