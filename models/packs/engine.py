"""What every pack engine shares: packs in one order, no clashes, one version, hot reload by replacement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Self, TypeVar

from models.packs.pack import Pack

P = TypeVar("P", bound=Pack[Any])


class PackEngine(Generic[P]):
    """Holds packs in (priority, name) order, rules in the order written; subclasses compile the rules.

    Engines are immutable: with_pack / without_pack return a new engine, so hot reload is a single
    reference swap and each result (cleaned record, policy decision) comes from exactly one `version`.
    """

    __slots__ = ("_packs", "_version")

    def __init__(self, packs: Sequence[P]) -> None:
        # Sorting here, not trusting the caller's order, makes the engine (and its version string)
        # depend only on which packs are loaded, not on the order hot reloads arrived in.
        ordered = tuple(sorted(packs, key=lambda pack: (pack.priority, pack.name)))
        names = [pack.name for pack in ordered]
        for pack in ordered:
            if names.count(pack.name) > 1:
                raise pack.error("loaded twice in one engine", pack=pack.name)
        owner: dict[str, str] = {}
        for pack in ordered:
            for rule in pack.rules:
                if rule.id in owner:
                    # Results name their rule (hit counts, decisions); a shared id would make them ambiguous.
                    raise pack.error(f"rule id also used by pack {owner[rule.id]!r}", pack=pack.name, rule=rule.id)
                owner[rule.id] = pack.name
        self._packs = ordered
        self._version = "+".join(pack.label for pack in ordered)

    @property
    def version(self) -> str:
        """`name@version` of every pack in order, joined by '+'; recorded with every result."""
        return self._version

    @property
    def packs(self) -> tuple[P, ...]:
        """The loaded packs in order."""
        return self._packs

    def with_pack(self, pack: P) -> Self:
        """A new engine with `pack` replacing the loaded pack of that name, or added; self is unchanged."""
        return type(self)([*(p for p in self._packs if p.name != pack.name), pack])

    def without_pack(self, name: str) -> Self:
        """A new engine without the pack called `name`; self is unchanged.

        Removing a pack that is not loaded returns this same engine: a compacted rules topic replays
        tombstones for packs this worker never loaded, and that is not an error.
        """
        if all(pack.name != name for pack in self._packs):
            return self
        return type(self)([pack for pack in self._packs if pack.name != name])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._version!r})"
