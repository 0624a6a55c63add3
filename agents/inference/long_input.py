"""Long inputs: a document longer than the model's context, answered map-reduce over overlapping windows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from models.batching import Completed, Failed, TimedOut
from models.dialog import Decision, PolicyEngine, SessionHistory, Turn
from models.dialog.windows import Window, split_windows
from models.generation.generator import Generation, TextGenerator
from schemas.inference import (
    ContextMessage,
    InferenceRequest,
    InferenceResponse,
    RequestContext,
    Status,
    TokenCounts,
    WindowCitation,
)
from schemas.review import ReviewItem

DEFAULT_INSTRUCTION = "Summarise the document."
TEMPLATE_LABEL = "long-input@1"
# Below this a prompt fits any served model's context, so its tokens are not even counted.
_SURELY_SHORT_CHARS = 1_000
# A window narrower than this is no way to read a document: the instruction or max_tokens leave too little room.
MIN_WINDOW_TOKENS = 32
MAX_REDUCE_ROUNDS = 8
_NONE = re.compile(r"\W*none\W*", re.IGNORECASE)

MAP_PROMPT = (
    "Here is part {part} of {parts} of a document.\n\n<document>\n{window}\n</document>\n\n"
    "Request: {instruction}\n"
    "Write the facts from this part that answer the request, or NONE."
)
REDUCE_PROMPT = (
    "Here are notes taken from {parts} parts of a document, in document order.\n\n{notes}\n\n"
    "Request: {instruction}\n"
    "Answer the request from these notes."
)
COMBINE_PROMPT = (
    "Here are notes taken from parts of a document, in document order.\n\n{notes}\n\n"
    "Request: {instruction}\n"
    "Rewrite them as shorter notes that keep every fact that answers the request."
)
NOTHING_FOUND = "Nothing in the document answers the request."


@dataclass(frozen=True)
class LongInputLimits:
    """SLUICE_MAX_INPUT_TOKENS, SLUICE_LONG_INPUT_WINDOW_TOKENS (0: fit the model), SLUICE_LONG_INPUT_OVERLAP_TOKENS."""

    max_input_tokens: int = 32_768
    window_tokens: int = 0
    overlap_tokens: int = 64


Outcome = Completed[Generation] | TimedOut | Failed
# Queue one generation (rendered prompt, its tokens) with the request's priority, deadline and max_tokens.
Submit = Callable[[str, int], Awaitable[Outcome]]


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class MapReduced:
    """What the windows and the reduce step produced: the raw answer (not yet scrubbed) and what it cost."""

    text: str
    windows: list[WindowCitation]
    document_tokens: int
    tokens: TokenCounts
    queued_ms: float  # summed over the rounds: each round waits for its slowest job
    batch_size: int  # the largest batch any job shared
    jobs: int
    reduce_rounds: int


async def needs_windows(request: InferenceRequest, generator: TextGenerator) -> bool:
    """A document, or a prompt that alone (in the chat template, with the reply reserved) overflows the context."""
    if request.task == "code":
        return False
    if request.document is not None:
        return True
    if len(request.prompt) < _SURELY_SHORT_CHARS:
        return False

    def overflows() -> bool:  # counting a 200,000-character prompt takes milliseconds: off the event loop
        rendered = _user(generator, request.prompt)
        return generator.count_tokens(rendered) + request.max_tokens > generator.max_context_tokens

    return await asyncio.to_thread(overflows)


def _user(generator: TextGenerator, text: str) -> str:
    return generator.render_chat([{"role": "user", "content": text}])


def plan_windows(
    document: str,
    instruction: str,
    *,
    generator: TextGenerator,
    max_tokens: int,
    limits: LongInputLimits,
    sent: str | None = None,
) -> tuple[int, list[Window]] | Rejected:
    """The token count of the document as sent (`sent`, default the document) and the windows of the document as the
    model reads it, each small enough that its map prompt leaves max_tokens room."""
    # The limit is the client's contract, so it counts what the client sent: pseudonyms make the text the model
    # reads longer (by about a sixth in a note dense with names and phone numbers).
    tokens = generator.count_tokens(document if sent is None else sent)
    if tokens > limits.max_input_tokens:
        return Rejected(
            f"the document is {tokens} tokens, above the limit of {limits.max_input_tokens} tokens "
            "(SLUICE_MAX_INPUT_TOKENS)"
        )
    # The frame of a map prompt with the widest part numbers it can have; a little margin for how the window's
    # first and last tokens merge with the frame around them.
    frame = _user(generator, MAP_PROMPT.format(part=99_999, parts=99_999, window="", instruction=instruction))
    fit = generator.max_context_tokens - max_tokens - generator.count_tokens(frame) - 8
    window_tokens = min(limits.window_tokens, fit) if limits.window_tokens else fit
    if window_tokens < MIN_WINDOW_TOKENS:
        return Rejected(
            f"the request leaves {max(window_tokens, 0)} tokens of the model's {generator.max_context_tokens}-token "
            f"context for a window of the document (at least {MIN_WINDOW_TOKENS}): shorten the prompt or lower "
            "max_tokens"
        )
    overlap = min(limits.overlap_tokens, window_tokens // 2)
    windows = split_windows(
        document, window_tokens=window_tokens, overlap_tokens=overlap, count_tokens=generator.count_tokens
    )
    return tokens, windows


def is_none(note: str) -> bool:
    return not note.strip() or _NONE.fullmatch(note.strip()) is not None


async def map_reduce(
    document: str,
    instruction: str,
    windows: Sequence[Window],
    *,
    document_tokens: int,
    generator: TextGenerator,
    submit: Submit,
    max_tokens: int,
) -> MapReduced | TimedOut | Failed:
    """Map: one job per window, all queued at once so that they batch together. Reduce: one job over the notes
    of the windows that found something (in rounds, when the notes do not fit one prompt)."""
    generations: list[Generation] = []
    batch_sizes: list[int] = []
    queued: list[float] = []

    async def run(prompts: Sequence[str]) -> list[str] | TimedOut | Failed:
        counted = await asyncio.to_thread(lambda: [(p, generator.count_tokens(p)) for p in prompts])
        tasks = [asyncio.ensure_future(submit(p, n)) for p, n in counted]
        try:
            for arrived in asyncio.as_completed(tasks):
                outcome = await arrived
                if not isinstance(outcome, Completed):
                    return outcome  # the request is answered without the rest: withdraw what is still queued
        finally:
            for task in tasks:
                task.cancel()
        done = [o for o in (task.result() for task in tasks) if isinstance(o, Completed)]  # all of them, in order
        generations.extend(o.result for o in done)
        batch_sizes.extend(o.batch_size for o in done)
        queued.append(max(o.queued_ms for o in done))
        return [o.result.text for o in done]

    parts = len(windows)

    def map_prompts() -> list[str]:  # the chat template over 130,000 characters: off the event loop too
        return [
            _user(
                generator,
                MAP_PROMPT.format(
                    part=w.index + 1, parts=parts, window=document[w.start : w.end], instruction=instruction
                ),
            )
            for w in windows
        ]

    mapped = await run(await asyncio.to_thread(map_prompts))
    if not isinstance(mapped, list):
        return mapped
    used = [not is_none(note) for note in mapped]
    notes = [f"[part {i + 1}] {note.strip()}" for i, note in enumerate(mapped) if used[i]]
    rounds = 0
    answer = NOTHING_FOUND
    budget = generator.max_context_tokens - max_tokens
    while notes:
        rounds += 1
        groups = await asyncio.to_thread(_pack, notes, budget, generator, parts, instruction)
        # A group per note means combining would not shrink them (each note fills half a prompt): stop there too.
        if len(groups) == 1 or len(groups) >= len(notes) or rounds >= MAX_REDUCE_ROUNDS:
            last = (
                groups[0]
                if len(groups) == 1
                else await asyncio.to_thread(_squeeze, notes, budget, generator, parts, instruction)
            )
            final = _user(generator, REDUCE_PROMPT.format(parts=parts, notes="\n".join(last), instruction=instruction))
            reduced = await run([final])
            if not isinstance(reduced, list):
                return reduced
            answer = reduced[0]
            break
        combined = await run(
            [_user(generator, COMBINE_PROMPT.format(notes="\n".join(g), instruction=instruction)) for g in groups]
        )
        if not isinstance(combined, list):
            return combined
        notes = [note.strip() for note in combined if not is_none(note)]
    return MapReduced(
        text=answer,
        windows=[
            WindowCitation(index=w.index, start_char=w.start, end_char=w.end, used=u)
            for w, u in zip(windows, used, strict=True)
        ],
        document_tokens=document_tokens,
        tokens=TokenCounts(
            prompt=sum(g.prompt_tokens for g in generations),
            completion=sum(g.completion_tokens for g in generations),
        ),
        queued_ms=sum(queued),
        batch_size=max(batch_sizes, default=0),
        jobs=len(generations),
        reduce_rounds=rounds,
    )


def _pack(notes: Sequence[str], budget: int, generator: TextGenerator, parts: int, instruction: str) -> list[list[str]]:
    """Notes in groups whose reduce prompt fits the budget, in order; a note too long for a prompt of its own is cut."""

    def fits(group: Sequence[str]) -> bool:
        text = REDUCE_PROMPT.format(parts=parts, notes="\n".join(group), instruction=instruction)
        return generator.count_tokens(_user(generator, text)) <= budget

    groups: list[list[str]] = []
    current: list[str] = []
    for note in notes:
        if fits([*current, note]):
            current.append(note)
            continue
        if current:
            groups.append(current)
        current = [note if fits([note]) else _cut(note, fits)]
    if current:
        groups.append(current)
    return groups


def _squeeze(notes: Sequence[str], budget: int, generator: TextGenerator, parts: int, instruction: str) -> list[str]:
    """Every note, each cut to the same length, so that together they fit one reduce prompt."""

    def cut_to(chars: int) -> list[str]:
        return [note if len(note) <= chars else note[:chars] + "…" for note in notes]

    def fits(chars: int) -> bool:
        text = REDUCE_PROMPT.format(parts=parts, notes="\n".join(cut_to(chars)), instruction=instruction)
        return generator.count_tokens(_user(generator, text)) <= budget

    lo, hi = 0, max(len(note) for note in notes)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return cut_to(lo)


def _cut(note: str, fits: Callable[[Sequence[str]], bool]) -> str:
    lo, hi = 0, len(note)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits([note[:mid] + "…"]):
            lo = mid
        else:
            hi = mid - 1
    return note[:lo] + "…"


class _Scrubber(Protocol):
    def scrub(self, text: str) -> tuple[str, list[str]]: ...


class Host(Protocol):
    """What the long-input path uses of agents.inference.service.InferenceService (which imports this module)."""

    @property
    def policy(self) -> Callable[[], PolicyEngine]: ...
    @property
    def scrubber(self) -> _Scrubber: ...
    @property
    def long_inputs(self) -> LongInputLimits: ...
    @property
    def keep_context(self) -> bool: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    def digest(self, text: str) -> str: ...
    def _pseudonymise(self, tenant: str) -> bool: ...
    def _present_answer(self, raw_text: str) -> str: ...
    def _respond(
        self, request: InferenceRequest, status: Status, started: float, **fields: Any
    ) -> InferenceResponse: ...
    def _too_late(
        self, request: InferenceRequest, queued_ms: float, started: float, common: dict[str, Any]
    ) -> InferenceResponse: ...
    def _unanswered(
        self, request: InferenceRequest, outcome: TimedOut | Failed, started: float, common: dict[str, Any]
    ) -> InferenceResponse: ...
    def _review_item(
        self,
        request: InferenceRequest,
        decision: Decision,
        scrubbed: str,
        retrieved: Sequence[Any],
        draft: str | None,
        *,
        deadline_s: int | None,
        **fields: Any,
    ) -> ReviewItem: ...


@dataclass(frozen=True)
class LongAnswer:
    """The service's Handled for a long input, less the audit facts (which are written into the dict given)."""

    response: InferenceResponse
    history: SessionHistory | None = None
    review: ReviewItem | None = None
    context: RequestContext | None = None


