"""Message records of human review: what a reviewer is shown (review.pending.v1) and what they decide.

review.pending.v1 is compacted and keyed by request id: its latest value per key is the item as it stands now
(new, or escalated) and a tombstone once it was decided or expired, so reading it whole gives the open queue.
review.decisions.v1 carries decisions keyed by request id, co-partitioned with review.pending.v1; the inference
worker's review agent applies them exactly once (agents/inference/review.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.inference import CodeValidation, KeptRecord, TokenCounts
from schemas.records import TENANT_PATTERN

MAX_REVIEW_TEXT_CHARS = 8_000
MAX_REVIEW_REASON_CHARS = 1_000
DecisionAction = Literal["approve", "edit", "reject", "escalate"]


class ReviewItem(BaseModel):
    """On review.pending.v1: a request a policy rule (or failed code validation) routed to human review.

    Everything is de-identified: the prompt as the model saw it after scrubbing, the retrieved records as indexed,
    and the model's draft answer scrubbed like any response.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    tenant: str
    session_id: str | None
    task: str
    rule_id: str
    reason: str
    risk_score: float = Field(ge=0.0, le=1.0, description="from the rule (or a registry classifier); 1 = highest")
    prompt: str = Field(description="the de-identified prompt")
    prompt_sha256: str = Field(
        description="Keyed digest of the raw prompt (HMAC-SHA256 under Sluice's digest key), as in the request's "
        "audit event."
    )
    retrieved: list[KeptRecord] = Field(default_factory=list)
    draft: str | None = Field(default=None, description="the model's de-identified draft; None if the rule said so")
    draft_model: str | None = None
    draft_variant: str | None = None
    tokens: TokenCounts = Field(default_factory=TokenCounts)
    citations: list[str] = Field(default_factory=list)
    validation: CodeValidation | None = None
    reply_to: str = Field(description="the topic the final response goes to")
    queued_at: datetime
    deadline_at: datetime = Field(description="past this, the item expires with a `timeout` response")
    escalated: bool = False
    escalated_by: str | None = Field(default=None, description="token id of the reviewer who escalated")
    escalation_note: str | None = None


class ReviewDecision(BaseModel):
    """On review.decisions.v1 (key = request_id): one reviewer's decision.

    Written only by Sluice (the console, `sluice review`), which fills `reviewer` and `tenant` from the
    authenticated token, never from what the reviewer typed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(min_length=1, max_length=128)
    tenant: str = Field(pattern=TENANT_PATTERN, description="the tenant the reviewer's token is bound to")
    action: DecisionAction
    reviewer: str = Field(min_length=1, max_length=64, description="token id of the reviewer")
    reviewer_kind: Literal["reviewer", "admin"] = "reviewer"
    text: str | None = Field(default=None, max_length=MAX_REVIEW_TEXT_CHARS, description="edit: the new answer")
    reason: str | None = Field(default=None, max_length=MAX_REVIEW_REASON_CHARS, description="reject/escalate")
    decided_at: datetime
