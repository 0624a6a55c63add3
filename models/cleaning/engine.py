"""The rule engine: an immutable, compiled stack of rule packs that cleans one text at a time."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from models.cleaning.compiled import Applier, Spans, compile_rule
from models.cleaning.errors import RulePackError
from models.cleaning.pack import RulePack


@dataclass(frozen=True)
class CleanResult:
    """The cleaned text and, for each rule that changed it, how many rewrites it made."""

    text: str
    rule_hits: dict[str, int]


class RuleEngine:
    """Applies packs in (priority, name) order, every rule outside every pack's protected terms.

    Engines are immutable: with_pack / without_pack return a new engine, so hot reload is a single
    reference swap and a record is always cleaned by exactly one `version`.
    """

    __slots__ = ("_packs", "_protected_re", "_rules", "_version")

    def __init__(self, packs: Sequence[RulePack]) -> None:
        # Sorting here, not trusting the caller's order, makes the engine (and its version string)
        # depend only on which packs are loaded, not on the order hot reloads arrived in.
        ordered = tuple(sorted(packs, key=lambda pack: (pack.priority, pack.name)))
        names = [pack.name for pack in ordered]
        for name in names:
            if names.count(name) > 1:
                raise RulePackError("loaded twice in one engine", pack=name)
        owner: dict[str, str] = {}
        for pack in ordered:
            for rule in pack.rules:
                if rule.id in owner:
                    # Hits are keyed by rule id; two rules sharing one would make the counts meaningless.
                    raise RulePackError(f"rule id also used by pack {owner[rule.id]!r}", pack=pack.name, rule=rule.id)
                owner[rule.id] = pack.name
        self._packs = ordered
        self._rules: tuple[tuple[str, Applier], ...] = tuple(
            (rule.id, compile_rule(rule)) for pack in ordered for rule in pack.rules
        )
        terms = {term for pack in ordered for term in pack.protected_terms}
        # Longest first, so a protected term that contains another is protected whole.
        self._protected_re = (
            re.compile("|".join(re.escape(term) for term in sorted(terms, key=lambda t: (-len(t), t))))
            if terms
            else None
        )
        self._version = "+".join(pack.label for pack in ordered)

    @property
    def version(self) -> str:
        """`name@version` of every pack in application order, joined by '+'; recorded on every record."""
        return self._version

    @property
    def packs(self) -> tuple[RulePack, ...]:
        """The loaded packs in application order."""
        return self._packs

    def _unprotected(self, text: str) -> Spans:
        if self._protected_re is None:
            return None
        spans: list[tuple[int, int]] = []
        last = 0
        for match in self._protected_re.finditer(text):
            if match.start() > last:
                spans.append((last, match.start()))
            last = match.end()
        if last == 0:
            return None
        if last < len(text):
            spans.append((last, len(text)))
        return spans

    def clean(self, text: str) -> CleanResult:
        """Apply every rule in order. Protected terms are found afresh whenever a rule changes the text,
        so a term that only appears after normalisation (`PO&nbsp;Box` → `PO Box`) is protected too."""
        hits: dict[str, int] = {}
        spans = self._unprotected(text)
        for rule_id, apply in self._rules:
            text, count = apply(text, spans)
            if count:
                hits[rule_id] = count
                spans = self._unprotected(text)
        return CleanResult(text=text, rule_hits=hits)

    def with_pack(self, pack: RulePack) -> RuleEngine:
        """A new engine with `pack` replacing the loaded pack of that name, or added; self is unchanged."""
        return RuleEngine([*(p for p in self._packs if p.name != pack.name), pack])

    def without_pack(self, name: str) -> RuleEngine:
        """A new engine without the pack called `name`; self is unchanged.

        Removing a pack that is not loaded returns this same engine: a compacted rules topic replays
        tombstones for packs this worker never loaded, and that is not an error.
        """
        if all(pack.name != name for pack in self._packs):
            return self
        return RuleEngine([pack for pack in self._packs if pack.name != name])

    def __repr__(self) -> str:
        return f"RuleEngine({self._version!r})"