async def answer_long_input(
    service: Host,
    request: InferenceRequest,
    *,
    scrubbed_prompt: str,
    decision: Decision,
    generator: TextGenerator,
    submit: Submit,
    common: dict[str, Any],
    audit: dict[str, Any],
    history: SessionHistory,
    started: float,
    deadline: float,
) -> LongAnswer:
    """The service's path for a long input: de-identify the document once, window it, map-reduce, respond."""
    pseudonymise = service._pseudonymise(request.tenant)
    if request.document is not None:
        policy = service.policy()
        document = request.document

        def screen() -> tuple[str, list[str], Decision]:
            scrubbed, types = service.scrubber.scrub(document)
            return scrubbed, types, policy.decide(document, tenant=request.tenant, entity_types=types)

        scrubbed_document, types, document_decision = await asyncio.to_thread(screen)
        audit["document_sha256"] = service.digest(document)
        audit["prompt_entity_types"] = sorted(set(audit.get("prompt_entity_types", [])) | set(types))
        if document_decision.action == "reject":
            audit["rule_hits"] = [*audit.get("rule_hits", []), document_decision.rule_id]
            return LongAnswer(service._respond(request, "rejected", started, reason=document_decision.reason))
        instruction, scrubbed_instruction = (request.prompt, scrubbed_prompt)
    else:  # the prompt is the document; policy and de-identification have seen it already
        document, scrubbed_document = request.prompt, scrubbed_prompt
        instruction = scrubbed_instruction = DEFAULT_INSTRUCTION
    model_document = scrubbed_document if pseudonymise else document
    model_instruction = scrubbed_instruction if pseudonymise else instruction
    audit["template"] = TEMPLATE_LABEL
    planned = await asyncio.to_thread(
        plan_windows,
        model_document,
        model_instruction,
        generator=generator,
        max_tokens=request.max_tokens,
        limits=service.long_inputs,
        sent=document,
    )
    if isinstance(planned, Rejected):
        return LongAnswer(service._respond(request, "rejected", started, reason=planned.reason, **common))
    document_tokens, windows = planned
    result = await map_reduce(
        model_document,
        model_instruction,
        windows,
        document_tokens=document_tokens,
        generator=generator,
        submit=submit,
        max_tokens=request.max_tokens,
    )
    if not isinstance(result, MapReduced):
        return LongAnswer(service._unanswered(request, result, started, common))
    audit["long_input"] = {
        "document_tokens": result.document_tokens,
        "windows": len(result.windows),
        "windows_used": sum(w.used for w in result.windows),
        "reduce_rounds": result.reduce_rounds,
        "jobs": result.jobs,
    }
    if service.clock() >= deadline and decision.action != "review":
        return LongAnswer(service._too_late(request, result.queued_ms, started, common))
    answer = await asyncio.to_thread(service._present_answer, result.text)  # the one presentation of answers
    total_ms = (service.clock() - started) * 1000
    answered: dict[str, Any] = {
        **common,
        "tokens": result.tokens,
        "timings_ms": {
            "queued": round(result.queued_ms, 2),
            "generated": round(max(0.0, total_ms - result.queued_ms), 2),
        },
        "batch_size": result.batch_size,
        "windows": result.windows,
    }
    # What is kept (inference.context.v1, the review item) is de-identified: the scrubbed instruction and document.
    kept = [
        ContextMessage(role="user", content=scrubbed_instruction),
        ContextMessage(role="user", content=scrubbed_document),
    ]
    if decision.action == "review":
        review = service._review_item(
            request,
            decision,
            f"{scrubbed_instruction}\n\n{scrubbed_document}",
            [],
            answer,
            deadline_s=decision.deadline_s,
            draft_model=common.get("model"),
            draft_variant=common.get("variant"),
            tokens=result.tokens,
        )
        response = service._respond(request, "pending_review", started, reason=decision.reason, **answered)
        return LongAnswer(response, None, review, _context(service, request, kept, answer, response))
    response = service._respond(request, "ok", started, text=answer, **answered)
    # History is budgeted into later prompts: it keeps the request, not a 32K-token document.
    remembered = f"{scrubbed_instruction}\n[a document of {len(result.windows)} windows]"
    history = history.append(Turn("user", remembered, request.request_id)).append(
        Turn("assistant", answer, request.request_id)
    )
    return LongAnswer(response, history, None, _context(service, request, kept, answer, response))


def _context(
    service: Host, request: InferenceRequest, kept: list[ContextMessage], answer: str, response: InferenceResponse
) -> RequestContext | None:
    if not service.keep_context or response.model is None:
        return None
    return RequestContext(
        request_id=request.request_id,
        tenant=request.tenant,
        session_id=request.session_id,
        task=request.task,
        model=response.model,
        template=TEMPLATE_LABEL,
        messages=kept,
        answer=answer,
        status=response.status,
        kept_at=datetime.now(UTC),
    )
