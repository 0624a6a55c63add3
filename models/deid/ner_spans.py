"""NER spans cut down to what they name: protected identifiers cut out, cue words and acronyms left outside.

The small English model tags "Customer Evelyn Nguyen" as one person and "ERP" or "SO-46342748" as organisations;
replacing those spans whole loses the role word, the system name and the order number a user searches by, and
gives one person different pseudonyms with and without the role. So every NER span is refined before overlap
resolution: protected identifiers (see protected.py) and pattern hits are cut out (`cut_out`); role, title and
cue words, business words, acronyms, numbers and punctuation at either edge are left outside; a span left with
no name-like word is dropped; and where a person meets an organisation or place, the person wins. Edges move
inward, with one exception: a one-word person or organisation span takes in the capitalised word beside it,
because a half-tagged name would leave the other half readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from models.deid.overlaps import Detection
from models.deid.recognizers.chinese_ner import POST_CUES, PRE_CUES
from models.deid.syntax.name_words import is_code_word, is_not_name_word
from models.deid.syntax.places import is_public_place

__all__ = ["cut_out", "refine_ner_spans"]

PERSON = "PERSON"


# Types whose edges lose cue words, acronyms and numbers; any other (a street address, whose house number is part
# of it) loses only punctuation and protected identifiers.
_WORD_TRIMMED = frozenset({"PERSON", "ORGANIZATION", "LOCATION"})
# Chinese role words before a name and honorifics or verbs after it (the recognizer's own cues, two or more
# characters: a one-character cue such as 和 can also be the end of a given name).
_ZH_LEADING = tuple(sorted((cue for cue in PRE_CUES if len(cue) >= 2), key=len, reverse=True))
_ZH_TRAILING = tuple(sorted((cue for cue in POST_CUES if len(cue) >= 2), key=len, reverse=True))
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
# A Latin word with the dot of an abbreviation (Mr., Dr.) and inner apostrophes or hyphens (O'Neil, Mary-Ann).
_LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*\.?")
_MAX_ACRONYM_LETTERS = 5
# A capitalised word that may be the other half of a name (Davenport, O'Neil, Mary-Ann).
_NAME_WORD = r"(?:[A-Z]['’])?[A-Z][a-z]+(?:-[A-Z]?[a-z]+)?"
_NEXT_NAME_WORD = re.compile(rf" ({_NAME_WORD})(?![A-Za-z0-9_'’-])")
_PREVIOUS_NAME_WORD = re.compile(rf"(?<![A-Za-z0-9_'’.-])({_NAME_WORD}) \Z")
_ONE_WORD = re.compile(_NAME_WORD)
_COMPLETED = frozenset({"PERSON", "ORGANIZATION"})


def _strip_edges(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


def _trim_once(text: str, start: int, end: int, entity_type: str) -> tuple[int, int]:
    """One step inward (a word or a cue off one edge), or the same span when nothing more comes off."""
    value = text[start:end]
    first = _LATIN_WORD.match(value)
    if first is not None and first.end() < len(value) and is_not_name_word(first.group()):
        # The pattern is greedy, so the word found is whole ("Customers", never "Customer" of it).
        return start + first.end(), end
    words = list(_LATIN_WORD.finditer(value))
    last = words[-1] if words else None
    if (
        last is not None
        and last.start() > 0
        and last.end() == len(value)
        and not value[last.start() - 1].isalnum()
        # A business word after a name may be its surname (Ethan Case): a person loses only codes at its end.
        and (is_code_word(last.group()) if entity_type == PERSON else is_not_name_word(last.group()))
    ):
        return start, start + last.start()
    if entity_type == PERSON:
        # What is left must still be a name in either script: 王经理 keeps 王, "经理" alone stays (and is dropped).
        for cue in _ZH_LEADING:
            rest = value[len(cue) :]
            if value.startswith(cue) and (_HAN.search(rest) or re.search("[A-Za-z]", rest)):
                return start + len(cue), end
        for cue in _ZH_TRAILING:
            rest = value[: -len(cue)]
            if value.endswith(cue) and (_HAN.search(rest) or re.search("[A-Za-z]", rest)):
                return start, end - len(cue)
    return start, end


def _trimmed(text: str, start: int, end: int, entity_type: str) -> tuple[int, int] | None:
    while True:
        start, end = _strip_edges(text, start, end)
        if start >= end:
            return None
        if entity_type not in _WORD_TRIMMED:
            return start, end
        step = _trim_once(text, start, end, entity_type)
        if step == (start, end):
            break
        start, end = step
    return (start, end) if _names_something(text[start:end], entity_type) else None


def _names_something(value: str, entity_type: str) -> bool:
    """Whether a trimmed span still holds a name: Chinese that is not a cue word alone, or a Latin word that is not
    a cue or acronym; a place or organisation made only of short all-caps words (IBM, USA, WMS) is not one either."""
    if _HAN.search(value):
        return value not in PRE_CUES and value not in POST_CUES
    words = [word.group() for word in _LATIN_WORD.finditer(value)]
    if all(is_not_name_word(word) for word in words):
        return False
    return entity_type == PERSON or not all(word.isupper() and len(word) <= _MAX_ACRONYM_LETTERS for word in words)


def _outside(start: int, end: int, taken: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` outside every span in ``taken`` (sorted)."""
    pieces: list[tuple[int, int]] = []
    position = start
    for taken_start, taken_end in sorted(taken):
        if taken_end <= position or taken_start >= end:
            continue
        if taken_start > position:
            pieces.append((position, taken_start))
        position = max(position, taken_end)
    if position < end:
        pieces.append((position, end))
    return pieces


