"""Which retrieved records a generated answer cites, for the response's `citations` field."""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

from models.deid.pseudonym_format import generalise_pseudonyms
from models.dialog.templates import RetrievedRecord

# A run of text shared with a record counts as quoting it from this many characters on (CJK packs more meaning per
# character); shorter runs are common words and phrases of any two texts.
QUOTE_CHARS = 24
QUOTE_CHARS_CJK = 8
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_BRACKETED = re.compile(r"\[[^\]\n]{1,200}\]")
_SPACE = re.compile(r"\s+")


def cited_record_ids(answer: str, retrieved: Sequence[RetrievedRecord]) -> list[str]:
    """Ids of the retrieved records the answer rests on, in order of first appearance (of a citation, or roughly
    of the quote).

    A record counts when the answer cites it as `[record_id]` or quotes it (shares a run of at least QUOTE_CHARS
    characters with its text, QUOTE_CHARS_CJK for Chinese). When the answer quotes some records, a cited record it
    does not quote is left out: a small model cites the first id it saw while quoting another record, and a
    citation must point at the record the text came from. Only ids that were actually retrieved count: a model can
    invent a plausible id, and a citation of a record the user was never shown (or of another tenant's) must not
    reach the response.
    """
    cited: dict[str, int] = {}
    for record in retrieved:
        index = answer.find(f"[{record.record_id}]")
        if index >= 0 and record.record_id not in cited:
            cited[record.record_id] = index
    quoted = _quoted(answer, retrieved)
    if quoted:
        cited = {record_id: at for record_id, at in cited.items() if record_id in quoted}
        for record_id, at in quoted.items():
            cited[record_id] = min(at, cited.get(record_id, at))
    return sorted(cited, key=cited.__getitem__)


def _quoted(answer: str, retrieved: Sequence[RetrievedRecord]) -> dict[str, int]:
    """record_id → where in the (normalised) answer its longest shared run starts, for records the answer quotes."""
    text = _normalise(_BRACKETED.sub(" ", answer))
    if not text:
        return {}
    found: dict[str, int] = {}
    for record in retrieved:
        if record.record_id in found:
            continue
        source = _normalise(record.text)
        match = SequenceMatcher(None, text, source, autojunk=False).find_longest_match(0, len(text), 0, len(source))
        run = text[match.a : match.a + match.size]
        if match.size >= (QUOTE_CHARS_CJK if _CJK.search(run) else QUOTE_CHARS):
            found[record.record_id] = match.a
    return found


def _normalise(text: str) -> str:
    # Pseudonyms as their type: two records naming the same person do not quote each other by that alone.
    return _SPACE.sub(" ", generalise_pseudonyms(text)).strip().casefold()
