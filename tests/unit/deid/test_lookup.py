"""The pseudonym of one raw identifier equals the subject pseudonym ingest stores, in any spelling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.deid.engine import PresidioDeidentifier
from models.deid.fields import DeclaredFieldAnonymizer
from models.deid.lookup import identifier_pseudonym, recognised_as
from tests.unit.deid.conftest import KEY

ID_NUMBER = "11010519491231002X"
PHONE = "13912345678"
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("value", "entity_type", "text"),
    [
        (ID_NUMBER, "CN_RESIDENT_ID", f"客户身份证 {ID_NUMBER} 要求退货"),
        ("110105 19491231 002x", "CN_RESIDENT_ID", f"身份证号{ID_NUMBER}"),
        ("+86 139 1234 5678", "CN_MOBILE", f"手机 {PHONE}，请回电"),
        ("１３９１２３４５６７８", "CN_MOBILE", "联系电话139-1234-5678"),
        ("Li.Lei@Example.com", "EMAIL_ADDRESS", "mail li.lei@example.com today"),
    ],
)
def test_lookup_matches_the_subjects_of_free_text_and_declared_fields(value: str, entity_type: str, text: str) -> None:
    looked_up = identifier_pseudonym(value, entity_type, KEY)
    engine = PresidioDeidentifier(pseudonym_key=KEY, operators={}, ner_enabled=False)
    assert engine.deidentify_batch([text])[0].subjects == (looked_up.pseudonym,)
    _, declared_subject = DeclaredFieldAnonymizer(pseudonym_key=KEY, operators={}).anonymize(value, entity_type)
    assert declared_subject == looked_up.pseudonym
    assert looked_up.recognised is True


def test_a_value_the_recognizers_reject_still_gets_its_pseudonym_but_is_flagged() -> None:
    wrong_check_digit = ID_NUMBER[:-1] + "1"
    looked_up = identifier_pseudonym(wrong_check_digit, "CN_RESIDENT_ID", KEY)
    assert looked_up.recognised is False
    assert looked_up.pseudonym.startswith("<CN_RESIDENT_ID_") and wrong_check_digit not in looked_up.pseudonym
    assert recognised_as("12345", "CN_MOBILE") is False


def test_types_without_a_pattern_recognizer_are_neither_accepted_nor_rejected() -> None:
    assert recognised_as("张伟", "PERSON") is None


def test_looking_up_an_identifier_loads_no_presidio_spacy_or_torch() -> None:
    # Importing Presidio loads spaCy, transformers and torch: 9 of the 10 s `sluice forget --identifier` took.
    probe = (
        "import sys; from models.deid.lookup import identifier_pseudonym; "
        "looked_up = identifier_pseudonym('+86 139 1234 5678', 'CN_MOBILE', b'k' * 32); "
        "assert looked_up.recognised is True, looked_up; "
        "heavy = sorted({'presidio_analyzer', 'spacy', 'torch', 'transformers'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
