"""Hot reload of versioned packs (cleaning rules, inference policies) from the compacted rules.v1 topic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import structlog

from agents.core import metrics
from agents.core.dead_letters import StageFailure
from agents.core.decode import parse_json_bytes, validate
from agents.core.messages import SourcePosition
from agents.core.stage import unexpected_failure
from models.cleaning import RulePack
from schemas.errors import PoisonRecordError, SchemaViolationError
from schemas.records import RulePackMessage, pack_key
from topics.specs import RULES

log = structlog.get_logger(__name__)


class Named(Protocol):
    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=Named)
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

    def _key_name(self, key: bytes) -> str | None:
        text = key.decode("utf-8", errors="strict")
        prefix = pack_key(self.kind, "")
        if self.kind == "cleaning":
            return None if ":" in text else text
        return text[len(prefix) :] if text.startswith(prefix) else None

    def __call__(self, key: bytes | None, value: bytes | None, offset: int, partition: int = 0) -> None:
        position = SourcePosition(RULES.name, partition, offset, key, value)
        try:
            if value is None:
                # A Kafka tombstone (null value) for a pack key removes that pack.
                if not key:
                    raise SchemaViolationError("tombstone without a key: cannot tell which pack to remove")
                name = self._key_name(key)
                if name is None:
                    return
                engine = self.ref.update(lambda current: self.without_pack(current, name))
            else:
                message: RulePackMessage = validate(
                    RulePackMessage, parse_json_bytes(value, max_bytes=self.max_bytes, stage="rules"), stage="rules"
                )
                if message.kind != self.kind:
                    return
                if message.pack is None:
                    engine = self.ref.update(lambda current: self.without_pack(current, message.name))
                else:
                    try:
                        pack = self.parse(message.pack)
                    except (ValueError, PoisonRecordError) as exc:  # RulePackError, PolicyError
                        raise SchemaViolationError(f"invalid {self.kind} pack: {exc}", stage="rules") from None
                    if pack.name != message.name:
                        raise SchemaViolationError(
                            f"message name {message.name!r} differs from pack name {pack.name!r}", stage="rules"
                        )
                    engine = self.ref.update(lambda current: self.with_pack(current, pack))
            metrics.RULE_PACK_UPDATES.labels("applied").inc()
            log.info("packs_updated", kind=self.kind, version=self.version(engine), offset=offset)
        except Exception as exc:
            metrics.RULE_PACK_UPDATES.labels("rejected").inc()
            log.warning("pack_rejected", kind=self.kind, offset=offset, error_type=type(exc).__name__)
            self.on_failure(unexpected_failure(position, "rules", exc))


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
    from models.dialog import PolicyPack

    parsers: dict[str, Callable[[Mapping[str, Any]], Any]] = {
        "cleaning": RulePack.from_mapping,
        "policy": PolicyPack.from_mapping,
    }
    return PackListener(
        kind=kind,
        ref=ref,
        parse=parsers[kind],
        with_pack=lambda engine, pack: engine.with_pack(pack),
        without_pack=lambda engine, name: engine.without_pack(name),
        version=lambda engine: str(engine.version),
        on_failure=on_failure,
        max_bytes=max_bytes,
    )
