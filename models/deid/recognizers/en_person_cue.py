"""English person names announced by a cue (met, call with, Mr., Dear …), which a small NER model misses.

en_core_web_sm misses many two-word names in short business notes ("Met Jill Hays at the expo"). A
capitalised First Last pair right after a cue word is a person in this domain often enough that
redacting it is the right trade: a wrongly redacted word costs a little meaning, a missed name leaks.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

PERSON = "PERSON"
_CUES = (
    r"met(?: with)?|meet(?:ing)?(?: with)?|call(?:ed)?(?: with)?|spoke(?: to| with)?|talked to|emailed|e-mailed|"
    r"contact(?:ed)?|ask(?:ed)? for|visited|visit from|according to|on behalf of|attn:?|cc:?|"
    r"Mr\.?|Mrs\.?|Ms\.?|Miss|Dr\.?|Prof\.?|Dear|Hi|Hello|customer|client|manager|buyer|engineer|user"
)
_NAME_PART = r"(?:[A-Z]')?[A-Z][a-z]+(?:-[A-Z]?[a-z]+)?"  # Jill, Mary-Ann, O'Neil
# The cue is matched case-insensitively; the name must be capitalised (checked without IGNORECASE).
_CUED_NAME = re.compile(rf"(?i:\b(?:{_CUES}))\s+(?P<name>{_NAME_PART}(?:\s+[A-Z]\.)?\s+{_NAME_PART})\b")
# Capitalised words that follow cues but are not names.
_NOT_NAMES = frozenset({"The", "This", "That", "Our", "Your", "Their", "Team", "Support", "Sales", "Customer"})


class EnglishCuedPersonRecognizer(EntityRecognizer):
    NAME = "EnglishCuedPersonRecognizer"

    def __init__(self, supported_language: str = "en", score: float = 0.65) -> None:
        self.score = score
        super().__init__(
            supported_entities=[PERSON], supported_language=supported_language, name=self.NAME, version="1"
        )

    def load(self) -> None:  # pure regex: nothing to load
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and PERSON not in entities:
            return []
        results = []
        for match in _CUED_NAME.finditer(text):
            name = match.group("name")
            if name.split()[0] in _NOT_NAMES:
                continue
            results.append(
                RecognizerResult(
                    entity_type=PERSON,
                    start=match.start("name"),
                    end=match.end("name"),
                    score=self.score,
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.NAME,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
            )
        return results
