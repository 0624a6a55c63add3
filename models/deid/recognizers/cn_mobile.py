"""Recognizer for mainland China mobile numbers (1[3-9]x xxxx xxxx) with optional +86 / 0086 prefix."""

from __future__ import annotations

from presidio_analyzer import Pattern

from models.deid.recognizers._declared import DeclaredPatternRecognizer
from models.deid.syntax.cn_mobile import MOBILE_REGEX, is_plausible_mobile


class CnMobileRecognizer(DeclaredPatternRecognizer):
    """Finds mainland mobile numbers; there is no checksum, so the score stays below the validated ones."""

    ENTITY = "CN_MOBILE"
    PATTERNS = (Pattern("cn_mobile", MOBILE_REGEX, 0.7),)
    CONTEXT = ("手机", "手机号", "电话", "联系电话", "联系方式", "致电", "mobile", "phone", "tel", "cell")
    PLAUSIBILITY = staticmethod(is_plausible_mobile)
