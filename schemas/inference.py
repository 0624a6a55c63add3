"""Message records of the inference path: requests, responses, review items and registry state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.records import TENANT_PATTERN

TOPIC_PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*\.v[0-9]+$"
Status = Literal["ok", "rejected", "timeout", "error", "pending_review"]


class InferenceRequest(BaseModel):
    """On inference.requests.v1 (key = session_id). Only request_id, tenant and prompt are required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(min_length=1, max_length=128, description="Unique per request; the response echoes it.")
    tenant: str = Field(pattern=TENANT_PATTERN, description="Retrieval and policy are scoped to this tenant.")
    prompt: str = Field(min_length=1, max_length=32_000, description="The user's message (may hold PII).")
    session_id: str | None = Field(
        default=None, max_length=128, description="Groups turns of one dialog; default: a one-turn session."
    )
    task: Literal["chat", "complete"] = Field(default="chat", description="chat: dialog with retrieval.")
    max_tokens: int = Field(default=128, ge=1, le=1024, description="Most new tokens to generate.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 = greedy decoding.")
    priority: int = Field(default=0, ge=-10, le=10, description="Higher runs first when the model is busy.")
    deadline_ms: int = Field(
        default=30_000, ge=1, le=600_000, description="Time budget from when the request was produced."
    )
    reply_to: str | None = Field(
        default=None, pattern=TOPIC_PATTERN, description="Topic for the response; default inference.responses.v1."
    )

    @property
    def session(self) -> str:
        return self.session_id or self.request_id


class TokenCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: int = 0
    completion: int = 0


class InferenceResponse(BaseModel):
    """On inference.responses.v1 (or reply_to), key = request_id: exactly one per request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    tenant: str | None
    session_id: str | None
    status: Status
    text: str = ""
    reason: str | None = Field(default=None, description="Why, when status is not ok.")
    model: str | None = Field(default=None, description="name@version that produced the text.")
    variant: str | None = Field(default=None, description="A/B variant label of that version.")
    tokens: TokenCounts = Field(default_factory=TokenCounts)
    timings_ms: dict[str, float] = Field(default_factory=dict, description="queued, batched, generated, total.")
    batch_size: int = 0
    citations: list[str] = Field(default_factory=list, description="record ids used from retrieval.")
    responded_at: datetime


class ReviewItem(BaseModel):
    """On review.pending.v1: a request routed to human review by a policy rule (prompt as a hash only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    tenant: str
    session_id: str | None
    rule_id: str
    reason: str
    prompt_sha256: str = Field(
        description="Keyed digest of the prompt: HMAC-SHA256 under Sluice's digest key (derived from the pseudonym "
        "key), the same value as the request's audit event; not a bare SHA-256, so a short prompt cannot be "
        "confirmed by guessing."
    )
    queued_at: datetime


class RegistryMessage(BaseModel):
    """On models.registry.v1 (key = model name): the model's registry state; the latest value wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    state: dict[str, Any] | None
