"""Test helpers: check characters for valid test identifiers (independent of the recognizers), hit listing."""

from __future__ import annotations

from presidio_analyzer import PatternRecognizer

# Weights as tabulated in GB 11643-1999 and GB 32100-2015, copied from the standards (not computed),
# so these helpers do not share a derivation with the production code they test.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def resident_id(area: str = "110105", birth: str = "19491231", sequence: str = "002") -> str:
    """An 18-character resident ID with the ISO 7064 MOD 11-2 check character appended."""
    body = area + birth + sequence
    total = sum(int(digit) * weight for digit, weight in zip(body, _ID_WEIGHTS, strict=True))
    # The check character c satisfies total + c ≡ 1 (mod 11); 10 is written X.
    check = (1 - total) % 11
    return body + ("X" if check == 10 else str(check))


def wrong_check(identifier: str, alphabet: str = "0123456789X") -> str:
    """The same identifier with a different (hence wrong) last character."""
    last = identifier[-1]
    replacement = next(char for char in alphabet if char != last)
    return identifier[:-1] + replacement


def uscc(body17: str) -> str:
    """A unified social credit code: ``body17`` plus its check character."""
    total = sum(USCC_ALPHABET.index(char) * weight for char, weight in zip(body17, _USCC_WEIGHTS, strict=True))
    return body17 + USCC_ALPHABET[(31 - total % 31) % 31]


def luhn(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit."""
    total = 0
    # Double every second digit counted from the (future) check digit, i.e. from the right of prefix.
    for position, char in enumerate(reversed(prefix)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return prefix + str((10 - total % 10) % 10)


def found(recognizer: PatternRecognizer, text: str) -> list[str]:
    """The substrings of ``text`` the recognizer reports, in order."""
    results = recognizer.analyze(text, recognizer.supported_entities)
    return [text[result.start : result.end] for result in sorted(results, key=lambda r: r.start)]
