"""Human review: the agent that turns reviewers' decisions into the one final response of a reviewed request.

It reads review.pending.v1 (items, written by the inference agent) and review.decisions.v1 (decisions, written by
the console and `sluice review`), both keyed by `[tenant, request_id]` and co-partitioned, and keeps a `reviews`
table of what is pending and what was decided. For each decision it checks the item exists for that tenant, is
still pending, and (once escalated) that an admin decides; then in one transaction, under exactly-once, it
publishes the final response on the item's reply topic, tombstones the item on review.pending.v1 (so the queue the
console reads no longer shows it), marks it decided, and emits an audit event naming the reviewer's token id.
A refused decision changes nothing but the audit stream (`review.decision_refused`).

Items past their deadline expire with a `timeout` response. Expiry runs while an input is processed, never from
the timer itself (a send from a timer would belong to no transaction): the timer sends a tick to its own
review.decisions.v1 partition, and the tick expires that partition's due items, as the audit chainer does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import faust
import structlog

from agents.core import metrics
from agents.core.app import SendFn
from agents.core.audit import AuditEmitter
from agents.core.dead_letters import StageFailure
from agents.core.decode import parse_json_bytes, validate
from agents.core.messages import SourcePosition
from agents.core.restart import UNAVAILABLE, exit_for_restart
from agents.core.runner import BatchRunner, position_of
from agents.core.transactions import attribute_to, in_flight
from agents.inference.expiry import ExpiringTable
from agents.inference.tenancy import owned, owned_by, table_key
from schemas.errors import PoisonRecordError
from schemas.inference import InferenceResponse, ReviewOutcome
from schemas.review import ReviewDecision, ReviewItem
from topics.specs import REVIEW_DECISIONS, REVIEW_PENDING

log = structlog.get_logger(__name__)

STAGE = "review"
REVIEWS_TABLE = "reviews"
REVIEW_TICK = b'{"sluice": "review-tick"}'
# Decided entries are kept this long after the longest review deadline, so a late or repeated decision is refused
# as "already decided" rather than "unknown".
DECIDED_RETENTION_S = 35 * 24 * 3600.0
MAX_EXPIRED_PER_TICK = 100

Parsed = TypeVar("Parsed", ReviewDecision, ReviewItem)
RefusalReason = Literal["unknown_request", "already_decided", "escalated_to_admin", "nothing_to_approve"]


@dataclass(frozen=True)
class Final:
    """A decision that ends the review: the response the client gets and the audit event type."""

    response: InferenceResponse
    event_type: str


@dataclass
class ReviewFlow:
    runner: BatchRunner  # the one dead-letter + audit path
    send: SendFn
    # The ingest de-identification engine: a reviewer's edited text is scrubbed like any answer before it is sent.
    scrub: Callable[[str], str]
    digest: Callable[[str], str]
    partitions: int
    max_message_bytes: int
    check_interval_s: float = 5.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._table: ExpiringTable | None = None

    @property
    def audit(self) -> AuditEmitter:
        return self.runner.audit

    @property
    def table(self) -> ExpiringTable:
        if self._table is None:
            raise RuntimeError("ReviewFlow.register(app) (or use_table) declares the reviews table first")
        return self._table

    def use_table(self, table: MutableMapping[str, Any]) -> ExpiringTable:
        self._table = ExpiringTable(table, DECIDED_RETENTION_S, clock=self.clock)
        return self._table

    def register(self, app: faust.App) -> Any:
        channel = app.topic(REVIEW_PENDING.name, REVIEW_DECISIONS.name, key_serializer="raw", value_serializer="raw")
        decisions = app.topic(REVIEW_DECISIONS.name, key_serializer="raw", value_serializer="raw")
        table = self.use_table(app.Table(REVIEWS_TABLE, default=None, partitions=self.partitions, key_type=str))

        @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # faust's signal signature is too narrow
        async def relearn_reviews(sender: Any, **_: Any) -> None:
            table.rebalanced()

        @app.agent(channel, name="apply_review_decisions")
        async def apply_review_decisions(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                in_flight.begin([event])
                try:
                    attribute_to(event)
                    await self.on_message(position_of(event))
                except Exception as exc:  # producing failed: the broker is in trouble, not the decision
                    exit_for_restart(STAGE, UNAVAILABLE, error=exc)
                in_flight.finish(event)

        @app.timer(interval=self.check_interval_s)  # type: ignore[untyped-decorator]
        async def tick_due_reviews() -> None:
            owned_partitions = [tp.partition for tp in app.consumer.assignment() if tp.topic == REVIEW_DECISIONS.name]
            for partition in self.partitions_with_due_items(owned_partitions):
                await decisions.send(value=REVIEW_TICK, partition=partition)

        return apply_review_decisions

    # --- one message -------------------------------------------------------------------------------------------

    async def on_message(self, position: SourcePosition) -> None:
        if position.topic == REVIEW_PENDING.name:
            if position.value is not None:  # a tombstone is this agent's own: the item was decided
                await self._on_item(position)
            return
        if position.value == REVIEW_TICK:
            await self.expire_due(position)
            return
        decision = await self._parse(ReviewDecision, position)
        if decision is not None:
            await self.apply(decision, position)

    async def _parse(self, model: type[Parsed], position: SourcePosition) -> Parsed | None:
        """The message as `model`, or None after dead-lettering it with the reason."""
        try:
            data = parse_json_bytes(position.value, max_bytes=self.max_message_bytes, stage=STAGE)
            parsed: Parsed = validate(model, data, stage=STAGE)
        except PoisonRecordError as exc:
            await self.runner.dead_letter(StageFailure(position, type(exc).__name__, str(exc), STAGE))
            return None
        return parsed

    async def _on_item(self, position: SourcePosition) -> None:
        item = await self._parse(ReviewItem, position)
        if item is None:
            return
        key = table_key(item.tenant, item.request_id)
        current = owned_by(item.tenant, self.table.get(key))
        if current is not None and current["state"] != "pending":
            return  # an escalation re-published after the item was decided: the decision stands
        self._store(item.tenant, key, {"state": "pending", "item": item.model_dump(mode="json")}, position)
        if current is None:
            metrics.REVIEWS.labels("queued").inc()

    def _store(self, tenant: str, key: str, value: dict[str, Any], position: SourcePosition) -> None:
        self.table.set(key, owned(tenant, value), position.partition)

    # --- decisions ---------------------------------------------------------------------------------------------

    async def apply(self, decision: ReviewDecision, position: SourcePosition) -> None:
        key = table_key(decision.tenant, decision.request_id)
        current = owned_by(decision.tenant, self.table.get(key))
        refusal = self.refusal(decision, current)
        if refusal is not None:
            await self._refuse(decision, refusal, current, position)
            return
        assert current is not None
        item = ReviewItem.model_validate(current["item"])
        if decision.action == "escalate":
            await self._escalate(item, decision, key, position)
            return
        final = await self._final(item, decision)
        await self._finish(item, final, key, position, decision)

    @staticmethod
    def refusal(decision: ReviewDecision, current: dict[str, Any] | None) -> RefusalReason | None:
        """Why a decision cannot be applied to the stored entry; None when it can."""
        if current is None:
            return "unknown_request"  # never queued for this tenant (another tenant's id is unknown here too)
        if current["state"] != "pending":
            return "already_decided"
        item = current["item"]
        if item.get("escalated") and decision.reviewer_kind != "admin":
            return "escalated_to_admin"
        if decision.action == "approve" and not item.get("draft"):
            return "nothing_to_approve"
        return None

    async def _refuse(
        self, decision: ReviewDecision, reason: RefusalReason, current: dict[str, Any] | None, position: SourcePosition
    ) -> None:
        metrics.REVIEWS.labels("refused").inc()
        log.warning("review_decision_refused", request_id=decision.request_id, tenant=decision.tenant, reason=reason)
        details: dict[str, Any] = {"reason": reason, "action": decision.action, "reviewer": decision.reviewer}
        if current is not None and current["state"] != "pending":
            details["decided"] = current.get("decision")
        await self._audit("review.decision_refused", decision.request_id, decision.tenant, position, details)

    async def _final(self, item: ReviewItem, decision: ReviewDecision) -> Final:
        outcome: dict[str, Any] = {
            "reviewer": decision.reviewer,
            "decided_at": decision.decided_at,
            "rule_id": item.rule_id,
        }
        if decision.action == "reject":
            reason = f"rejected in review: {decision.reason}" if decision.reason else "rejected in review"
            scrubbed_reason = await asyncio.to_thread(self.scrub, reason)
            review = ReviewOutcome(decision="rejected", **outcome)
            return Final(self._response(item, "rejected", "", review, reason=scrubbed_reason), "review.rejected")
        if decision.action == "edit":
            text = await asyncio.to_thread(self.scrub, decision.text or "")
            return Final(self._response(item, "ok", text, ReviewOutcome(decision="edited", **outcome)), "review.edited")
        review = ReviewOutcome(decision="approved", **outcome)
        return Final(self._response(item, "ok", item.draft or "", review), "review.approved")

    def _response(
        self,
        item: ReviewItem,
        status: Literal["ok", "rejected", "timeout"],
        text: str,
        review: ReviewOutcome,
        **extra: Any,
    ) -> InferenceResponse:
        now = datetime.now(UTC)
        waited_ms = max(0.0, (now - item.queued_at).total_seconds() * 1000)
        return InferenceResponse(
            request_id=item.request_id,
            tenant=item.tenant,
            session_id=item.session_id,
            status=status,
            text=text,
            model=item.draft_model,
            variant=item.draft_variant,
            tokens=item.tokens,
            timings_ms={"review": round(waited_ms, 2), "total": round(waited_ms, 2)},
            citations=item.citations if text else [],
            validation=item.validation,
            review=review,
            responded_at=now,
            **extra,
        )

    async def _finish(
        self, item: ReviewItem, final: Final, key: str, position: SourcePosition, decision: ReviewDecision | None
    ) -> None:
        response = final.response
        await self.send(item.reply_to, item.request_id.encode(), response.model_dump_json().encode())
        await self.send(REVIEW_PENDING.name, key.encode(), None)
        assert response.review is not None
        decided = {
            "state": "decided",
            "decision": response.review.decision,
            "reviewer": response.review.reviewer,
            "decided_at": response.review.decided_at.isoformat(),
        }
        self._store(item.tenant, key, decided, position)
        metrics.REVIEWS.labels(response.review.decision).inc()
        metrics.RESPONSES.labels(response.status, response.variant or "-").inc()
        details: dict[str, Any] = {
            "decision": response.review.decision,
            "reviewer": response.review.reviewer,
            "rule_id": item.rule_id,
            "risk_score": item.risk_score,
            "status": response.status,
            "variant": item.draft_variant,
            "model": item.draft_model,
            "reply_to": item.reply_to,
            "waited_ms": response.timings_ms.get("review"),
            "draft_sha256": self.digest(item.draft) if item.draft is not None else None,
            "text_sha256": self.digest(response.text),
            "changed_draft": response.text != (item.draft or "") if response.status == "ok" else None,
        }
        if decision is not None:
            details["action"] = decision.action
            details["decided_at"] = decision.decided_at.isoformat()
        await self._audit(final.event_type, item.request_id, item.tenant, position, details)

    async def _escalate(self, item: ReviewItem, decision: ReviewDecision, key: str, position: SourcePosition) -> None:
        note = await asyncio.to_thread(self.scrub, decision.reason) if decision.reason else None
        escalated = item.model_copy(
            update={"escalated": True, "escalated_by": decision.reviewer, "escalation_note": note}
        )
        await self.send(REVIEW_PENDING.name, key.encode(), escalated.model_dump_json().encode())
        self._store(item.tenant, key, {"state": "pending", "item": escalated.model_dump(mode="json")}, position)
        metrics.REVIEWS.labels("escalated").inc()
        details = {
            "reviewer": decision.reviewer,
            "rule_id": item.rule_id,
            "decided_at": decision.decided_at.isoformat(),
        }
        await self._audit("review.escalated", item.request_id, item.tenant, position, details)

    # --- deadlines ---------------------------------------------------------------------------------------------

    def due_items(self, partition: int, now: float) -> list[tuple[str, ReviewItem]]:
        """Pending items stored in `partition` whose deadline has passed, oldest deadline first."""
        due = []
        for key, stored in list(self.table.table.items()):
            if not isinstance(stored, dict) or stored.get("partition") != partition:
                continue
            value = stored.get("value")
            if not isinstance(value, dict) or value.get("state") != "pending":
                continue
            item = ReviewItem.model_validate(value["item"])
            if item.deadline_at.timestamp() <= now:
                due.append((key, item))
        due.sort(key=lambda pair: pair[1].deadline_at)
        return due[:MAX_EXPIRED_PER_TICK]

    def partitions_with_due_items(self, partitions: Iterable[int]) -> list[int]:
        now = self.clock()
        return [partition for partition in partitions if self.due_items(partition, now)]

    async def expire_due(self, position: SourcePosition) -> None:
        for key, item in self.due_items(position.partition, self.clock()):
            review = ReviewOutcome(
                decision="expired", reviewer=None, decided_at=datetime.now(UTC), rule_id=item.rule_id
            )
            reason = f"no review decision before the review deadline ({item.deadline_at.isoformat()})"
            final = Final(self._response(item, "timeout", "", review, reason=reason), "review.expired")
            await self._finish(item, final, key, position, None)

    async def _audit(
        self, event_type: str, request_id: str, tenant: str, position: SourcePosition, details: dict[str, Any]
    ) -> None:
        await self.audit.emit(
            event_type,
            stage=STAGE,
            subject_id=request_id,
            tenant=tenant,
            source_topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            details=details,
        )