def cut_out(detections: Iterable[Detection], spans: Sequence[tuple[int, int]]) -> list[Detection]:
    """``detections`` without the parts inside ``spans`` (protected identifiers, pattern hits); a detection may
    become two pieces or none. Pieces are not trimmed: what is left of "Tel 138…" is "Tel ", still no address."""
    return [
        replace(detection, start=start, end=end)
        for detection in detections
        for start, end in _outside(detection.start, detection.end, spans)
    ]


def _trim_all(text: str, detections: Iterable[Detection]) -> list[Detection]:
    trimmed: list[Detection] = []
    for detection in detections:
        span = _trimmed(text, detection.start, detection.end, detection.entity_type)
        if span is not None:
            trimmed.append(replace(detection, start=span[0], end=span[1]))
    return trimmed


def _completion(text: str, detection: Detection) -> Detection:
    """A one-word person or organisation span widened by one capitalised word beside it: the small model often
    tags half a name ("for <Taylor> Davenport", "<Justin> Clark" as ORG), and the other half would stay readable.
    The word must not be a cue, business word or known place; the next word is tried before the previous one."""
    if detection.entity_type not in _COMPLETED or not _ONE_WORD.fullmatch(text[detection.start : detection.end]):
        return detection
    after = _NEXT_NAME_WORD.match(text, detection.end)
    if after is not None and _completes(after.group(1)):
        return replace(detection, end=after.end(1))
    before = _PREVIOUS_NAME_WORD.search(text, 0, detection.start)
    if before is not None and _completes(before.group(1)):
        return replace(detection, start=before.start(1))
    return detection


def _completes(word: str) -> bool:
    return not is_not_name_word(word) and not is_public_place(word)


def refine_ner_spans(text: str, detections: Iterable[Detection]) -> list[Detection]:
    """NER ``detections`` trimmed to the name, and every other type cut away from a person.

    A person span wins where it meets an organisation or place span, whatever their lengths: the small model often
    labels "Dear Mary Evans" an organisation while a cue recognizer finds the person in it, and the rest of the
    organisation span ("Dear") is then trimmed away.
    """
    trimmed = [_completion(text, detection) for detection in _trim_all(text, detections)]
    persons = [detection for detection in trimmed if detection.entity_type == PERSON]
    person_spans = [(detection.start, detection.end) for detection in persons]
    others = cut_out((detection for detection in trimmed if detection.entity_type != PERSON), person_spans)
    return sorted([*persons, *_trim_all(text, others)], key=lambda detection: (detection.start, detection.end))
