"""The base pack may be upgraded but never removed or weakened: every record is normalised by it before
de-identification, and without it text such as `138\u200b1234\u200b5678` would reach the recognizers unchanged.

The rule, applied by RuleEngine to every change that arrives (rules.v1 message, tombstone, CLI publish):
- `base` cannot be removed (a Kafka tombstone or `pack: null` is refused);
- a pack named `base` may replace the loaded one only with a higher version (the same version only when it is
  the identical pack, so a replay is harmless), the same priority, and every rule of the bundled base pack
  unchanged and in the same order; it may add rules.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from models.cleaning.bundled import load_bundled_packs
from models.cleaning.errors import RulePackError
from models.cleaning.pack import RulePack
from models.cleaning.rules import Rule

BASE_PACK = "base"

REMOVAL_REFUSED = (
    "cannot be removed: every record is cleaned by it before de-identification (invisible characters, "
    "Unicode compatibility forms, markup); publish a higher version that keeps its rules instead"
)


@lru_cache(maxsize=1)
def bundled_base() -> RulePack:
    """The base pack shipped with Sluice: the floor every replacement must keep."""
    return next(pack for pack in load_bundled_packs() if pack.name == BASE_PACK)


def _version_key(version: str) -> tuple[int, int, int, tuple[int, str]]:
    # MAJOR.MINOR.PATCH[-pre] (checked by the pack loader); a pre-release sorts before its release.
    core, _, pre = version.partition("-")
    major, minor, patch = (int(part) for part in core.split("."))
    return major, minor, patch, (0, pre) if pre else (1, "")


def _rule_definition(rule: Rule) -> dict[str, Any]:
    mapping = rule.to_mapping()
    mapping.pop("description", None)  # wording may change; what a rule does may not
    return mapping


def check_base_replacement(current: RulePack | None, new: RulePack) -> None:
    """Raise RulePackError unless `new` may replace `current` (the loaded base pack, None if none is loaded)."""
    fail = RulePackError.at(pack=BASE_PACK)
    floor = bundled_base()
    if new.priority != floor.priority:
        raise fail(f"priority must stay {floor.priority} (base runs before the other packs), got {new.priority}")
    kept = [_rule_definition(rule) for rule in new.rules]
    required = [_rule_definition(rule) for rule in floor.rules]
    missing = [rule["id"] for rule in required if rule not in kept]
    if missing:
        raise fail(f"must keep every rule of the bundled base pack unchanged; missing or changed: {missing}")
    places = [kept.index(rule) for rule in required]
    if places != sorted(places):
        # The order is part of what base does: control characters go before markup is read, and so on.
        raise fail(f"must keep the bundled base rules in their order: {[rule['id'] for rule in required]}")
    if current is None:
        return
    if _version_key(new.version) < _version_key(current.version):
        raise fail(f"version {new.version} is lower than the loaded {current.version}: base only moves forward")
    if new.version == current.version and new != current:
        raise fail(f"version {new.version} is already loaded with other content: publish a higher version")
