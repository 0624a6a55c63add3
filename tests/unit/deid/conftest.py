"""Shared fixtures for the de-identification tests: models load once per session."""

from __future__ import annotations

import pytest

from models.deid.engine import PresidioDeidentifier
from models.deid.recognizers.chinese_ner import ChineseNerRecognizer

KEY = b"unit-test-pseudonym-key-32-bytes"
OTHER_KEY = b"another-pseudonym-key-of-32bytes"


@pytest.fixture(scope="session")
def ner_engine() -> PresidioDeidentifier:
    """The full cascade (spaCy + jiagu); loading takes seconds, so it is shared by the session."""
    return PresidioDeidentifier(pseudonym_key=KEY, operators={})


@pytest.fixture(scope="session")
def chinese_ner() -> ChineseNerRecognizer:
    return ChineseNerRecognizer()
