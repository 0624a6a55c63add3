"""The one audit emitter: every processed record (and later request) becomes an event on audit.events.v1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from schemas.records import AuditEvent

SendFn = Callable[[str, bytes | None, bytes], Awaitable[None]]


class AuditEmitter:
    """Serialises audit events and sends them keyed by tenant, so one tenant's events stay in order."""

    def __init__(self, topic: str, send: SendFn) -> None:
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
