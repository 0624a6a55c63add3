"""The inference agent: requests in, exactly one response out per request, sessions kept in a Faust table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from agents.core import metrics
from agents.core.app import SendFn
from agents.core.audit import AuditEmitter
from agents.core.restart import UNAVAILABLE, exit_for_restart
from agents.core.runner import BatchRunner, micro_batches, position_of
from agents.core.transactions import attribute_to, in_flight
from agents.inference.binding import Refusal, TenantBinding, binding_of
from agents.inference.decode import InvalidRequest, Unanswerable, decode_request
from agents.inference.expiry import ExpiringTable
from agents.inference.ordering import SessionQueues
from agents.inference.reply_to import ReplyToRule
from agents.inference.review import REVIEWS_TABLE
from agents.inference.service import Handled, InferenceService
from agents.inference.streaming import RequestStream, Streams
from agents.inference.tenancy import owned, owned_by, request_key, table_key, tenant_of
from models.dialog import SessionHistory
from schemas.inference import InferenceRequest, InferenceResponse
from topics.specs import INFERENCE_CONTEXT, INFERENCE_REQUESTS, INFERENCE_RESPONSES, REVIEW_PENDING

log = structlog.get_logger(__name__)

# Both tables are keyed by (tenant, id) (agents/inference/tenancy.py): a request reads and writes only entries of
# its own tenant, so another tenant's request with the same session id or request id touches none of them.
# [tenant, session_id] → the session's de-identified history; a one-turn request (no session_id) stores none.
SESSIONS_TABLE = "sessions"
# [tenant, request_id] → what was answered: a request seen again (a client retry, a replayed topic) gets no second
# response.
ANSWERED_TABLE = "answered_requests"
INFERENCE_TABLES = (SESSIONS_TABLE, ANSWERED_TABLE, REVIEWS_TABLE)


@dataclass
class InferenceFlow:
    service: InferenceService
    runner: BatchRunner  # the one dead-letter + audit path, shared with ingest
    send: SendFn
    take: int
    within_s: float
    max_message_bytes: int
    partitions: int
    # Requests taken from Kafka and not yet answered, all sessions together: the reader waits above this.
    max_in_flight: int = 256
    answered_retention_s: float = 7 * 24 * 3600.0
    session_retention_s: float = 7 * 24 * 3600.0
    max_sessions_per_tenant: int = 10_000
    reply_to_rule: ReplyToRule = field(default_factory=ReplyToRule.from_patterns)
    # Whether a reply_to topic exists: a send to a missing topic waits for metadata forever (and under
    # exactly-once would hold up the commit), so such a request is answered on inference.responses.v1 instead.
    topic_exists: Callable[[str], bool] = lambda _name: True
    # The shared topic and each tenant's inference.requests.<tenant>.v1 (agents/inference/binding.py). Faust 0.15
    # cannot subscribe by pattern, so the worker subscribes to the tenant topics that exist when it starts.
    request_topics: Sequence[str] = (INFERENCE_REQUESTS.name,)
    # Partial responses of `stream: true` requests (agents/inference/streaming.py); None: never streamed.
    streams: Streams | None = None

    def __post_init__(self) -> None:
        self._answered: ExpiringTable | None = None  # the answered_requests table, once registered
        # Requests (topic, partition, offset) whose response was published: they may commit early (_answer_one).
        self._published: set[tuple[str, int, int]] = set()

    @property
    def answered(self) -> ExpiringTable:
        if self._answered is None:
            raise RuntimeError("InferenceFlow.register(app) (or use_tables) declares the answered_requests table first")
        return self._answered

    @property
    def audit(self) -> AuditEmitter:
        return self.runner.audit

    def use_tables(self, sessions: MutableMapping[str, Any], answered: MutableMapping[str, Any]) -> ExpiringTable:
        """Wrap the two tables (Faust tables; plain dicts in unit tests); returns the sessions table."""
        # Both are written in the partition of the request being answered (requests are keyed by session_id): a
        # session's history lives where its turns arrive, and a retry sent with the same key finds its entry.
        self._answered = ExpiringTable(answered, self.answered_retention_s)
        return ExpiringTable(
            sessions, self.session_retention_s, owner_of=tenant_of, max_per_owner=self.max_sessions_per_tenant
        )

    def register(self, app: faust.App) -> Any:
        requests = app.topic(*self.request_topics, key_serializer="raw", value_serializer="raw")
        sessions = self.use_tables(
            app.Table(SESSIONS_TABLE, default=None, partitions=self.partitions, key_type=str),
            app.Table(ANSWERED_TABLE, default=None, partitions=self.partitions, key_type=str),
        )
        answered = self.answered

        @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # faust's signal signature is too narrow
        async def relearn_expiry(sender: Any, **_: Any) -> None:
            answered.rebalanced()
            sessions.rebalanced()
            if self.streams is not None:
                self.streams.rebalanced()

        # One actor reads requests in offset order and hands them to a queue per session (agents/inference/
        # ordering.py): sessions are answered side by side, which is what lets the batcher fill batches, and a
        # session's turns one after the other in the order they were sent, each with the history before it. The
        # reader does not wait for answers, only for room: a new micro-batch is taken while earlier ones are being
        # answered. A request is acknowledged when it is answered, and committed only then (the in_flight guard).
        @app.agent(requests, name="answer_requests", concurrency=1)
        async def answer_requests(stream: faust.StreamT[bytes]) -> None:
            queues: SessionQueues[faust.EventT[bytes]] = SessionQueues(
                lambda event: self._answer_one(event, sessions),
                max_in_flight=self.max_in_flight,
                on_error=_unexpected_failure,
            )
            try:
                async for events in micro_batches(stream).take_events(self.take, within=self.within_s):
                    in_flight.begin(events)
                    for event in events:
                        # take_events acknowledges the micro-batch as this body moves on, long before its requests
                        # are answered; a second reference keeps each unacknowledged until _answer_one is done, so
                        # that a rebalance waits for the requests being answered (Faust's stream_wait_empty).
                        event.message.incref()
                        await queues.put(session_key(event), event)
            finally:
                await queues.close()

        return answer_requests

    async def _answer_one(self, event: faust.EventT[bytes], sessions: ExpiringTable) -> None:
        await self._answer(event, sessions)
        # Only once every output of this request was made (not on cancellation). A request that got its response
        # (and so its answered_requests entry, in the same transaction) may commit before the requests ahead of it in
        # its partition: its response then does not wait for another session's slower answer. If the worker dies
        # before the offset commits, the repeat finds the entry and is suppressed, so it is still answered once.
        position = position_of(event)
        published = (position.topic, position.partition, position.offset) in self._published
        self._published.discard((position.topic, position.partition, position.offset))
        in_flight.finish(event, release_early=published)
        # The reader's reference released: with take_events' own (released when its micro-batch moved on, before or
        # after this) the request is acknowledged.
        event.ack()

    async def _answer(self, event: faust.EventT[bytes], sessions: ExpiringTable) -> None:
        # Table writes go to the changelog partition of "the current event"; inside this task that must be
        # this request's event, not whichever event the stream saw last.
        attribute_to(event)
        position = position_of(event)
        decoded = decode_request(position, max_bytes=self.max_message_bytes)
        binding = binding_of(position.topic)  # None on the shared topic
        try:
            if isinstance(decoded, Unanswerable):
                await self.runner.dead_letter(decoded.failure)
                return
            if isinstance(decoded, InvalidRequest):
                response = InferenceResponse(
                    request_id=decoded.request_id,
                    tenant=binding.tenant if binding else decoded.tenant,
                    session_id=decoded.session_id,
                    status="error",
                    reason=decoded.reason,
                    responded_at=datetime.now(UTC),
                )
                reply_to = binding.reply_topic if binding else None
                await self._publish(response, None, {"error": "invalid request"}, reply_to, position)
                return
            request = decoded
            if binding is not None:
                if (mismatch := binding.refusal(request)) is not None:
                    await self._refuse_for_binding(request, binding, mismatch, position)
                    return
                request = binding.bind(request)
            previous = owned_by(request.tenant, self.answered.get(table_key(request.tenant, request.request_id)))
            if previous is not None:
                await self._suppress_duplicate(request, previous, position)
                return
            if request.reply_to and (refusal := self.reply_to_rule.refusal(request.reply_to)):
                await self._refuse_reply_to(request, refusal, position)
                return
            stream = await self._open_stream(request, position.partition)
            handled = await self._handle(request, event, sessions, stream)
            if handled.history is not None and request.session_id:
                self._remember(request.tenant, request.session_id, handled.history, sessions, position.partition)
            response, reply_to = handled.response, request.reply_to
            if reply_to and not await asyncio.to_thread(self.topic_exists, reply_to):
                reason = f"reply_to topic {reply_to!r} does not exist; the answer is on {INFERENCE_RESPONSES.name}"
                response = response.model_copy(update={"status": "error", "text": "", "reason": reason})
                reply_to = None
            elif handled.review is not None:
                # The final response goes where this one goes, whoever decides and whenever.
                item = handled.review.model_copy(update={"reply_to": reply_to or INFERENCE_RESPONSES.name})
                key = request_key(request.tenant, request.request_id)
                await self.send(REVIEW_PENDING.name, key, item.model_dump_json().encode())
            if handled.context is not None:
                context = handled.context.model_copy(update={"status": response.status})
                key = request_key(request.tenant, request.request_id)
                await self.send(INFERENCE_CONTEXT.name, key, context.model_dump_json().encode())
            await self._publish(response, request, handled.audit, reply_to, position)
        except Exception as exc:  # producing failed: the broker is in trouble, not the request
            exit_for_restart("inference", UNAVAILABLE, error=exc)

    def _remember(
        self, tenant: str, session_id: str, history: SessionHistory, sessions: ExpiringTable, partition: int
    ) -> None:
        dropped = sessions.set(table_key(tenant, session_id), owned(tenant, history.to_dict()), partition)
        if dropped:  # the tenant is at SLUICE_MAX_SESSIONS_PER_TENANT here: its least recently used session went
            metrics.SESSIONS_DROPPED.inc(len(dropped))
            log.info(
                "sessions_dropped_at_tenant_cap",
                tenant=tenant,
                partition=partition,
                dropped=len(dropped),
                max_sessions_per_tenant=self.max_sessions_per_tenant,
            )

    async def _audit_request(
        self, event_type: str, request_id: str, tenant: str | None, position: Any, **fields: Any
    ) -> None:
        """One audit event about one request, positioned at the request it is about (every request event)."""
        await self.audit.emit(
            event_type,
            stage="inference",
            subject_id=request_id,
            tenant=tenant,
            source_topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            **fields,
        )

    async def _refuse_reply_to(self, request: InferenceRequest, reason: str, position: Any) -> None:
        """reply_to names a topic responses may not go to: not processed, answered on inference.responses.v1."""
        response = InferenceResponse(
            request_id=request.request_id,
            tenant=request.tenant,
            session_id=request.session_id,
            status="error",
            reason=reason,
            responded_at=datetime.now(UTC),
        )
        await self._audit_request(
            "request.reply_to_refused", request.request_id, request.tenant, position, details={"reason": reason}
        )
        await self._publish(response, request, {"error": "reply_to refused"}, None, position)

    async def _refuse_for_binding(
        self, request: InferenceRequest, binding: TenantBinding, refusal: Refusal, position: Any
    ) -> None:
        """A request on a tenant's topic that claims another tenant (or another reply topic): answered with an error
        on that tenant's reply topic, for that tenant, and recorded in the audit stream."""
        log.warning(
            "request_refused_for_topic_tenant",
            refusal=refusal.kind,
            request_id=request.request_id,
            tenant=binding.tenant,
        )
        response = InferenceResponse(
            request_id=request.request_id,
            tenant=binding.tenant,
            session_id=request.session_id,
            status="error",
            reason=refusal.reason,
            responded_at=datetime.now(UTC),
        )
        await self._audit_request(
            refusal.kind,
            request.request_id,
            binding.tenant,
            position,
            details={"claimed_tenant": request.tenant, "reply_to": request.reply_to, "reason": refusal.reason},
        )
        await self._publish(response, None, {"error": refusal.kind}, binding.reply_topic, position)

    async def _suppress_duplicate(self, request: InferenceRequest, previous: dict[str, Any], position: Any) -> None:
        """The request id was answered before: no second response, but the audit stream says it was seen."""
        metrics.RESPONSES.labels("duplicate_suppressed", "-").inc()
        log.info("duplicate_request_suppressed", request_id=request.request_id, first_offset=previous.get("offset"))
        await self._audit_request(
            "request.duplicate_suppressed",
            request.request_id,
            request.tenant,
            position,
            details={"answered_at": previous.get("answered_at"), "first_offset": previous.get("offset")},
        )

    async def _open_stream(self, request: InferenceRequest, partition: int) -> RequestStream | None:
        """A stream for a `stream: true` request, continuing what an earlier attempt sent; None: no partials."""
        if not request.stream or self.streams is None:
            return None
        # A reply_to that does not exist gets an error as the final response: no partials before it.
        if request.reply_to and not await asyncio.to_thread(self.topic_exists, request.reply_to):
            return None
        try:
            return await self.streams.open(request, partition, request.reply_to or INFERENCE_RESPONSES.name)
        except Exception as exc:  # the state could not be read: no partials (they could repeat), the final comes
            log.warning("stream_not_opened", request_id=request.request_id, partition=partition, error=str(exc))
            return None

    async def _handle(
        self,
        request: InferenceRequest,
        event: faust.EventT[bytes],
        sessions: ExpiringTable,
        stream: RequestStream | None = None,
    ) -> Handled:
        try:
            history = SessionHistory()
            if request.session_id:  # a one-turn request has no history to read (nor will it store any)
                stored = owned_by(request.tenant, sessions.get(table_key(request.tenant, request.session_id)))
                history = SessionHistory.from_dict(stored) if stored is not None else history
            produced_at = float(event.message.timestamp or 0) or datetime.now(UTC).timestamp()
            if stream is None:
                return await self.service.handle(request, produced_at=produced_at, history=history)
            return await self.service.handle(request, produced_at=produced_at, history=history, stream=stream)
        except Exception as exc:  # a bug or a library failure: the client still gets an answer
            log.exception("request_failed", request_id=request.request_id, error_type=type(exc).__name__)
            response = InferenceResponse(
                request_id=request.request_id,
                tenant=request.tenant,
                session_id=request.session_id,
                status="error",
                reason=f"internal error ({type(exc).__name__})",
                responded_at=datetime.now(UTC),
            )
            return Handled(response, None, None, {"error_type": type(exc).__name__})

    async def _publish(
        self,
        response: InferenceResponse,
        request: InferenceRequest | None,
        audit: dict[str, Any],
        reply_to: str | None,
        position: Any,
    ) -> None:
        topic = reply_to or INFERENCE_RESPONSES.name  # reply_to passed the reply_to rule
        body = response.model_dump_json().encode()
        await self.send(topic, response.request_id.encode(), body)
        if request is not None and request.stream and self.streams is not None:
            # Tombstoned in the response's transaction: the stream's state is gone exactly when the response is in.
            await self.streams.finished(request, position.partition)
        # Written in the same transaction as the response (exactly-once), so it exists iff the response does.
        answered = {
            "answered_at": response.responded_at.isoformat(),
            "offset": position.offset,
            "status": response.status,
        }
        key = table_key(response.tenant, response.request_id)
        self.answered.set(key, owned(response.tenant, answered), position.partition)
        self._published.add((position.topic, position.partition, position.offset))
        metrics.RESPONSES.labels(response.status, response.variant or "-").inc()
        versions = {k: str(audit[k]) for k in ("model", "template", "policy_version") if audit.get(k)}
        await self._audit_request(
            "request.answered",
            response.request_id,
            response.tenant,
            position,
            versions=versions,
            timings_ms=response.timings_ms,
            details={
                **{k: v for k, v in audit.items() if k not in versions},
                "status": response.status,
                "session_id": response.session_id,
                "variant": response.variant,
                "tokens": response.tokens.model_dump(),
                "batch_size": response.batch_size,
                "citations": response.citations,
                "reply_to": topic,
                # When the client produced the request (its record's timestamp): with the response record's own
                # timestamp, `sluice ab report` measures latency as the client sees it (queueing in Kafka included).
                "request_produced_at_ms": _produced_at_ms(position),
                # The response as a keyed digest: replay --reexecute compares a re-run against it without storing
                # text, and without the key nobody can confirm a guessed answer against it.
                "text_sha256": self.service.digest(response.text),
            },
        )


def _unexpected_failure(event: faust.EventT[bytes], error: Exception) -> None:
    """_answer_one answers every failure of a request itself; an exception here is a bug in that path. The request
    must not be committed unanswered, nor hold its partition's commits forever: the worker restarts, and the
    request is read again (a repeat of one already answered is suppressed by answered_requests)."""
    log.error("request_handling_crashed", partition=event.message.partition, offset=event.message.offset)
    exit_for_restart("inference", UNAVAILABLE, error=error)


def session_key(event: faust.EventT[bytes]) -> str:
    """The Kafka key is the session id by contract; a keyless request is its own session."""
    key = event.message.key
    return key.decode("utf-8", "replace") if key else f"_offset_{event.message.partition}_{event.message.offset}"


def _produced_at_ms(position: Any) -> int | None:
    timestamp = getattr(position, "timestamp_ms", None)
    return int(timestamp) if isinstance(timestamp, int | float) and timestamp > 0 else None
