"""Presidio recognizers for de-identification: one module per entity, checksum-validated where possible."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from models.deid.recognizers._declared import DeclaredPatternRecognizer
from models.deid.recognizers.bank_card import BankCardRecognizer
from models.deid.recognizers.chinese_ner import ChineseNerRecognizer
from models.deid.recognizers.cn_mobile import CnMobileRecognizer
from models.deid.recognizers.cn_resident_id import CnResidentIdRecognizer
from models.deid.recognizers.cn_uscc import CnUsccRecognizer
from models.deid.recognizers.email import EmailAddressRecognizer
from models.deid.recognizers.en_person_cue import EnglishCuedPersonRecognizer
from models.deid.recognizers.ip_address import IpAddressRecognizer
from models.deid.recognizers.mixed_script_person import MixedScriptPersonRecognizer

__all__ = [
    "PATTERN_RECOGNIZERS",
    "BankCardRecognizer",
    "ChineseNerRecognizer",
    "CnMobileRecognizer",
    "CnResidentIdRecognizer",
    "CnUsccRecognizer",
    "DeclaredPatternRecognizer",
    "EmailAddressRecognizer",
    "EnglishCuedPersonRecognizer",
    "IpAddressRecognizer",
    "MixedScriptPersonRecognizer",
    "pattern_recognizers",
]

# The pattern/checksum recognizers, in the order of entity_types.PATTERN_TYPES (a unit test holds them equal).
PATTERN_RECOGNIZERS: tuple[type[DeclaredPatternRecognizer], ...] = (
    CnResidentIdRecognizer,
    CnMobileRecognizer,
    BankCardRecognizer,
    CnUsccRecognizer,
    EmailAddressRecognizer,
    IpAddressRecognizer,
)


def pattern_recognizers(supported_language: str = "en") -> list[EntityRecognizer]:
    """Fresh instances of every pattern/checksum recognizer (no model needed)."""
    return [recognizer(supported_language) for recognizer in PATTERN_RECOGNIZERS]
