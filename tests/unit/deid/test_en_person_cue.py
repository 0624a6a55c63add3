"""English names after a cue word are found; capitalised non-names and lower-case words are not."""

from __future__ import annotations

import pytest

from models.deid.recognizers.en_person_cue import EnglishCuedPersonRecognizer

recognizer = EnglishCuedPersonRecognizer()


def found(text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["PERSON"])]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Met Jill Hays at the Shanghai expo", "Jill Hays"),
        ("will meet Hunter English next week", "Hunter English"),
        ("meeting with Rebecca Hines on Monday", "Rebecca Hines"),
        ("Follow-up call with Crystal Walton: wants a quote", "Crystal Walton"),
        ("spoke to Mary-Ann O'Neil yesterday", "Mary-Ann O'Neil"),
        ("Dear John A. Smith,", "John A. Smith"),
        ("客户 met Diana Valdez 在展会", "Diana Valdez"),
    ],
)
def test_cued_names_are_found(text: str, name: str) -> None:
    assert found(text) == [name]


@pytest.mark.parametrize(
    "text",
    [
        "Met the Sales Team at noon",  # not a name after the cue
        "call with support about billing",  # lower case
        "Jill Hays signed",  # no cue: left to the NER model
        "metal Works Ltd",  # the cue must be a whole word
    ],
)
def test_non_names_are_not_reported(text: str) -> None:
    assert found(text) == []


def test_other_entity_requests_get_nothing() -> None:
    assert recognizer.analyze("Met Jill Hays", ["LOCATION"]) == []
