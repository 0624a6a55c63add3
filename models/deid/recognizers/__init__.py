"""Presidio recognizers for de-identification: one module per entity, checksum-validated where possible."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from models.deid.recognizers.bank_card import BankCardRecognizer
from models.deid.recognizers.chinese_ner import ChineseNerRecognizer
from models.deid.recognizers.cn_mobile import CnMobileRecognizer
from models.deid.recognizers.cn_resident_id import CnResidentIdRecognizer
from models.deid.recognizers.cn_uscc import CnUsccRecognizer
from models.deid.recognizers.email import EmailAddressRecognizer
from models.deid.recognizers.en_person_cue import EnglishCuedPersonRecognizer
from models.deid.recognizers.ip_address import IpAddressRecognizer

__all__ = [
    "BankCardRecognizer",
    "ChineseNerRecognizer",
    "CnMobileRecognizer",
    "CnResidentIdRecognizer",
    "CnUsccRecognizer",
    "EmailAddressRecognizer",
    "EnglishCuedPersonRecognizer",
    "IpAddressRecognizer",
    "pattern_recognizers",
]


def pattern_recognizers(supported_language: str = "en") -> list[EntityRecognizer]:
    """Fresh instances of every pattern/checksum recognizer (no model needed)."""
    return [
        CnResidentIdRecognizer(supported_language),
        CnMobileRecognizer(supported_language),
        BankCardRecognizer(supported_language),
        CnUsccRecognizer(supported_language),
        EmailAddressRecognizer(supported_language),
        IpAddressRecognizer(supported_language),
    ]
