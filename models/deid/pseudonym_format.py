"""The shape of a pseudonym token, `<ENTITY_TYPE_hhhhhhhhhh>`, with no heavy imports (readers need only this)."""

from __future__ import annotations

import re

# 10 hex digits (40 bits) keep the token short in text; collisions only merge two subjects' hints.
DIGEST_CHARS = 10
PSEUDONYM_PATTERN = re.compile(rf"<([A-Z][A-Z_]*?)_[0-9a-f]{{{DIGEST_CHARS}}}>")


def generalise_pseudonyms(text: str) -> str:
    """``<PERSON_3f9a1c2b7d>`` → ``<PERSON>``: the view of a de-identified text that a language model reads.

    The digest is meaningless to a model and costs it a dozen word-pieces per pseudonym (measured: 216-char
    chunks embedded 2.3x faster with digests generalised), while the type keeps the meaning.
    """
    return PSEUDONYM_PATTERN.sub(r"<\1>", text)


def named_pseudonyms(text: str) -> list[str]:
    """The pseudonyms written in a text, each once, in the order they first appear."""
    return list(dict.fromkeys(match.group(0) for match in PSEUDONYM_PATTERN.finditer(text)))
