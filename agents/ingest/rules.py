"""Hot reload of cleaning rule packs from the compacted rules.v1 topic."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from agents import metrics
from agents.dead_letters import SourcePosition, StageFailure
from agents.errors import SchemaViolationError
from agents.ingest.decode import parse_json_bytes, validate
from agents.ingest.stages import RuleEngineRef, unexpected_failure
from models.cleaning import RulePack, RulePackError
from schemas.records import RulePackMessage
from topics.specs import RULES

log = structlog.get_logger(__name__)


class RulePackListener:
    """Applies each rules.v1 message to the shared engine; a bad pack is dead-lettered, the old one stays."""

    def __init__(self, ref: RuleEngineRef, on_failure: Callable[[StageFailure], None], max_bytes: int) -> None:
        self.ref = ref
        self.on_failure = on_failure
        self.max_bytes = max_bytes

    def __call__(self, key: bytes | None, value: bytes | None, offset: int, partition: int = 0) -> None:
        position = SourcePosition(RULES.name, partition, offset, key, value)
        try:
            if value is None:
                # A Kafka tombstone (null value) for a pack name removes that pack.
                if not key:
                    raise SchemaViolationError("tombstone without a key: cannot tell which pack to remove")
                name = key.decode("utf-8", errors="strict")
                engine = self.ref.update(lambda current: current.without_pack(name))
            else:
                message: RulePackMessage = validate(
                    RulePackMessage,
                    parse_json_bytes(value, max_bytes=self.max_bytes, stage="rules"),
                    stage="rules",
                )
                if message.pack is None:
                    engine = self.ref.update(lambda current: current.without_pack(message.name))
                else:
                    try:
                        pack = RulePack.from_mapping(message.pack)
                    except RulePackError as exc:
                        raise SchemaViolationError(f"invalid rule pack: {exc}", stage="rules") from None
                    if pack.name != message.name:
                        raise SchemaViolationError(
                            f"message name {message.name!r} differs from pack name {pack.name!r}",
                            stage="rules",
                        )
                    engine = self.ref.update(lambda current: current.with_pack(pack))
            metrics.RULE_PACK_UPDATES.labels("applied").inc()
            log.info("rule_packs_updated", rule_pack_version=engine.version, offset=offset)
        except Exception as exc:
            metrics.RULE_PACK_UPDATES.labels("rejected").inc()
            log.warning("rule_pack_rejected", offset=offset, error_type=type(exc).__name__)
            self.on_failure(unexpected_failure(position, "rules", exc))
