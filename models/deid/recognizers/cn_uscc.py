"""Recognizer for 18-character unified social credit codes of PRC organisations (GB 32100-2015)."""

from __future__ import annotations

from presidio_analyzer import Pattern

from models.deid.recognizers._declared import DeclaredPatternRecognizer
from models.deid.syntax.cn_uscc import USCC_REGEX, is_valid_uscc


class CnUsccRecognizer(DeclaredPatternRecognizer):
    """Finds unified social credit codes and keeps those whose check character is correct."""

    ENTITY = "CN_USCC"
    PATTERNS = (Pattern("cn_uscc", USCC_REGEX, 0.3),)
    CONTEXT = ("统一社会信用代码", "信用代码", "社会信用代码", "税号", "纳税人识别号", "credit code", "uscc")
    CHECKSUM = staticmethod(is_valid_uscc)
