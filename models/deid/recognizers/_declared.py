"""The one constructor of Sluice's pattern recognizers: each subclass only declares its data."""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class DeclaredPatternRecognizer(PatternRecognizer):
    """A Presidio pattern recognizer whose entity, patterns, context words and checks are class attributes.

    Two kinds of check, because Presidio treats their outcomes differently and overlap resolution relies on it:

    - ``CHECKSUM`` proves a value (Luhn, MOD 11-2): a pass raises the score to 1.0, a fail drops the hit.
    - ``PLAUSIBILITY`` can only rule a value out (a placeholder number, an unknown domain): a fail drops the
      hit, a pass leaves the pattern's score as it is.

    Declare a check as ``staticmethod(function)`` so that reading it from an instance does not bind it.
    """

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[tuple[Pattern, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    CHECKSUM: ClassVar[staticmethod[[str], bool] | None] = None
    PLAUSIBILITY: ClassVar[staticmethod[[str], bool] | None] = None

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name=type(self).__name__,
            supported_language=supported_language,
            # Presidio caches the compiled regex on the Pattern: each instance gets its own copies, so the
            # class-level declarations are never mutated.
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if self.CHECKSUM is None else self.CHECKSUM(pattern_text)

    def invalidate_result(self, pattern_text: str) -> bool | None:
        return None if self.PLAUSIBILITY is None else not self.PLAUSIBILITY(pattern_text)
