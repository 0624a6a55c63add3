"""Recognizer for e-mail addresses in mixed Chinese/English text, validated offline."""

from __future__ import annotations

from presidio_analyzer import Pattern

from models.deid.recognizers._declared import DeclaredPatternRecognizer
from models.deid.syntax.email import EMAIL_REGEX, has_public_suffix


class EmailAddressRecognizer(DeclaredPatternRecognizer):
    """Finds e-mail addresses whose domain ends in a known public suffix."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = (Pattern("email", EMAIL_REGEX, 0.8),)
    CONTEXT = ("邮箱", "电子邮件", "邮件", "email", "e-mail", "mail")
    PLAUSIBILITY = staticmethod(has_public_suffix)
