"""The one audit emitter: what Sluice did with a record or request becomes an unsealed draft; the chainer seals it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from agents.core.app import SendFn
from schemas.records import AuditEvent
from topics.specs import AUDIT_PENDING


class AuditEmitter:
    """Serialises audit events onto audit.pending.v1 keyed by tenant, so one tenant's events stay in order.

    Drafts travel in the same Kafka transaction as the output they describe (under exactly-once); the chainer
    (agents/audit/chainer.py) seals each into the hash chain of the same partition of audit.events.v1.
    """

    def __init__(self, send: SendFn, topic: str = AUDIT_PENDING.name) -> None:
        self.topic = topic
        self._send = send

    async def emit(
        self,
        event_type: str,
        *,
        stage: str,
        subject_id: str,
        tenant: str | None,
        source_topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        entity_counts: dict[str, int] | None = None,
        versions: dict[str, str] | None = None,
        timings_ms: dict[str, float] | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        event = AuditEvent(
            event_id=uuid.uuid4().hex,
            event_type=event_type,
            stage=stage,
            subject_id=subject_id,
            tenant=tenant,
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            entity_counts=entity_counts or {},
            versions=versions or {},
            timings_ms={k: round(v, 3) for k, v in (timings_ms or {}).items()},
            details=details or {},
            emitted_at=datetime.now(UTC),
        )
        key = (tenant or "_system").encode()
        await self._send(self.topic, key, event.model_dump_json().encode())
        return event
