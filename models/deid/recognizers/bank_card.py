"""Recognizer for 16-19 digit payment card numbers, Luhn-validated."""

from __future__ import annotations

from presidio_analyzer import Pattern

from models.deid.recognizers._declared import DeclaredPatternRecognizer
from models.deid.syntax.bank_card import (
    BANK_CARD_CONTIGUOUS_REGEX,
    BANK_CARD_GROUPED_LONG_REGEX,
    BANK_CARD_GROUPED_REGEX,
    is_valid_bank_card,
)


class BankCardRecognizer(DeclaredPatternRecognizer):
    """Finds payment card numbers, contiguous or in groups of four, and keeps the Luhn-valid ones."""

    ENTITY = "BANK_CARD"
    PATTERNS = (
        Pattern("bank_card_contiguous", BANK_CARD_CONTIGUOUS_REGEX, 0.3),
        Pattern("bank_card_grouped", BANK_CARD_GROUPED_REGEX, 0.3),
        Pattern("bank_card_grouped_long", BANK_CARD_GROUPED_LONG_REGEX, 0.3),
    )
    CONTEXT = ("银行卡", "卡号", "信用卡", "借记卡", "账号", "card", "credit", "debit", "account")
    CHECKSUM = staticmethod(is_valid_bank_card)
