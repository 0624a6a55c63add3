"""NER span refinement: cue words, acronyms and protected identifiers stay outside; persons win over other labels."""

from __future__ import annotations

import pytest

from models.deid.ner_spans import cut_out, refine_ner_spans
from models.deid.overlaps import Detection
from models.deid.syntax.name_words import is_code_word, is_not_name_word


def span(text: str, value: str, entity_type: str = "PERSON") -> Detection:
    start = text.index(value)
    return Detection(entity_type, start, start + len(value), 0.85, from_pattern=False)


def refined(text: str, *detections: Detection) -> list[tuple[str, str]]:
    return [(d.entity_type, text[d.start : d.end]) for d in refine_ner_spans(text, detections)]


@pytest.mark.parametrize(
    ("text", "tagged", "name"),
    [
        ("Customer Evelyn Nguyen asked", "Customer Evelyn Nguyen", "Evelyn Nguyen"),
        ("Dr. Alice Brown called", "Dr. Alice Brown", "Alice Brown"),
        ("Mr John Smith called", "Mr John Smith", "John Smith"),
        ("Met Jill Hays at noon", "Met Jill Hays", "Jill Hays"),
        ("ask Evelyn Nguyen, please", "Evelyn Nguyen,", "Evelyn Nguyen"),
        ("(Evelyn Nguyen)", "(Evelyn Nguyen)", "Evelyn Nguyen"),
        ("Patricia Fox ERP owner", "Patricia Fox ERP", "Patricia Fox"),
        ("客户张伟来电", "客户张伟", "张伟"),
        ("李娜女士到访", "李娜女士", "李娜"),
        ("王经理说", "王经理", "王"),
        ("经理William Villa已批准", "经理William Villa", "William Villa"),
    ],
)
def test_cue_words_titles_and_punctuation_stay_outside_the_name(text: str, tagged: str, name: str) -> None:
    assert refined(text, span(text, tagged)) == [("PERSON", name)]


@pytest.mark.parametrize(
    ("text", "tagged"),
    [
        ("Ethan Case called", "Ethan Case"),  # a business word after a name may be the surname
        ("Mary-Ann O'Neil said", "Mary-Ann O'Neil"),
        ("Will Smith arrived", "Will Smith"),
    ],
)
def test_names_that_look_like_cue_words_are_kept_whole(text: str, tagged: str) -> None:
    assert refined(text, span(text, tagged)) == [("PERSON", tagged)]


@pytest.mark.parametrize(
    ("text", "tagged", "entity_type"),
    [
        ("via ERP today", "ERP", "ORGANIZATION"),
        ("the CRM and the API", "CRM", "PERSON"),
        ("SKU stock", "SKU", "LOCATION"),
        ("IBM and WMS", "IBM and WMS", "ORGANIZATION"),  # all short capitals: not a company name by itself
        ("Supplier contact", "Supplier", "PERSON"),
        ("Order 12345678", "Order 12345678", "ORGANIZATION"),
        ("经理说", "经理", "PERSON"),
    ],
)
def test_spans_with_no_name_left_are_dropped(text: str, tagged: str, entity_type: str) -> None:
    assert refined(text, span(text, tagged, entity_type)) == []


def test_a_person_wins_over_an_organisation_that_covers_it() -> None:
    text = "Dear Mary Evans, thanks"
    assert refined(text, span(text, "Dear Mary Evans", "ORGANIZATION"), span(text, "Mary Evans")) == [
        ("PERSON", "Mary Evans")
    ]


def test_what_an_organisation_holds_beside_a_person_stays_an_organisation() -> None:
    text = "Evelyn Nguyen Trading Co"
    assert refined(text, span(text, text, "ORGANIZATION"), span(text, "Evelyn")) == [
        ("PERSON", "Evelyn Nguyen"),  # completed by the capitalised word beside it
        ("ORGANIZATION", "Trading Co"),
    ]


@pytest.mark.parametrize(
    ("text", "tagged", "entity_type", "completed"),
    [
        ("for Taylor Davenport: 3 units", "Taylor", "PERSON", "Taylor Davenport"),
        ("for Destiny Gibbs: 3 units", "Gibbs", "PERSON", "Destiny Gibbs"),
        ("for Justin Clark: 3 units", "Justin", "ORGANIZATION", "Justin Clark"),
    ],
)
def test_a_one_word_half_of_a_name_takes_in_the_other_half(
    text: str, tagged: str, entity_type: str, completed: str
) -> None:
    assert refined(text, span(text, tagged, entity_type)) == [(entity_type, completed)]


@pytest.mark.parametrize(
    ("text", "tagged"),
    [
        ("Taylor Order placed", "Taylor"),  # a business word is not the other half
        ("Taylor Paris trip", "Taylor"),  # nor a known place
        ("Taylor called", "Taylor"),  # lower case
        ("Taylor Evelyn Nguyen", "Evelyn Nguyen"),  # already two words
    ],
)
def test_completion_takes_no_cue_place_lower_case_word_or_third_word(text: str, tagged: str) -> None:
    assert refined(text, span(text, tagged)) == [("PERSON", tagged)]


def test_addresses_keep_their_numbers_and_street_words() -> None:
    text = "ship to 12 Baker Street."
    assert refined(text, span(text, "12 Baker Street.", "ADDRESS")) == [("ADDRESS", "12 Baker Street")]


def test_cut_out_removes_protected_spans_and_keeps_both_sides() -> None:
    text = "Evelyn Nguyen SO-46342748 Paris"
    start = text.index("SO-")
    pieces = cut_out([span(text, text, "PERSON")], [(start, start + len("SO-46342748"))])
    assert [text[d.start : d.end] for d in pieces] == ["Evelyn Nguyen ", " Paris"]
    assert cut_out([span(text, "SO-46342748", "ORGANIZATION")], [(start, start + 11)]) == []


@pytest.mark.parametrize(("word", "code"), [("ERP", True), ("12345", True), ("SaaS", True), ("Case", False)])
def test_code_words(word: str, code: bool) -> None:
    assert is_code_word(word) is code


@pytest.mark.parametrize(("word", "not_name"), [("Customer", True), ("Dr.", True), ("order", True), ("Evelyn", False)])
def test_not_name_words(word: str, not_name: bool) -> None:
    assert is_not_name_word(word) is not_name


@pytest.mark.parametrize("name", ["Per Olsen", "Dean Smith", "Hunter English", "Grant Lee"])
def test_given_names_that_are_also_words_are_not_trimmed_as_cues(name: str) -> None:
    assert refined(f"{name} called", span(f"{name} called", name)) == [("PERSON", name)]
