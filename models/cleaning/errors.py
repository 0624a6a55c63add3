"""The one error a rule pack raises: which pack, which rule, and what is wrong with it."""

from __future__ import annotations

from models.packs import PackError


class RulePackError(PackError):
    """A rule pack is invalid (bad YAML, unknown kind, missing field, bad regex, clashing ids).

    Packs also arrive at run time on a Kafka topic, so this is a poison-record error: the caller
    dead-letters the pack and keeps the engine it had.
    """

    what = "rule pack"
    stage = "cleaning.rule_pack"
