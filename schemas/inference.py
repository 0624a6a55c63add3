"""Message records of the inference path: requests, responses, kept request context and registry state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.records import TENANT_PATTERN

TOPIC_PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*\.v[0-9]+$"
# Two statuses are not final. pending_review: exactly one final response (ok, rejected or timeout) with the same
# request_id follows once a reviewer decided or the review deadline passed (README "Human review"). partial: a
# piece of a streamed answer (`stream: true`), numbered by `seq`; the final response follows (README "Streaming").
Status = Literal["ok", "rejected", "timeout", "error", "pending_review", "partial"]
NOT_FINAL: frozenset[str] = frozenset({"pending_review", "partial"})
Task = Literal["chat", "complete", "code"]
CodeLanguage = Literal["python"]
MAX_TESTS_CHARS = 16_000
# --- long inputs (#12) ---------------------------------------------------------------------------------
# A 32K-token document is about 130,000 characters of English; the token limit itself is a setting
# (SLUICE_MAX_INPUT_TOKENS), checked with the served model's tokenizer.
MAX_DOCUMENT_CHARS = 200_000


class InferenceRequest(BaseModel):
    """On inference.requests.v1 (key = session_id). Only request_id, tenant and prompt are required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(min_length=1, max_length=128, description="Unique per request; the response echoes it.")
    tenant: str = Field(pattern=TENANT_PATTERN, description="Retrieval and policy are scoped to this tenant.")
    prompt: str = Field(min_length=1, max_length=MAX_DOCUMENT_CHARS, description="The user's message (may hold PII).")
    session_id: str | None = Field(
        default=None, max_length=128, description="Groups turns of one dialog; default: a one-turn session."
    )
    task: Task = Field(
        default="chat",
        description="chat: dialog with retrieval; complete: plain continuation; code: validated code generation.",
    )
    language: CodeLanguage | None = Field(default=None, description="code task only: the answer's language.")
    tests: str | None = Field(
        default=None,
        max_length=MAX_TESTS_CHARS,
        description="code task only: pytest-style test functions the code must pass; default: the model writes them.",
    )
    max_tokens: int = Field(default=128, ge=1, le=1024, description="Most new tokens to generate.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 = greedy decoding.")
    priority: int = Field(default=0, ge=-10, le=10, description="Higher runs first when the model is busy.")
    deadline_ms: int = Field(
        default=30_000, ge=1, le=600_000, description="Time budget from when the request was produced."
    )
    reply_to: str | None = Field(
        default=None, pattern=TOPIC_PATTERN, description="Topic for the response; default inference.responses.v1."
    )
    stream: bool = Field(
        default=False,
        description="Send the answer's text in `partial` responses while it is generated, then the final response.",
    )
    # --- long inputs (#12) ---
    document: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DOCUMENT_CHARS,
        description="A long text the prompt asks about (may hold PII); read in overlapping windows, map-reduce.",
    )

    @property
    def session(self) -> str:
        return self.session_id or self.request_id


class TokenCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: int = 0
    completion: int = 0


class SandboxLimits(BaseModel):
    """What the code sandbox allowed: a test run past any of these is killed and counted as a violation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_seconds: int
    wall_seconds: float
    memory_mb: int
    file_size_kb: int
    processes: int = Field(description="child processes the code may start (0: fork and exec fail)")
    network: bool = Field(description="whether any network was reachable (never, when the sandbox could isolate it)")


class CodeValidation(BaseModel):
    """How a code answer was checked: syntax, lint, tests in the sandbox, and how many attempts it took."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: CodeLanguage
    passed: bool = Field(description="syntax ok, no lint error and every test passed")
    syntax_ok: bool
    syntax_error: str | None = None
    lint_errors: list[str] = Field(default_factory=list, description="ruff findings, `code line:col message`")
    tests_source: Literal["request", "generated", "none"]
    tests_passed: int = 0
    tests_failed: int = 0
    test_errors: list[str] = Field(default_factory=list, description="failing tests and why (truncated)")
    sandbox_violation: str | None = Field(
        default=None, description="what the sandbox stopped: cpu_time, memory, file_size, fork, network, write, …"
    )
    attempts: int = Field(description="generations it took, 1 + repairs")
    limits: SandboxLimits


class ReviewOutcome(BaseModel):
    """On a final response after human review: the decision, the reviewer (a token id, never a name) and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Literal["approved", "edited", "rejected", "expired"]
    reviewer: str | None = Field(description="token id of the reviewer; None when the review deadline passed")
    decided_at: datetime
    rule_id: str


class WindowCitation(BaseModel):
    """One window of a long input: its [start_char, end_char) in the document, and whether its notes were used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    start_char: int
    end_char: int
    used: bool = Field(description="the window's notes went into the answer (False: it held nothing relevant)")


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
    validation: CodeValidation | None = Field(default=None, description="code task: what the code was checked for.")
    review: ReviewOutcome | None = Field(default=None, description="after human review: who decided what, when.")
    seq: int | None = Field(
        default=None, ge=0, description="partial only: 0, 1, 2, … per request; `text` is the new text alone."
    )
    time_to_first_token_ms: float | None = Field(
        default=None, description="From the start of handling to the first generated token (final responses)."
    )
    responded_at: datetime
    # --- long inputs (#12) ---
    windows: list[WindowCitation] = Field(
        default_factory=list, description="long input: the windows the document was read in, and which were used."
    )

    @property
    def final(self) -> bool:
        return self.status not in NOT_FINAL


class StreamState(BaseModel):
    """On inference.streams.v1 (key = [tenant, request_id]): how far a streamed answer was sent to the client.

    Written with the partials it covers, in one transaction; a tombstone with the final response. A worker that
    answers the request again (after a crash) continues the numbering and sends no text the client already has.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    tenant: str
    seq: int = Field(ge=0, description="seq of the last partial sent")
    emitted: str = Field(description="the answer's text sent so far (de-identified: the partials concatenated)")


class ContextMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class KeptRecord(BaseModel):
    """A retrieved record as the model saw it (de-identified at ingest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: str
    text: str
    score: float | None = None


class RequestContext(BaseModel):
    """On inference.context.v1 (key = [tenant, request_id]): what the model saw and said, de-identified.

    Kept so that a reviewer can read a request and `sluice explain` can attribute an answer, without raw text:
    every message is the scrubbed prompt or history turn, records are de-identified at ingest, and the answer is
    the scrubbed text the client received. Kept for the topic's retention (7 days); the latest value per key wins.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    tenant: str
    session_id: str | None
    task: Task
    model: str = Field(description="name@version that generated the answer")
    template: str | None = None
    messages: list[ContextMessage] = Field(
        description="chat: the budgeted messages (system with records, history, the scrubbed user turn); "
        "complete/code: one user message"
    )
    retrieved: list[KeptRecord] = Field(default_factory=list)
    answer: str
    citations: list[str] = Field(default_factory=list)
    status: Status
    kept_at: datetime
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="alias → pseudonym: the messages and records are as the model read them, with pseudonyms shown "
        "as short aliases ([P1], [M1]); the answer is as the client received it, aliases mapped back",
    )


class RegistryMessage(BaseModel):
    """On models.registry.v1 (key = model name): the model's registry state; the latest value wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    state: dict[str, Any] | None
