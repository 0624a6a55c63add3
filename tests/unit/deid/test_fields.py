"""Declared PII fields are replaced whole by their operator, whatever a recognizer would have said."""

from __future__ import annotations

import pytest

from models.deid.fields import DeclaredFieldAnonymizer
from models.deid.pseudonyms import pseudonym

KEY = b"k" * 32


def test_declared_name_is_pseudonymised_even_if_no_recognizer_knows_it() -> None:
    anonymizer = DeclaredFieldAnonymizer(pseudonym_key=KEY, operators={})
    replacement, subject = anonymizer.anonymize("Zyx Qwv", "PERSON")
    assert replacement == pseudonym("Zyx Qwv", "PERSON", KEY)
    assert "Zyx" not in replacement
    assert subject is None  # a name is not an identifier: it does not define a data subject


def test_declared_phone_gives_the_same_subject_as_in_free_text() -> None:
    anonymizer = DeclaredFieldAnonymizer(pseudonym_key=KEY, operators={"CN_MOBILE": "replace"})
    replacement, subject = anonymizer.anonymize("+86 139 1234 5678", "CN_MOBILE")
    assert replacement == "<CN_MOBILE>"
    assert subject == pseudonym("13912345678", "CN_MOBILE", KEY)


def test_mask_and_redact_operators_apply_to_declared_fields() -> None:
    anonymizer = DeclaredFieldAnonymizer(pseudonym_key=KEY, operators={"BANK_CARD": "mask", "LOCATION": "redact"})
    assert anonymizer.anonymize("6222020200112233445", "BANK_CARD")[0] == "*" * 15 + "3445"
    assert anonymizer.anonymize("上海市浦东新区世纪大道100号", "LOCATION") == ("", None)


def test_an_unknown_operator_fails_when_the_anonymizer_is_built() -> None:
    with pytest.raises(ValueError, match="'shred' for PERSON"):
        DeclaredFieldAnonymizer(pseudonym_key=KEY, operators={"PERSON": "shred"})
