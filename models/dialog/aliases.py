"""Short aliases for pseudonyms in what a model reads, mapped back in what it writes.

A pseudonym such as `<CN_MOBILE_49e582b863d1a7f0>` costs SmolLM2 about 18 tokens and means nothing to it beyond
its type; a record with four of them spends more of the prompt on digests than on words, and prefill is what
chat latency is made of on CPU. Within one prompt every distinct pseudonym gets an alias, `[P1]` for the first
person, `[M1]` for the first mobile number and so on, the same alias wherever it appears (records, history, the
user's message), so the model can still tell two people apart and refer to one. Aliases are local to one prompt
and carry no information about the subject; the answer's aliases are turned back into the pseudonyms before the
answer is scrubbed, kept or sent, so clients, history and the index never see an alias.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.deid.pseudonym_format import PSEUDONYM_PATTERN

# Types the default recognizers produce; a type not listed here uses its initials (CN_PASSPORT → CP).
_ABBREVIATIONS: Mapping[str, str] = {
    "PERSON": "P",
    "CN_MOBILE": "M",
    "EMAIL_ADDRESS": "E",
    "CN_RESIDENT_ID": "ID",
    "BANK_CARD": "B",
    "CN_USCC": "U",
    "IP_ADDRESS": "IP",
    "LOCATION": "L",
    "ADDRESS": "A",
    "ORGANIZATION": "O",
    "PLACE": "PL",
}
# What an alias looks like in a model's answer; only aliases this prompt handed out are mapped back.
_ALIAS_PATTERN = re.compile(r"\[([A-Z][A-Z_]*[0-9]+)\]")


def _abbreviation(entity_type: str) -> str:
    return _ABBREVIATIONS.get(entity_type) or "".join(word[0] for word in entity_type.split("_") if word)


@dataclass
class AliasMap:
    """The aliases of one prompt: pseudonym → alias, in order of first appearance."""

    by_pseudonym: dict[str, str] = field(default_factory=dict)
    _type_of_abbreviation: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_texts(cls, texts: Iterable[str], *, reserved: Iterable[str] = ()) -> AliasMap:
        """Aliases for every pseudonym in `texts`. `reserved` holds bracketed labels the prompt already uses (record
        ids cited as `[id]`): an alias never takes one of them, so a citation cannot be mistaken for a person."""
        aliases = cls()
        taken = set(reserved)
        for text in texts:
            for match in PSEUDONYM_PATTERN.finditer(text):
                aliases._add(match.group(0), match.group(1), taken)
        return aliases

    @classmethod
    def from_aliases(cls, pseudonym_of: Mapping[str, str]) -> AliasMap:
        """The map back from its `as_dict()` form (alias → pseudonym), as a kept context stores it."""
        return cls(by_pseudonym={pseudonym: alias for alias, pseudonym in pseudonym_of.items()})

    def _add(self, pseudonym: str, entity_type: str, taken: set[str]) -> None:
        if pseudonym in self.by_pseudonym:
            return
        abbreviation = _abbreviation(entity_type)
        owner = self._type_of_abbreviation.setdefault(abbreviation, entity_type)
        if owner != entity_type:  # two types share initials: the second one is spelled out
            abbreviation = entity_type
            self._type_of_abbreviation.setdefault(abbreviation, entity_type)
        while True:
            self._counts[abbreviation] = self._counts.get(abbreviation, 0) + 1
            alias = f"{abbreviation}{self._counts[abbreviation]}"
            if alias not in taken:
                break
        taken.add(alias)
        self.by_pseudonym[pseudonym] = alias

    def __len__(self) -> int:
        return len(self.by_pseudonym)

    def to_model(self, text: str) -> str:
        """The text as the model reads it: each known pseudonym replaced by `[alias]`."""
        if not self.by_pseudonym:
            return text

        def alias(match: re.Match[str]) -> str:
            known = self.by_pseudonym.get(match.group(0))
            return f"[{known}]" if known else match.group(0)

        return PSEUDONYM_PATTERN.sub(alias, text)

    def from_model(self, text: str) -> str:
        """The model's text with every alias of this prompt turned back into its pseudonym; other brackets stay."""
        if not self.by_pseudonym:
            return text
        pseudonym_of = self.as_dict()
        return _ALIAS_PATTERN.sub(lambda m: pseudonym_of.get(m.group(1), m.group(0)), text)

    def as_dict(self) -> dict[str, str]:
        """alias → pseudonym (what the kept context stores, so a reader can map the model's view back)."""
        return {alias: pseudonym for pseudonym, alias in self.by_pseudonym.items()}
