"""The one error a rule pack raises: which pack, which rule, and what is wrong with it."""

from __future__ import annotations

from schemas.errors import PoisonRecordError


class RulePackError(PoisonRecordError, ValueError):
    """A rule pack is invalid (bad YAML, unknown kind, missing field, bad regex, clashing ids).

    Packs also arrive at run time on a Kafka topic, so this is a poison-record error: the caller
    dead-letters the pack and keeps the engine it had.
    """

    def __init__(self, reason: str, *, pack: str | None = None, rule: str | None = None) -> None:
        self.reason = reason
        self.pack = pack
        self.rule = rule
        super().__init__(self._describe(), stage="cleaning.rule_pack")

    def _describe(self) -> str:
        where = []
        if self.pack is not None:
            where.append(f"rule pack {self.pack!r}")
        if self.rule is not None:
            where.append(f"rule {self.rule!r}")
        return ": ".join([*where, self.reason])

    def in_pack(self, pack: str) -> RulePackError:
        """The same error, now naming the pack it was found in (rules do not know their pack)."""
        return RulePackError(self.reason, pack=pack, rule=self.rule)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default exception pickling, and workers may ship
        # errors between processes.
        return (_rebuild, (self.reason, self.pack, self.rule))


def _rebuild(reason: str, pack: str | None, rule: str | None) -> RulePackError:
    return RulePackError(reason, pack=pack, rule=rule)
