"""The review console's rules, as functions of a request: who may see and decide which review items.

A reviewer token acts for its one tenant; an admin token for any tenant, and it alone decides an escalated item.
Tenant tokens (a tenant's assistant client) and the service credential cannot review. The reviewer and the tenant of
a decision come from the token, never from the form or the JSON body, so a reviewer of one tenant cannot decide
another tenant's item by naming it: the request is refused (403) and audited (`api.refused`).

A decision is checked against the open queue (review.pending.v1 read whole) before it is sent: an unknown or
already-decided item, an escalated one for a non-admin, an approval with no draft are refused here with a clear
message and an audit event (`review.decision_refused`), and nothing is sent. The review agent checks again when it
applies the decision, since two reviewers may decide the same item at once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from agents.api.auth import Principal, Refusal
from agents.core.kafka_io import read_topic
from schemas.records import is_valid_tenant
from schemas.review import MAX_REVIEW_REASON_CHARS, MAX_REVIEW_TEXT_CHARS, ReviewDecision, ReviewItem
from topics.specs import REVIEW_PENDING

log = structlog.get_logger(__name__)

ACTIONS = ("approve", "edit", "reject", "escalate")
QueueKey = tuple[str, str]  # (tenant, request_id)


@dataclass
class ReviewDesk:
    """What the console needs from the worker: the open queue, a way to send a decision, the explain report."""

    load_queue: Callable[[], Mapping[QueueKey, ReviewItem]]  # blocking: runs on the API's thread
    submit: Callable[[bytes, bytes], Awaitable[None]]  # (key, ReviewDecision JSON) → review.decisions.v1
    explain: Callable[[str, str], str] | None = None  # (tenant, request_id) → HTML; blocking
    # De-identifies what a reviewer typed (an edit, a reason, a note) before it is written to review.decisions.v1:
    # a reviewer may type a phone number, and nothing Sluice writes holds raw PII. Blocking.
    scrub: Callable[[str], str] = lambda text: text


class DeskError(Exception):
    """A request the desk refuses: the HTTP status, a reason for the audit stream and a message for the reviewer."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def reviewer_refusal(principal: Principal, requested_tenant: str | None) -> Refusal | None:
    """None when `principal` may act on `requested_tenant`'s queue (None: its own, or every tenant for an admin)."""
    named = requested_tenant if requested_tenant and is_valid_tenant(requested_tenant) else None
    if principal.kind not in ("reviewer", "admin"):
        message = "the review console needs a reviewer token (`sluice tokens create --tenant T --reviewer`)"
        return Refusal(403, "wrong_scope", message, principal.token_id, named, principal.tenant)
    if principal.kind == "reviewer" and requested_tenant not in (None, principal.tenant):
        message = "this reviewer token belongs to another tenant: it sees and decides its own tenant's items only"
        return Refusal(403, "other_tenant", message, principal.token_id, named, principal.tenant)
    return None


def visible_items(principal: Principal, queue: Mapping[QueueKey, ReviewItem], tenant: str | None) -> list[ReviewItem]:
    """The open items `principal` may see (call reviewer_refusal first), escalated first, then oldest first."""
    scope = principal.tenant if principal.kind == "reviewer" else tenant
    items = [item for (owner, _), item in queue.items() if scope is None or owner == scope]
    return sorted(items, key=lambda item: (not item.escalated, item.queued_at))


def find_item(
    principal: Principal, queue: Mapping[QueueKey, ReviewItem], tenant: str | None, request_id: str
) -> ReviewItem:
    owner = principal.tenant if principal.kind == "reviewer" else tenant
    if owner is None:
        raise DeskError(400, "bad_request", "name the item's tenant (`tenant`): an admin token acts for every tenant")
    item = queue.get((owner, request_id))
    if item is None:
        raise DeskError(
            404,
            "unknown_request",
            f"no pending review item {request_id!r} for tenant {owner!r}: it was never queued, or it was already "
            "decided or expired (its final response is on its reply topic)",
        )
    return item


def decision_for(
    principal: Principal,
    item: ReviewItem,
    *,
    action: Any,
    text: Any = None,
    reason: Any = None,
    now: datetime | None = None,
) -> ReviewDecision:
    """The decision to send, or a DeskError saying what is wrong with it."""
    if action not in ACTIONS:
        raise DeskError(400, "bad_request", f"`action` must be one of {', '.join(ACTIONS)}")
    if item.escalated and principal.kind != "admin":
        raise DeskError(403, "escalated_to_admin", "this item was escalated: an admin token decides it now")
    if action == "approve" and not item.draft:
        raise DeskError(409, "nothing_to_approve", "there is no draft to approve: edit to write the answer instead")
    if text is not None and not isinstance(text, str):
        raise DeskError(400, "bad_request", "`text` must be a string")
    if reason is not None and not isinstance(reason, str):
        raise DeskError(400, "bad_request", "`reason` must be a string")
    text = (text or "").strip() or None
    reason = (reason or "").strip() or None
    if action == "edit" and text is None:
        raise DeskError(400, "bad_request", "an edit needs the new answer in `text`")
    if action == "reject" and reason is None:
        raise DeskError(400, "bad_request", "a rejection needs a `reason`: the client is told why")
    if text is not None and len(text) > MAX_REVIEW_TEXT_CHARS:
        raise DeskError(400, "bad_request", f"`text` is longer than {MAX_REVIEW_TEXT_CHARS} characters")
    if reason is not None and len(reason) > MAX_REVIEW_REASON_CHARS:
        raise DeskError(400, "bad_request", f"`reason` is longer than {MAX_REVIEW_REASON_CHARS} characters")
    return ReviewDecision(
        request_id=item.request_id,
        tenant=item.tenant,
        action=action,
        reviewer=principal.token_id,
        reviewer_kind="admin" if principal.kind == "admin" else "reviewer",
        text=text if action == "edit" else None,
        reason=reason if action in ("reject", "escalate") else None,
        decided_at=now or datetime.now(UTC),
    )


def read_review_queue(bootstrap: str, options: dict[str, str] | None = None) -> dict[QueueKey, ReviewItem]:
    """The open queue: review.pending.v1 read whole, the latest value per key, tombstoned items gone.

    Read on every page (the queue is small, and a fresh read cannot disagree with the review agent for long); an
    entry that does not parse is skipped and logged, never shown half-read.
    """
    queue: dict[QueueKey, ReviewItem] = {}
    for record in read_topic(bootstrap, REVIEW_PENDING.name, options=options, stall_timeout_s=10.0):
        key = tuple(json.loads(record.key)) if record.key else None
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(part, str) for part in key)):
            log.warning("review_queue_bad_key", partition=record.partition, offset=record.offset)
            continue
        if record.value is None:
            queue.pop((key[0], key[1]), None)
            continue
        try:
            item = ReviewItem.model_validate_json(record.value)
        except ValueError:
            log.warning("review_queue_bad_item", partition=record.partition, offset=record.offset)
            continue
        queue[(item.tenant, item.request_id)] = item
    return queue


def item_json(item: ReviewItem) -> dict[str, Any]:
    return item.model_dump(mode="json")
