"""Hot reload of versioned packs (cleaning rules, inference policies) from the compacted rules.v1 topic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, get_args

import structlog

from agents.core import metrics
from agents.core.dead_letters import StageFailure
from agents.core.decode import parse_json_bytes, validate
from agents.core.messages import SourcePosition
from agents.core.stage import unexpected_failure
from models.cleaning import RulePack
from models.dialog import PolicyPack
from schemas.errors import PoisonRecordError, SchemaViolationError
from schemas.records import RulePackMessage, pack_key
from topics.specs import RULES

log = structlog.get_logger(__name__)


class Named(Protocol):
    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=Named)

# The kinds rules.v1 carries, as its message schema declares them, and the parser of each kind's packs.
PACK_KINDS: tuple[str, ...] = get_args(RulePackMessage.model_fields["kind"].annotation)
PACK_PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "cleaning": RulePack.from_mapping,
    "policy": PolicyPack.from_mapping,
}
E = TypeVar("E")


class EngineRef(Generic[E]):
    """The current engine (rule packs, policies); a hot reload swaps the reference, so a batch or a request
    always sees one consistent engine."""

    def __init__(self, engine: E) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    @property
    def engine(self) -> E:
        return self._engine

    def update(self, change: Callable[[E], E]) -> E:
        with self._lock:
            self._engine = change(self._engine)
            return self._engine


class PackListener(Generic[E, P]):
    """Applies the rules.v1 messages of one kind to a shared engine; a bad pack is dead-lettered and the
    engine stays as it was. Messages of other kinds are someone else's and are skipped.

    What an engine refuses (removing or weakening the base cleaning pack, see models/cleaning/base_guard.py)
    is dead-lettered the same way, with the engine's reason."""

    def __init__(
        self,
        *,
        kind: str,
        ref: EngineRef[E],
        parse: Callable[[Mapping[str, Any]], P],
        with_pack: Callable[[E, P], E],
        without_pack: Callable[[E, str], E],
        version: Callable[[E], str],
        on_failure: Callable[[StageFailure], None],
        max_bytes: int,
    ) -> None:
        self.kind = kind
        self.ref = ref
        self.parse = parse
        self.with_pack = with_pack
        self.without_pack = without_pack
        self.version = version
        self.on_failure = on_failure
        self.max_bytes = max_bytes

    def __call__(self, key: bytes | None, value: bytes | None, offset: int, partition: int = 0) -> None:
        position = SourcePosition(RULES.name, partition, offset, key, value)
        try:
            change = decode_pack_message(key, value, max_bytes=self.max_bytes, parsers={self.kind: self.parse})
            if change is None or change.kind != self.kind:
                return  # another kind's message: its own listener applies it
            pack = change.pack
            if pack is None:
                engine = self.ref.update(lambda current: self.without_pack(current, change.name))
            else:
                engine = self.ref.update(lambda current: self.with_pack(current, pack))
            metrics.RULE_PACK_UPDATES.labels("applied").inc()
            log.info("packs_updated", kind=self.kind, version=self.version(engine), offset=offset)
        except Exception as exc:
            metrics.RULE_PACK_UPDATES.labels("rejected").inc()
            log.warning("pack_rejected", kind=self.kind, offset=offset, error_type=type(exc).__name__)
            self.on_failure(unexpected_failure(position, "rules", exc))


@dataclass(frozen=True)
class PackChange:
    """What one rules.v1 message asks for: `pack` in force under (kind, name), or that pack removed (None)."""

    kind: str
    name: str
    pack: Any | None


def pack_of_key(key: bytes) -> tuple[str, str] | None:
    """The (kind, name) a rules.v1 key names (the inverse of schemas.records.pack_key); None for a key no kind
    of pack uses, which no worker applies."""
    text = key.decode("utf-8", errors="strict")
    prefix, colon, rest = text.partition(":")
    kind, name = (prefix, rest) if colon else ("cleaning", text)
    return (kind, name) if kind in PACK_KINDS and pack_key(kind, name) == text else None


def decode_pack_message(
    key: bytes | None,
    value: bytes | None,
    *,
    max_bytes: int,
    parsers: Mapping[str, Callable[[Mapping[str, Any]], Named]],
) -> PackChange | None:
    """One rules.v1 message as the change it asks for, the one reading of the topic that workers and
    `sluice rules show` share. None: a kind none of `parsers` handles. Raises a poison-record error for what
    workers dead-letter (bad JSON or schema, an invalid pack, a name that differs from its pack's)."""
    if value is None:  # a Kafka tombstone for a pack key removes that pack
        if not key:
            raise SchemaViolationError("tombstone without a key: cannot tell which pack to remove", stage="rules")
        named = pack_of_key(key)
        return None if named is None or named[0] not in parsers else PackChange(*named, None)
    message: RulePackMessage = validate(
        RulePackMessage, parse_json_bytes(value, max_bytes=max_bytes, stage="rules"), stage="rules"
    )
    if message.kind not in parsers:
        return None
    if message.pack is None:
        return PackChange(message.kind, message.name, None)
    try:
        pack = parsers[message.kind](message.pack)
    except (ValueError, PoisonRecordError) as exc:  # RulePackError, PolicyError
        raise SchemaViolationError(f"invalid {message.kind} pack: {exc}", stage="rules") from None
    if pack.name != message.name:
        raise SchemaViolationError(f"message name {message.name!r} differs from pack name {pack.name!r}", stage="rules")
    return PackChange(message.kind, message.name, pack)


def check_publishable(kind: str, pack: Any) -> None:
    """Refuse before publishing what every worker would refuse on arrival: the pack is applied to an engine of
    the bundled packs, so a base pack that drops base rules, or a rule id another bundled pack owns, raises
    (RulePackError or PolicyError, both ValueError). `sluice rules publish` calls this after parsing."""
    from models.cleaning import RuleEngine, load_bundled_packs
    from models.dialog import PolicyEngine, load_default_policy

    if kind == "cleaning":
        RuleEngine(load_bundled_packs()).with_pack(pack)
    else:
        PolicyEngine([load_default_policy()]).with_pack(pack)


def pack_listener(
    kind: str, ref: EngineRef[Any], on_failure: Callable[[StageFailure], None], max_bytes: int
) -> PackListener[Any, Any]:
    """The listener for one kind of pack: `cleaning` (de-identification workers) or `policy` (inference).

    Both engines share the pack interface (with_pack, without_pack, version); only the parser differs.
    """
    return PackListener(
        kind=kind,
        ref=ref,
        parse=PACK_PARSERS[kind],
        with_pack=lambda engine, pack: engine.with_pack(pack),
        without_pack=lambda engine, name: engine.without_pack(name),
        version=lambda engine: str(engine.version),
        on_failure=on_failure,
        max_bytes=max_bytes,
    )
