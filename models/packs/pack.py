"""The one way a versioned pack is loaded and validated; each pack kind declares its rule kinds and rule parser."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, cast

import yaml

from models.packs.checks import (
    Fail,
    check_fields,
    check_kind,
    check_name,
    check_rule_id,
    check_str,
    check_version,
    load_yaml,
    named_mapping,
)
from schemas.errors import PoisonRecordError

DEFAULT_PRIORITY = 100
_HEADER_FIELDS = ("name", "version", "description", "priority", "rules")
_REQUIRED_FIELDS = ("name", "version", "rules")


class PackError(PoisonRecordError, ValueError):
    """A pack is invalid (bad YAML, unknown kind, missing field, bad regex, clashing ids).

    Packs also arrive at run time on a Kafka topic, so this is a poison-record error: the caller
    dead-letters the pack and keeps the engine it had. Each pack kind subclasses it with its `what`
    (how messages name a pack) and `stage`.
    """

    what: ClassVar[str] = "pack"

    def __init__(self, reason: str, *, pack: str | None = None, rule: str | None = None) -> None:
        self.reason = reason
        self.pack = pack
        self.rule = rule
        where = [f"{self.what} {pack!r}"] if pack is not None else []
        if rule is not None:
            where.append(f"rule {rule!r}")
        super().__init__(": ".join([*where, reason]))

    @classmethod
    def at(cls, *, pack: str | None = None, rule: str | None = None) -> Callable[[str], Self]:
        """A `Fail` that places every reason it is given in this pack and rule."""
        return lambda reason: cls(reason, pack=pack, rule=rule)

    def in_pack(self, pack: str) -> Self:
        """The same error, now naming the pack it was found in (rules do not know their pack)."""
        return type(self)(self.reason, pack=pack, rule=self.rule)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default exception pickling, and workers may ship
        # errors between processes.
        return (_rebuild, (type(self), self.reason, self.pack, self.rule))


def _rebuild(cls: type[PackError], reason: str, pack: str | None, rule: str | None) -> PackError:
    return cls(reason, pack=pack, rule=rule)


class PackRule(Protocol):
    """What the pack mechanism needs of a rule: an id unique in its pack, and its mapping form."""

    @property
    def id(self) -> str: ...

    def to_mapping(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=PackRule)


@dataclass(frozen=True)
class RuleFields:
    """The fields one kind of rule takes besides id, its kind field and description."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pack(Generic[R]):
    """A named, versioned, ordered set of rules. Engines apply packs by ascending `priority` (then name).

    A pack kind subclasses this and declares what differs: its error type, the field that names a rule's
    kind and the fields each kind takes, the rule classes, and `parse_rule`. Fields beyond the shared
    header (e.g. protected_terms) come in through the `extra_fields` hooks.
    """

    name: str
    version: str
    description: str
    rules: tuple[R, ...]
    priority: int = DEFAULT_PRIORITY

    error: ClassVar[type[PackError]]
    kind_field: ClassVar[str]
    rule_kinds: ClassVar[Mapping[str, RuleFields]]
    rule_types: ClassVar[tuple[type, ...]]
    extra_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parse_rule(cls, rule_id: str, kind: str, data: Mapping[str, Any], fail: Fail) -> R:
        """Build one rule whose id, kind and field names are already checked; raise `fail(reason)`."""
        raise NotImplementedError

    @classmethod
    def extras_from_mapping(cls, data: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
        """Constructor arguments for the `extra_fields` found in `data`."""
        return {}

    def extras_to_mapping(self) -> dict[str, Any]:
        """The `extra_fields` in mapping form."""
        return {}

    def __post_init__(self) -> None:
        check_name(self.name, self.error)
        fail = self.error.at(pack=self.name)
        check_version(self.version, fail)
        check_str(self.description, "description", fail, allow_empty=True)
        # bool is an int; `priority: yes` is a mistake, not priority 1.
        if not isinstance(self.priority, int) or isinstance(self.priority, bool):
            raise fail(f"priority must be an integer, got {self.priority!r}")
        if not isinstance(self.rules, tuple):
            raise fail(f"rules must be a tuple, got {type(self.rules).__name__}")
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if not isinstance(rule, self.rule_types):
                raise fail(f"rules[{index}] must be a rule, got {type(rule).__name__}")
            if rule.id in seen:
                raise self.error("duplicate rule id in this pack", pack=self.name, rule=rule.id)
            seen.add(rule.id)

    @property
    def label(self) -> str:
        """`name@version`, the form used in the engine version."""
        return f"{self.name}@{self.version}"

    @classmethod
    def from_yaml(cls, text: str) -> Self:
        """Parse and validate a pack from YAML text; any problem is the pack kind's error."""
        # from_mapping rejects a document that is not a mapping itself.
        return cls.from_mapping(cast(Mapping[str, Any], load_yaml(text, cls.error)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Self:
        """Validate a pack from its mapping form (parsed YAML or JSON); any problem is the pack kind's error."""
        data, label = named_mapping(data, cls.error.what, cls.error)
        fail = cls.error.at(pack=label)
        check_fields(data, allowed=(*_HEADER_FIELDS, *cls.extra_fields), required=_REQUIRED_FIELDS, fail=fail)
        raw_rules = data["rules"]
        if not isinstance(raw_rules, list | tuple):
            raise fail(f"rules must be a list, got {type(raw_rules).__name__}")
        extras = cls.extras_from_mapping(data, fail)
        try:
            return cls(
                name=data["name"],
                version=data["version"],
                description=data.get("description", ""),
                rules=tuple(cls._rule_from_mapping(raw, index) for index, raw in enumerate(raw_rules)),
                priority=data.get("priority", DEFAULT_PRIORITY),
                **extras,
            )
        except PackError as exc:
            raise exc if exc.pack is not None else exc.in_pack(label) from None

    @classmethod
    def _rule_from_mapping(cls, data: object, index: int) -> R:
        """The shared part of reading a rule: a mapping, a valid id, a known kind and only its fields."""
        at_index = cls.error.at(rule=f"rules[{index}]")
        if not isinstance(data, Mapping):
            raise at_index(f"must be a mapping, got {type(data).__name__}")
        if "id" not in data:
            raise at_index("missing required field 'id'")
        rule_id = check_rule_id(data["id"], at_index)
        fail = cls.error.at(rule=rule_id)
        field = cls.kind_field
        if data.get(field) is None:
            raise fail(f"missing required field {field!r}; one of {list(cls.rule_kinds)}")
        kind = check_kind(field, data[field], cls.rule_kinds, fail)
        fields = cls.rule_kinds[kind]
        check_fields(
            data,
            allowed=(*fields.required, *fields.optional, "id", field, "description"),
            required=fields.required,
            fail=fail,
            where=f" for {field} {kind!r}",
        )
        return cls.parse_rule(rule_id, kind, data, fail)

    def to_mapping(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-ready) that from_mapping turns back into an equal pack."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "priority": self.priority,
            **self.extras_to_mapping(),
            "rules": [rule.to_mapping() for rule in self.rules],
        }

    def to_yaml(self) -> str:
        """The pack as YAML text (what is published to the rules topic)."""
        return yaml.safe_dump(self.to_mapping(), allow_unicode=True, sort_keys=False)
