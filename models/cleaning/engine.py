"""The rule engine: an immutable, compiled stack of rule packs that cleans one text at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.cleaning.base_guard import BASE_PACK, REMOVAL_REFUSED, check_base_replacement
from models.cleaning.compiled import Applier, Spans, compile_rule
from models.cleaning.errors import RulePackError
from models.cleaning.pack import RulePack
from models.packs import PackEngine
from models.packs.linear_regex import PackPattern, compile_literals


@dataclass(frozen=True)
class CleanResult:
    """The cleaned text and, for each rule that changed it, how many rewrites it made."""

    text: str
    rule_hits: dict[str, int]


class RuleEngine(PackEngine[RulePack]):
    """Applies packs in (priority, name) order, every rule outside every pack's protected terms.

    Engines are immutable (see PackEngine): a record is always cleaned by exactly one `version`. Hot reloads
    cannot remove or weaken the base pack (see base_guard): such a change raises RulePackError.
    """

    __slots__ = ("_protected_identifiers", "_protected_re", "_rules")

    def __init__(self, packs: Sequence[RulePack]) -> None:
        super().__init__(packs)
        self._rules: tuple[tuple[str, Applier], ...] = tuple(
            (rule.id, compile_rule(rule)) for pack in self.packs for rule in pack.rules
        )
        terms = [term for pack in self.packs for term in pack.protected_terms]
        # Terms come from packs on rules.v1: RE2 finds them in one linear pass however many there are.
        # Longest first, so a protected term that contains another is protected whole.
        self._protected_re = compile_literals(terms) if terms else None
        self._protected_identifiers = tuple(
            identifier.compile() for pack in self.packs for identifier in pack.protected_identifiers
        )

    @property
    def protected_identifiers(self) -> tuple[PackPattern, ...]:
        """The packs' protected-identifier patterns (RE2), which de-identification cuts out of NER detections."""
        return self._protected_identifiers

    def with_pack(self, pack: RulePack) -> RuleEngine:
        if pack.name == BASE_PACK:
            check_base_replacement(next((p for p in self.packs if p.name == BASE_PACK), None), pack)
        return super().with_pack(pack)

    def without_pack(self, name: str) -> RuleEngine:
        if name == BASE_PACK and any(pack.name == BASE_PACK for pack in self.packs):
            raise RulePackError(REMOVAL_REFUSED, pack=BASE_PACK)
        return super().without_pack(name)

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
