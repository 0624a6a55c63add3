"""Policy rules checked before the model: versioned YAML packs compiled into an immutable engine."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, cast

from models.cleaning.rules import MAX_PATTERN_CHARS, REGEX_FLAGS
from models.dialog._validate import (
    NAME_RE,
    NAME_RULE,
    check_str_list,
    close_match,
    load_yaml,
)
from models.dialog.errors import PolicyError
from models.packs import check_pack_header, check_pack_mapping

Action = Literal["answer", "reject", "review", "allow"]
ACTIONS: tuple[Action, ...] = ("answer", "reject", "review", "allow")
# The field each action needs besides id, when, action and description.
_ACTION_FIELD: dict[str, str | None] = {"answer": "text", "reject": "reason", "review": "reason", "allow": None}
CONDITIONS: tuple[str, ...] = ("pattern", "flags", "keywords", "tenants", "entity_types")
_RULE_FIELDS = frozenset({"id", "description", "when", "action", "text", "reason"})
_PACK_FIELDS = frozenset({"name", "version", "description", "priority", "rules"})
_RULE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
DEFAULT_PRIORITY = 100


def _normalise(text: str) -> str:
    # Full-width spellings ("ＩＤ", "１２３") are not a way around a rule.
    return unicodedata.normalize("NFKC", text)


@dataclass(frozen=True)
class Decision:
    """What to do with a prompt: the action, the rule that decided it (None: no rule matched), and the
    canned answer (`answer`) or the reason (`reject`, `review`)."""

    action: Action
    rule_id: str | None = None
    text: str | None = None
    reason: str | None = None


ALLOW = Decision(action="allow")


@dataclass(frozen=True)
class PolicyRule:
    """One rule: every condition given in `when` must hold (within a list, any item may match)."""

    id: str
    action: Action
    pattern: str | None = None
    flags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    text: str | None = None
    reason: str | None = None
    description: str = ""
    _compiled: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _folded_keywords: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _RULE_ID_RE.fullmatch(self.id):
            raise PolicyError(f"id must be a string of letters, digits, '.', '_' or '-' (at most 128), got {self.id!r}")

        def fail(reason: str) -> PolicyError:
            return PolicyError(reason, rule=self.id)

        if self.action not in ACTIONS:
            raise fail(f"unknown action {self.action!r}{close_match(self.action, ACTIONS)}; one of {list(ACTIONS)}")
        needed = _ACTION_FIELD[self.action]
        for name in ("text", "reason"):
            value = getattr(self, name)
            if name == needed and (not isinstance(value, str) or not value.strip()):
                raise fail(f"action {self.action!r} needs a non-empty string {name!r}")
            if name != needed and value is not None:
                raise fail(f"action {self.action!r} takes no {name!r}")
        if not isinstance(self.description, str):
            raise fail(f"description must be a string, got {type(self.description).__name__}")
        if not (self.pattern or self.keywords or self.tenants or self.entity_types):
            # A rule with no condition would match every prompt and hide every rule after it.
            raise fail(f"when needs at least one of {[c for c in CONDITIONS if c != 'flags']}")
        for name in ("flags", "keywords", "tenants", "entity_types"):
            value = getattr(self, name)
            # Tuples, not lists: rules are hashable values, compared and cached like any other.
            if not isinstance(value, tuple):
                raise fail(f"{name} must be a tuple, got {type(value).__name__}")
            if value:
                check_str_list(value, name, fail)
        object.__setattr__(self, "_compiled", self._compile(fail))
        object.__setattr__(self, "_folded_keywords", tuple(_normalise(keyword).casefold() for keyword in self.keywords))

    def _compile(self, fail: Callable[[str], PolicyError]) -> re.Pattern[str] | None:
        if self.pattern is None:
            if self.flags:
                raise fail("flags without a pattern")
            return None
        if not isinstance(self.pattern, str) or not self.pattern:
            raise fail("pattern must be a non-empty string")
        # Packs may arrive from a topic; a cap on pattern size keeps one message from compiling a huge automaton.
        if len(self.pattern) > MAX_PATTERN_CHARS:
            raise fail(f"pattern is {len(self.pattern)} characters, the limit is {MAX_PATTERN_CHARS}")
        unknown = [flag for flag in self.flags if flag not in REGEX_FLAGS]
        if unknown:
            raise fail(f"unknown regex flag(s) {unknown}; allowed: {sorted(REGEX_FLAGS)}")
        flags = re.NOFLAG
        for flag in self.flags:
            flags |= REGEX_FLAGS[flag]
        try:
            compiled = re.compile(self.pattern, flags)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            raise fail(f"bad regex {self.pattern!r}: {exc}") from None
        if compiled.search("") is not None:
            # It would match every prompt, which is never what a policy author meant.
            raise fail(f"pattern {self.pattern!r} matches the empty string")
        return compiled

    def matches(self, prompt: str, folded_prompt: str, tenant: str, entity_types: Collection[str]) -> bool:
        """Whether every condition holds. `prompt` is NFKC-normalised (patterns see it), `folded_prompt`
        is that case-folded too (keywords see it: they match regardless of case)."""
        if self.tenants and tenant not in self.tenants:
            return False
        if self.entity_types and not any(entity in entity_types for entity in self.entity_types):
            return False
        if self._folded_keywords and not any(keyword in folded_prompt for keyword in self._folded_keywords):
            return False
        return self._compiled is None or self._compiled.search(prompt) is not None

    def decision(self) -> Decision:
        return Decision(action=self.action, rule_id=self.id, text=self.text, reason=self.reason)

    def to_mapping(self) -> dict[str, Any]:
        when: dict[str, Any] = {}
        if self.pattern is not None:
            when["pattern"] = self.pattern
        for name in ("flags", "keywords", "tenants", "entity_types"):
            if getattr(self, name):
                when[name] = list(getattr(self, name))
        data: dict[str, Any] = {"id": self.id, "description": self.description, "when": when, "action": self.action}
        if self.text is not None:
            data["text"] = self.text
        if self.reason is not None:
            data["reason"] = self.reason
        return data


def _list_or_empty(when: Mapping[str, Any], key: str, fail: Callable[[str], PolicyError]) -> tuple[str, ...]:
    if key not in when:
        return ()
    return check_str_list(when[key], key, fail)


def rule_from_mapping(data: object, index: int) -> PolicyRule:
    """Build one rule from its YAML mapping; every problem is a PolicyError naming the rule."""
    label = f"rules[{index}]"
    if not isinstance(data, Mapping):
        raise PolicyError(f"must be a mapping, got {type(data).__name__}", rule=label)
    raw_id = data.get("id")
    if not isinstance(raw_id, str) or not _RULE_ID_RE.fullmatch(raw_id):
        raise PolicyError(f"id must be a string of letters, digits, '.', '_' or '-', got {raw_id!r}", rule=label)

    def fail(reason: str) -> PolicyError:
        return PolicyError(reason, rule=raw_id)

    for key in data:
        if key not in _RULE_FIELDS:
            raise fail(f"unknown field {key!r}{close_match(key, _RULE_FIELDS)}; allowed: {sorted(_RULE_FIELDS)}")
    for key in ("when", "action"):
        if key not in data:
            raise fail(f"missing required field {key!r}")
    when = data["when"]
    if not isinstance(when, Mapping):
        raise fail(f"when must be a mapping, got {type(when).__name__}")
    for key in when:
        if key not in CONDITIONS:
            raise fail(f"unknown condition {key!r}{close_match(key, CONDITIONS)}; one of {list(CONDITIONS)}")
    return PolicyRule(
        id=raw_id,
        action=cast(Action, data["action"]),
        pattern=when.get("pattern"),
        flags=_list_or_empty(when, "flags", fail),
        keywords=_list_or_empty(when, "keywords", fail),
        tenants=_list_or_empty(when, "tenants", fail),
        entity_types=_list_or_empty(when, "entity_types", fail),
        text=data.get("text"),
        reason=data.get("reason"),
        description=data.get("description", ""),
    )


@dataclass(frozen=True)
class PolicyPack:
    """A named, versioned, ordered list of policy rules. Engines check packs by ascending priority."""

    name: str
    version: str
    description: str
    rules: tuple[PolicyRule, ...]
    priority: int = DEFAULT_PRIORITY

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_RE.fullmatch(self.name):
            raise PolicyError(f"name must be {NAME_RULE}, got {self.name!r}")

        def fail(reason: str) -> PolicyError:
            return PolicyError(reason, pack=self.name)

        check_pack_header(self.version, self.description, self.priority, self.rules, fail)
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if not isinstance(rule, PolicyRule):
                raise fail(f"rules[{index}] must be a PolicyRule, got {type(rule).__name__}")
            if rule.id in seen:
                raise PolicyError("duplicate rule id in this pack", pack=self.name, rule=rule.id)
            seen.add(rule.id)

    @property
    def label(self) -> str:
        """`name@version`, the form used in the engine version."""
        return f"{self.name}@{self.version}"

    @classmethod
    def from_yaml(cls, text: str) -> PolicyPack:
        """Parse and validate a pack from YAML text; any problem is a PolicyError."""
        return cls.from_mapping(cast(Mapping[str, Any], load_yaml(text, PolicyError)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PolicyPack:
        """Validate a pack from its mapping form (parsed YAML or JSON); any problem is a PolicyError."""
        label, data, raw_rules = check_pack_mapping(data, what="policy pack", allowed=_PACK_FIELDS, error=PolicyError)
        try:
            return cls(
                name=data["name"],
                version=data["version"],
                description=data.get("description", ""),
                rules=tuple(rule_from_mapping(raw, index) for index, raw in enumerate(raw_rules)),
                priority=data.get("priority", DEFAULT_PRIORITY),
            )
        except PolicyError as exc:
            raise exc if exc.pack is not None else exc.in_pack(label) from None

    def to_mapping(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-ready) that from_mapping turns back into an equal pack."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "priority": self.priority,
            "rules": [rule.to_mapping() for rule in self.rules],
        }


class PolicyEngine:
    """Checks a prompt against the rules of every pack, packs in (priority, name) order, rules as written.

    The first matching rule decides; no match allows. Engines are immutable: with_pack / without_pack
    return a new engine, so hot reload is a single reference swap and each decision has one `version`.
    """

    __slots__ = ("_packs", "_rules", "_version")

    def __init__(self, packs: Sequence[PolicyPack]) -> None:
        # Sorting here makes the engine (and its version) depend only on which packs are loaded, not on
        # the order hot reloads arrived in.
        ordered = tuple(sorted(packs, key=lambda pack: (pack.priority, pack.name)))
        owner: dict[str, str] = {}
        for pack in ordered:
            if sum(other.name == pack.name for other in ordered) > 1:
                raise PolicyError("loaded twice in one engine", pack=pack.name)
            for rule in pack.rules:
                if rule.id in owner:
                    # Decisions name their rule; two rules sharing an id would make the audit ambiguous.
                    raise PolicyError(f"rule id also used by pack {owner[rule.id]!r}", pack=pack.name, rule=rule.id)
                owner[rule.id] = pack.name
        self._packs = ordered
        self._rules = tuple(rule for pack in ordered for rule in pack.rules)
        self._version = "+".join(pack.label for pack in ordered)

    @property
    def version(self) -> str:
        """`name@version` of every pack in checking order, joined by '+'; recorded with every decision."""
        return self._version

    @property
    def packs(self) -> tuple[PolicyPack, ...]:
        """The loaded packs in checking order."""
        return self._packs

    def decide(self, prompt: str, *, tenant: str, entity_types: Collection[str] = ()) -> Decision:
        """The decision of the first rule whose conditions all hold, or allow.

        `entity_types` are the types the de-identification step found in the prompt (e.g. CN_RESIDENT_ID).
        """
        normalised = _normalise(prompt)
        folded = normalised.casefold()
        types = frozenset(entity_types)
        for rule in self._rules:
            if rule.matches(normalised, folded, tenant, types):
                return rule.decision()
        return ALLOW

    def with_pack(self, pack: PolicyPack) -> PolicyEngine:
        """A new engine with `pack` replacing the loaded pack of that name, or added; self is unchanged."""
        return PolicyEngine([*(p for p in self._packs if p.name != pack.name), pack])

    def without_pack(self, name: str) -> PolicyEngine:
        """A new engine without the pack called `name`; self is unchanged (and returned if it had none)."""
        if all(pack.name != name for pack in self._packs):
            return self
        return PolicyEngine([pack for pack in self._packs if pack.name != name])

    def __repr__(self) -> str:
        return f"PolicyEngine({self._version!r})"


@lru_cache(maxsize=1)
def load_default_policy() -> PolicyPack:
    """The bundled default policy pack (policies/default.yaml); packs are immutable, so it is parsed once."""
    return PolicyPack.from_yaml(
        resources.files("models.dialog.policies").joinpath("default.yaml").read_text(encoding="utf-8")
    )
