"""Recognizer for 18-character PRC resident identity numbers (GB 11643-1999, ISO 7064 MOD 11-2)."""

from __future__ import annotations

from presidio_analyzer import Pattern

from models.deid.recognizers._declared import DeclaredPatternRecognizer
from models.deid.syntax.cn_resident_id import RESIDENT_ID_REGEX, is_valid_resident_id


class CnResidentIdRecognizer(DeclaredPatternRecognizer):
    """Finds resident ID numbers and keeps only those whose birth date and check character are valid."""

    ENTITY = "CN_RESIDENT_ID"
    PATTERNS = (Pattern("cn_resident_id", RESIDENT_ID_REGEX, 0.3),)
    CONTEXT = ("身份证", "身份证号", "证件号", "公民身份号码", "id card", "identity", "resident")
    CHECKSUM = staticmethod(is_valid_resident_id)
