"""What each pattern entity type looks like (regexes, checksums, plausibility checks), with no Presidio import;
and the word lists that tell names and places apart (name_words.py, places.py).

One module per type, beside its recognizer in models/deid/recognizers/, which wraps it in Presidio. Pseudonyms and
the identifier lookup (`sluice forget --identifier`, `sluice deid pseudonym`) use these directly: importing
Presidio loads spaCy, transformers and torch, which was 9 of the 10 seconds such a command took.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from models.deid.syntax.bank_card import (
    BANK_CARD_CONTIGUOUS_REGEX,
    BANK_CARD_GROUPED_LONG_REGEX,
    BANK_CARD_GROUPED_REGEX,
    is_valid_bank_card,
)
from models.deid.syntax.cn_mobile import MOBILE_REGEX, is_plausible_mobile
from models.deid.syntax.cn_resident_id import RESIDENT_ID_REGEX, is_valid_resident_id
from models.deid.syntax.cn_uscc import USCC_REGEX, is_valid_uscc
from models.deid.syntax.email import EMAIL_REGEX, has_public_suffix
from models.deid.syntax.ip_address import IPV4_REGEX, IPV6_REGEX, is_valid_ip

__all__ = ["PATTERN_SYNTAX", "REGEX_FLAGS", "PatternSyntax"]

# Presidio's PatternRecognizer matches with these flags; the recognizers keep its default (a unit test holds
# them equal), so a lookup here finds what a recognizer finds.
REGEX_FLAGS = re.DOTALL | re.MULTILINE | re.IGNORECASE


@dataclass(frozen=True)
class PatternSyntax:
    """The regexes and checks of one pattern entity type, as its recognizer applies them.

    ``checksum`` proves a value (a fail drops it); ``plausibility`` can only rule one out. For finding a value
    both only drop, so here they are applied alike; the recognizers differ in the score they give a pass.
    """

    regexes: tuple[str, ...]
    checksum: Callable[[str], bool] | None = None
    plausibility: Callable[[str], bool] | None = None

    def matches_whole(self, text: str) -> bool:
        """Whether a match of one of the regexes spans all of ``text`` and passes the checks, as a recognizer
        scanning ``text`` would report it (same flags, same leftmost matches)."""
        for regex in self.regexes:
            for match in re.finditer(regex, text, REGEX_FLAGS):
                if match.span() != (0, len(text)):
                    continue
                if all(check is None or check(text) for check in (self.checksum, self.plausibility)):
                    return True
        return False


PATTERN_SYNTAX: dict[str, PatternSyntax] = {
    "CN_RESIDENT_ID": PatternSyntax((RESIDENT_ID_REGEX,), checksum=is_valid_resident_id),
    "CN_MOBILE": PatternSyntax((MOBILE_REGEX,), plausibility=is_plausible_mobile),
    "BANK_CARD": PatternSyntax(
        (BANK_CARD_CONTIGUOUS_REGEX, BANK_CARD_GROUPED_REGEX, BANK_CARD_GROUPED_LONG_REGEX),
        checksum=is_valid_bank_card,
    ),
    "CN_USCC": PatternSyntax((USCC_REGEX,), checksum=is_valid_uscc),
    "EMAIL_ADDRESS": PatternSyntax((EMAIL_REGEX,), plausibility=has_public_suffix),
    "IP_ADDRESS": PatternSyntax((IPV4_REGEX, IPV6_REGEX), plausibility=is_valid_ip),
}
