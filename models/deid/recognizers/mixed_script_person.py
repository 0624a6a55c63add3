"""Person names at a script boundary: English names inside Chinese text and Chinese names inside English text.

Each NER model reads only its own script, and a name written in the other one arrives without the context it
relies on: spaCy sees "经理Katrina Mills已批准" as a bare ", Katrina Mills ," (and labels it ORG or GPE as often as
PERSON), and jiagu sees "Met 陆敏 and" as the two characters 陆敏 alone. Measured on the demo corpus this cost about
six points of person recall in mixed text. The script boundary is itself the cue:

- a run of two or three capitalised Latin words set in Chinese (a Chinese character or full-width punctuation on at
  least one side, nothing Latin on either) is a person, unless it is a known place or holds a business word;
- a run of Chinese characters set apart in English text (English on both sides, or after a cue word such as "to")
  that reads as surname + given name (the Chinese recognizer's own test, dictionary-checked) is a person.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from models.deid.recognizers.chinese_ner import POST_CUES, looks_like_full_name
from models.deid.syntax.name_words import is_not_name_word, is_person_cue
from models.deid.syntax.places import is_public_place

PERSON = "PERSON"
_HAN_CLASS = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
# Chinese text around a Latin name: ideographs, CJK and full-width punctuation.
_CJK_CONTEXT = re.compile(rf"[{_HAN_CLASS}\u3000-\u303f\uff00-\uffef]")
_WORD = r"[A-Z][a-z]+(?:['’-][A-Za-z][a-z]+)?"
# Two or three capitalised words (an initial allowed in the middle), not part of a longer Latin run.
_LATIN_NAME = re.compile(rf"(?<![A-Za-z0-9_.@-]){_WORD}(?: (?:[A-Z]\. )?{_WORD}){{1,2}}(?![A-Za-z0-9_@-]| [A-Z])")
_ALL_HAN_RUN = re.compile(rf"[{_HAN_CLASS}]+")
_LETTER = re.compile(rf"[A-Za-z{_HAN_CLASS}]")
_CUE_BEFORE = re.compile(r"(?<![A-Za-z])([A-Za-z]+\.?)\s+\Z")
# An honorific or verb glued to a name in the run ("邹杨先生 and …"): the name is what comes before it.
_HONORIFICS = tuple(sorted((cue for cue in POST_CUES if len(cue) >= 2 or cue == "总"), key=len, reverse=True))


def _neighbour(text: str, index: int, step: int) -> str:
    """The first character from ``index`` in direction ``step`` that is not a space; "" at either end."""
    while 0 <= index < len(text) and text[index].isspace():
        index += step
    return text[index] if 0 <= index < len(text) else ""


def _nearest_letter(text: str, index: int, step: int) -> str:
    """The nearest Latin or Chinese letter from ``index`` in direction ``step``; "" if there is none."""
    while 0 <= index < len(text):
        if _LETTER.match(text[index]):
            return text[index]
        index += step
    return ""


def _in_chinese(text: str, start: int, end: int) -> bool:
    before, after = _neighbour(text, start - 1, -1), _neighbour(text, end, 1)
    sides = [side for side in (before, after) if side]
    latin_beside = any(side.isascii() and side.isalnum() for side in sides)
    return not latin_beside and any(_CJK_CONTEXT.match(side) for side in sides)


def _in_english(text: str, start: int, end: int) -> bool:
    """Whether a run of Chinese stands apart in English text: not glued to a letter, and English on both sides, or
    English on one side across a space and nothing (the text's end) or a cue word ("to", "Customer") before it.
    Chinese text that merely holds an English word ("发货地New York，周五到") is not English text."""
    if (start > 0 and _LETTER.match(text[start - 1])) or (end < len(text) and _LETTER.match(text[end])):
        return False
    before, after = _nearest_letter(text, start - 1, -1), _nearest_letter(text, end, 1)
    latin_before, latin_after = before.isascii() and before != "", after.isascii() and after != ""
    if latin_before and latin_after:
        return True
    spaced = (latin_before and text[start - 1] == " ") or (latin_after and text[end] == " ")
    if not spaced:
        return False
    if (after if latin_before else before) == "":
        return True
    cue = _CUE_BEFORE.search(text, 0, start)
    return cue is not None and is_person_cue(cue.group(1))


def _without_honorific(run: str) -> str:
    for honorific in _HONORIFICS:
        if run.endswith(honorific) and len(run) > len(honorific):
            return run[: -len(honorific)]
    return run


class MixedScriptPersonRecognizer(EntityRecognizer):
    NAME = "MixedScriptPersonRecognizer"

    def __init__(self, supported_language: str = "en", score: float = 0.7) -> None:
        self.score = score
        super().__init__(
            supported_entities=[PERSON], supported_language=supported_language, name=self.NAME, version="1"
        )

    def load(self) -> None:
        # The name test reads jiagu's dictionary: load it at start rather than on the first record.
        looks_like_full_name("王伟")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and PERSON not in entities:
            return []
        spans = [
            match.span()
            for match in _LATIN_NAME.finditer(text)
            if _in_chinese(text, *match.span())
            and not is_public_place(match.group())
            and not any(is_not_name_word(word) for word in match.group().split())
        ]
        for match in _ALL_HAN_RUN.finditer(text):
            if not _in_english(text, *match.span()):
                continue
            name = _without_honorific(match.group())
            if looks_like_full_name(name, standing_alone=True):
                spans.append((match.start(), match.start() + len(name)))
        return [self._result(start, end) for start, end in spans]

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult(
            entity_type=PERSON,
            start=start,
            end=end,
            score=self.score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.NAME,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )
