"""The one error a rule pack raises: which pack, which rule, and what is wrong with it."""

from __future__ import annotations

from models.packs import PackError


class RulePackError(PackError):
    """A cleaning rule pack is invalid; a poison record, like every PackError."""

    what = "rule pack"
    stage = "cleaning.rule_pack"
