"""Policy rules checked before the model: versioned YAML packs compiled into an immutable engine."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, cast

from models.dialog.errors import PolicyError
from models.packs import Pack, PackEngine, RuleFields
from models.packs.checks import (
    Fail,
    bundled_text,
    check_fields,
    check_kind,
    check_rule_id,
    check_str,
    check_str_list,
    check_str_tuple,
    compile_pattern,
)
from models.packs.linear_regex import PackPattern

Action = Literal["answer", "reject", "review", "allow"]
ACTIONS: tuple[Action, ...] = ("answer", "reject", "review", "allow")
# The field each action needs besides id, when, action and description.
_ACTION_FIELD: dict[str, str | None] = {"answer": "text", "reject": "reason", "review": "reason", "allow": None}
# What a review rule may add: the risk score shown to the reviewer (0..1), whether the model drafts an answer
# before review (default yes), and how long the item may wait for a decision before it expires.
REVIEW_FIELDS: tuple[str, ...] = ("risk", "draft", "deadline_s")
DEFAULT_REVIEW_RISK = 0.5
MAX_REVIEW_DEADLINE_S = 30 * 24 * 3600
# In a pack every action needs `when`; which of text / reason it needs is PolicyRule's check (_ACTION_FIELD).
RULE_KINDS: dict[str, RuleFields] = {
    action: RuleFields(required=("when",), optional=("text", "reason", *(REVIEW_FIELDS if action == "review" else ())))
    for action in ACTIONS
}
CONDITIONS: tuple[str, ...] = ("pattern", "flags", "keywords", "tenants", "entity_types")


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
    risk: float | None = None
    draft: bool = True
    deadline_s: int | None = None


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
    risk: float | None = None
    draft: bool | None = None
    deadline_s: int | None = None
    description: str = ""
    _compiled: PackPattern | None = field(init=False, repr=False, compare=False)
    _folded_keywords: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fail = PolicyError.at(rule=check_rule_id(self.id, PolicyError))
        check_kind("action", self.action, ACTIONS, fail)
        needed = _ACTION_FIELD[self.action]
        for name in ("text", "reason"):
            value = getattr(self, name)
            if name == needed and (not isinstance(value, str) or not value.strip()):
                raise fail(f"action {self.action!r} needs a non-empty string {name!r}")
            if name != needed and value is not None:
                raise fail(f"action {self.action!r} takes no {name!r}")
        check_str(self.description, "description", fail, allow_empty=True)
        self._check_review_fields(fail)
        if not (self.pattern or self.keywords or self.tenants or self.entity_types):
            # A rule with no condition would match every prompt and hide every rule after it.
            raise fail(f"when needs at least one of {[c for c in CONDITIONS if c != 'flags']}")
        for name in ("flags", "keywords", "tenants", "entity_types"):
            # Tuples, not lists: rules are hashable values, compared and cached like any other.
            check_str_tuple(getattr(self, name), name, fail)
        object.__setattr__(self, "_compiled", self._compile(fail))
        object.__setattr__(self, "_folded_keywords", tuple(_normalise(keyword).casefold() for keyword in self.keywords))

    def _check_review_fields(self, fail: Fail) -> None:
        given = [name for name in REVIEW_FIELDS if getattr(self, name) is not None]
        if self.action != "review" and given:
            raise fail(f"action {self.action!r} takes no {given[0]!r} (only review rules do)")
        risk = self.risk
        if risk is not None and (isinstance(risk, bool) or not isinstance(risk, int | float) or not 0 <= risk <= 1):
            raise fail("risk must be a number from 0 to 1")
        if self.draft is not None and not isinstance(self.draft, bool):
            raise fail("draft must be true or false")
        deadline = self.deadline_s
        if deadline is not None and (
            isinstance(deadline, bool) or not isinstance(deadline, int) or not 1 <= deadline <= MAX_REVIEW_DEADLINE_S
        ):
            raise fail(f"deadline_s must be a whole number of seconds from 1 to {MAX_REVIEW_DEADLINE_S}")

    def _compile(self, fail: Fail) -> PackPattern | None:
        if self.pattern is None:
            if self.flags:
                raise fail("flags without a pattern")
            return None
        if not isinstance(self.pattern, str) or not self.pattern:
            raise fail("pattern must be a non-empty string")
        return compile_pattern(self.pattern, self.flags, fail)

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
        if self.action != "review":
            return Decision(action=self.action, rule_id=self.id, text=self.text, reason=self.reason)
        return Decision(
            action=self.action,
            rule_id=self.id,
            reason=self.reason,
            risk=float(self.risk) if self.risk is not None else DEFAULT_REVIEW_RISK,
            draft=self.draft is not False,
            deadline_s=self.deadline_s,
        )

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
        for name in REVIEW_FIELDS:
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data


def _list_or_empty(when: Mapping[str, Any], key: str, fail: Fail) -> tuple[str, ...]:
    if key not in when:
        return ()
    return check_str_list(when[key], key, fail)


@dataclass(frozen=True)
class PolicyPack(Pack[PolicyRule]):
    """A named, versioned, ordered list of policy rules. Engines check packs by ascending priority."""

    error = PolicyError
    kind_field = "action"
    rule_kinds = RULE_KINDS
    rule_types = (PolicyRule,)

    @classmethod
    def parse_rule(cls, rule_id: str, kind: str, data: Mapping[str, Any], fail: Fail) -> PolicyRule:
        when = data["when"]
        if not isinstance(when, Mapping):
            raise fail(f"when must be a mapping, got {type(when).__name__}")
        check_fields(when, allowed=CONDITIONS, required=(), fail=fail, noun="condition")
        return PolicyRule(
            id=rule_id,
            action=cast(Action, kind),
            pattern=when.get("pattern"),
            flags=_list_or_empty(when, "flags", fail),
            keywords=_list_or_empty(when, "keywords", fail),
            tenants=_list_or_empty(when, "tenants", fail),
            entity_types=_list_or_empty(when, "entity_types", fail),
            text=data.get("text"),
            reason=data.get("reason"),
            risk=data.get("risk"),
            draft=data.get("draft"),
            deadline_s=data.get("deadline_s"),
            description=data.get("description", ""),
        )


class PolicyEngine(PackEngine[PolicyPack]):
    """Checks a prompt against the rules of every pack, packs in (priority, name) order, rules as written.

    The first matching rule decides; no match allows. Engines are immutable (see PackEngine): each
    decision comes from one `version`.
    """

    __slots__ = ("_rules",)

    def __init__(self, packs: Sequence[PolicyPack]) -> None:
        super().__init__(packs)
        self._rules = tuple(rule for pack in self.packs for rule in pack.rules)

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


@lru_cache(maxsize=1)
def load_default_policy() -> PolicyPack:
    """The bundled default policy pack (policies/default.yaml); packs are immutable, so it is parsed once."""
    return PolicyPack.from_yaml(bundled_text("models.dialog.policies", "default.yaml"))
