"""One request, start to finish, without Kafka: policy → retrieval → prompt → batcher → response + audit."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from agents.core import metrics
from agents.core.digests import keyed_digest
from agents.inference.long_input import LongInputLimits, answer_long_input, needs_windows
from agents.inference.streaming import FirstToken, RequestStream, step_callback
from models.batching import Completed, DynamicBatcher, Failed, TimedOut, WorkItem
from models.codegen import RunLimits, generate_validated, validate_code
from models.dialog import (
    Decision,
    PolicyEngine,
    PromptTemplate,
    PromptTooLongError,
    RetrievedRecord,
    SessionHistory,
    Turn,
    choose_variant,
    cited_record_ids,
    fit_to_budget,
    variant_label,
)
from models.dialog.aliases import AliasMap
from models.dialog.record_budget import fit_records
from models.generation.generator import Generation, StepCallback, TextGenerator
from schemas.inference import (
    CodeValidation,
    ContextMessage,
    InferenceRequest,
    InferenceResponse,
    KeptRecord,
    RequestContext,
    Status,
    TokenCounts,
)
from schemas.review import ReviewItem
from topics.specs import INFERENCE_RESPONSES

# Chat-template role markers cost a few tokens per message; budget for them instead of overflowing.
PER_MESSAGE_TOKENS = 4
# A request whose deadline passed while it was de-identified or its records retrieved (InferenceService._before).
LATE_BEFORE_GENERATION = "deadline passed before generation"

T = TypeVar("T")


class DeadlinePassedError(Exception):
    """The request's deadline passed before the work it waited for was done."""


class Retriever(Protocol):
    def retrieve(self, tenant: str, query: str, k: int) -> list[RetrievedRecord]: ...


class PromptScrubber(Protocol):
    """De-identifies text with the ingest engine: (text with pseudonyms, entity types found)."""

    def scrub(self, text: str) -> tuple[str, list[str]]: ...


@dataclass(frozen=True)
class GenerationJob:
    prompt: str
    max_tokens: int
    temperature: float
    # Sees the text grow token by token (in the batcher's thread); returning True stops this job (its deadline).
    on_step: StepCallback | None = None


@dataclass(frozen=True)
class ServingModel:
    version: str  # name@version
    generator: TextGenerator


class ModelRouter:
    """The versions being served and their A/B weights; a registry update swaps the whole set atomically."""

    def __init__(self, models: Mapping[str, ServingModel], weights: Mapping[str, float]) -> None:
        self._lock = threading.Lock()
        self._set(models, weights)

    def _set(self, models: Mapping[str, ServingModel], weights: Mapping[str, float]) -> None:
        missing = set(weights) - set(models)
        if missing:
            raise ValueError(f"weights name versions that are not loaded: {sorted(missing)}")
        self._models = dict(models)
        self._weights = {v: w for v, w in weights.items() if w > 0} or dict.fromkeys(models, 1.0)

    def replace(self, models: Mapping[str, ServingModel], weights: Mapping[str, float]) -> None:
        with self._lock:
            self._set(models, weights)

    def route(self, session: str) -> tuple[ServingModel, str]:
        with self._lock:
            models, weights = self._models, self._weights
        version = choose_variant(session, weights)
        return models[version], variant_label(version, weights)

    def versions(self) -> dict[str, float]:
        with self._lock:
            return dict(self._weights)

    def model(self, version: str) -> ServingModel:
        # In-flight batches keep the version they were queued for, even after a switch, unless it has since been
        # unloaded (ServedModels keeps the most recently routed idle versions; it takes several switches).
        with self._lock:
            models = self._models
        if version not in models:
            raise LookupError(f"model version {version} is no longer loaded: it was unloaded after newer switches")
        return models[version]

    def run_batch(self, version: str, jobs: Sequence[GenerationJob]) -> list[Generation]:
        generator = self.model(version).generator
        prompts = [job.prompt for job in jobs]
        max_tokens = [job.max_tokens for job in jobs]
        temperature = [job.temperature for job in jobs]
        if all(job.on_step is None for job in jobs):
            return generator.generate_batch(prompts, max_tokens=max_tokens, temperature=temperature)
        on_step = [job.on_step for job in jobs]
        return generator.generate_batch(prompts, max_tokens=max_tokens, temperature=temperature, on_step=on_step)


@dataclass(frozen=True)
class Handled:
    """Everything one request produced: the response, the session's new history, a review item, audit facts, and
    the de-identified context the model worked from (kept on inference.context.v1)."""

    response: InferenceResponse
    history: SessionHistory | None
    review: ReviewItem | None
    audit: dict[str, Any] = field(default_factory=dict)
    context: RequestContext | None = None


CODE_REVIEW_RULE = "code.validation_failed"
CODE_REVIEW_RISK = 0.7


class _NoGeneration(Exception):
    """A code attempt without an answer: the deadline passed in the queue or while generating, or the model failed."""

    def __init__(self, outcome: Completed[Generation] | TimedOut | Failed) -> None:
        super().__init__(type(outcome).__name__)
        self.outcome = outcome


def failure_summary(validation: CodeValidation) -> str:
    """Why code did not pass, in one line for the client and the reviewer (no code, no test output)."""
    if not validation.syntax_ok:
        return "syntax error"
    parts = []
    if validation.sandbox_violation:
        parts.append(f"sandbox stopped it ({validation.sandbox_violation})")
    if validation.lint_errors:
        parts.append(f"{len(validation.lint_errors)} lint error(s)")
    if validation.tests_source == "none":
        parts.append("no tests to run")
    elif validation.tests_failed or not validation.tests_passed:
        parts.append(f"{validation.tests_failed} of {validation.tests_passed + validation.tests_failed} test(s) failed")
    return "; ".join(parts) or "checks could not run"


def validation_facts(validation: CodeValidation) -> dict[str, Any]:
    """The validation as the audit stream keeps it: counts and kinds, never code or error text."""
    return {
        "passed": validation.passed,
        "syntax_ok": validation.syntax_ok,
        "lint_errors": len(validation.lint_errors),
        "tests_source": validation.tests_source,
        "tests_passed": validation.tests_passed,
        "tests_failed": validation.tests_failed,
        "sandbox_violation": validation.sandbox_violation,
        "attempts": validation.attempts,
    }


@dataclass(frozen=True)
class BuiltPrompt:
    text: str  # what the model gets
    tokens: int
    messages: list[ContextMessage]  # the same, de-identified, for the kept context
    template: str
    records: list[RetrievedRecord] = field(default_factory=list)  # as the prompt shows them (fitted to the budget)
    aliases: AliasMap = field(default_factory=AliasMap)  # pseudonyms shown to the model as [P1], [M1], …


@dataclass
class InferenceService:
    policy: Callable[[], PolicyEngine]
    templates: Mapping[str, PromptTemplate]
    router: ModelRouter
    batcher: DynamicBatcher[GenerationJob, Generation]
    scrubber: PromptScrubber
    # Keys the prompt and answer digests kept in audit events and review items (agents.core.digests).
    digest_key: bytes
    retriever: Retriever | None = None
    retrieval_k: int = 4
    pseudonymise_for: frozenset[str] = frozenset({"*"})
    review_deadline_s: int = 24 * 3600
    keep_context: bool = True
    # Tokens the retrieved records may take in a chat prompt (None: all of them, whole); models/dialog/record_budget.
    context_tokens: int | None = None
    # Tokens a session's past exchanges may take in a chat prompt (None: as many as the model's context holds).
    history_tokens: int | None = None
    # Pseudonyms shown to the model as short per-prompt aliases and mapped back in its answer (models/dialog/aliases).
    alias_pseudonyms: bool = True
    code_limits: RunLimits = field(default_factory=RunLimits)
    long_inputs: LongInputLimits = field(default_factory=LongInputLimits)  # agents/inference/long_input.py
    code_max_attempts: int = 3
    code_failure_action: Literal["review", "reject"] = "review"
    # Replaced in unit tests only: the real one runs the sandbox (a subprocess).
    code_validator: Callable[..., tuple[CodeValidation, Any]] = validate_code
    clock: Callable[[], float] = time.time
    # De-identification and retrieval before generation run here, not in the loop's default executor: work a
    # deadline abandoned (_before) may hold these threads for seconds (a retrieval waits on the index worker), and
    # it must not hold up what every answer needs from the default one (stream state, presenting answers).
    prepare_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="sluice-prepare")
    )

    def digest(self, text: str) -> str:
        """The keyed digest of a prompt or an answer, as `prompt_sha256` / `text_sha256` record it."""
        return keyed_digest(self.digest_key, text)

    def _respond(self, request: InferenceRequest, status: Status, started: float, **fields: Any) -> InferenceResponse:
        timings = dict(fields.pop("timings_ms", {}))
        timings["total"] = round((self.clock() - started) * 1000, 2)
        return InferenceResponse(
            request_id=request.request_id,
            tenant=request.tenant,
            session_id=request.session_id,
            status=status,
            timings_ms=timings,
            responded_at=datetime.now(UTC),
            **fields,
        )

    async def handle(
        self,
        request: InferenceRequest,
        *,
        produced_at: float,
        history: SessionHistory,
        stream: RequestStream | None = None,
    ) -> Handled:
        started = self.clock()
        deadline = produced_at + request.deadline_ms / 1000
        audit: dict[str, Any] = {
            "prompt_sha256": self.digest(request.prompt),
            "decoding": {"max_tokens": request.max_tokens, "temperature": request.temperature},
            "task": request.task,
        }
        if started >= deadline:
            return Handled(
                self._respond(request, "timeout", started, reason="deadline passed before processing"),
                None,
                None,
                audit,
            )
        # De-identification, the policy check and retrieval block (CPU, HTTP): off the event loop, which must keep
        # heart-beating and feeding the batcher while they run. Policy patterns run on RE2, linear in the prompt,
        # but a 100 kB prompt still costs milliseconds per rule (measured 0.4-12 ms against the default policy on
        # a shared 2-core machine), and every request in flight waits for the loop. Checked in the same thread
        # call as scrubbing, it costs no extra hop.
        policy = self.policy()
        try:
            screened = await self._before(deadline, self._screen, policy, request)
        except DeadlinePassedError:
            return self._late_before_generation(request, started, audit)
        scrubbed, entity_types, decision = screened
        audit["prompt_entity_types"] = sorted(set(entity_types))
        audit["policy_version"] = policy.version
        audit["rule_hits"] = [decision.rule_id] if decision.rule_id else []
        if decision.action == "reject":
            return Handled(self._respond(request, "rejected", started, reason=decision.reason), None, None, audit)
        if decision.action == "answer":
            response = self._respond(request, "ok", started, text=decision.text or "", model="policy")
            return Handled(response, self._remember(history, request, scrubbed, response.text), None, audit)
        if decision.action == "review" and not decision.draft:
            retrieved = await self._retrieve(request, retrieval_query(history, scrubbed))
            audit["retrieved"] = [r.record_id for r in retrieved]
            review = self._review_item(request, decision, scrubbed, retrieved, None, deadline_s=decision.deadline_s)
            response = self._respond(request, "pending_review", started, reason=decision.reason)
            return Handled(response, None, review, audit)

        model, variant = self.router.route(request.session)
        audit.update(model=model.version, variant=variant)
        common: dict[str, Any] = {"model": model.version, "variant": variant}
        if await needs_windows(request, model.generator):  # a document, or a prompt beyond the context: map-reduce
            # Every window's generation stops at the request's deadline, as any request's does.
            stop_at_deadline = step_callback(
                clock=self.clock, deadline=deadline, first_token=FirstToken(), loop=asyncio.get_running_loop(),
                stream=None,
            )  # fmt: skip
            long = await answer_long_input(
                self, request, scrubbed_prompt=scrubbed, decision=decision, generator=model.generator,
                submit=lambda text, tokens: self._generate(request, text, tokens, model, deadline, stop_at_deadline),
                common=common, audit=audit, history=history, started=started, deadline=deadline,
            )  # fmt: skip
            return Handled(long.response, long.history, long.review, audit, long.context)
        try:
            retrieved = await self._retrieve(request, retrieval_query(history, scrubbed), deadline=deadline)
        except DeadlinePassedError:
            return self._late_before_generation(request, started, audit)
        audit["retrieved"] = [r.record_id for r in retrieved]
        if request.task == "code":
            return await self._answer_code(request, scrubbed, model, common, audit, started, deadline, decision)
        prompt = self._prompt(request, scrubbed, history, retrieved, model.generator, audit)
        if isinstance(prompt, PromptTooLongError):
            return Handled(self._respond(request, "rejected", started, reason=str(prompt)), None, None, audit)
        # What the model was shown (fitted to the budget), with pseudonyms again where it saw aliases: citations and
        # the review item say so; the kept context keeps the model's own view (prompt.records) and the alias map.
        retrieved = [dataclasses.replace(r, text=prompt.aliases.from_model(r.text)) for r in prompt.records]
        first_token = FirstToken()
        if stream is not None and decision.action != "review":  # a reviewed answer is shown to no one before review
            stream.start(functools.partial(self._present_answer, aliases=prompt.aliases))
        else:
            stream = None
        # Generation stops at the deadline (a reviewed request's deadline is the review's: its draft runs on).
        on_step = step_callback(
            clock=self.clock,
            deadline=deadline if decision.action != "review" else None,
            first_token=first_token,
            loop=asyncio.get_running_loop(),
            stream=stream,
        )
        # De-identification, policy, retrieval and the prompt: what a request costs before it reaches the batcher.
        prepared_ms = (self.clock() - started) * 1000
        try:
            outcome = await self._generate(request, prompt.text, prompt.tokens, model, deadline, on_step)
        finally:
            if stream is not None:
                await stream.close()  # its last partial is out before the final response
        common["time_to_first_token_ms"] = first_token.ms_since(started)
        if not isinstance(outcome, Completed):
            return Handled(self._unanswered(request, outcome, started, common), None, None, audit)
        if self.clock() >= deadline and decision.action != "review":
            # Checked after generation too, not only in the queue: past its deadline the client has stopped
            # waiting, and the contract is a `timeout`, whatever was computed (a reviewed request's deadline is
            # the review's, not the draft's).
            return Handled(self._too_late(request, outcome.queued_ms, started, common), None, None, audit)
        generation: Generation = outcome.result
        answer = await asyncio.to_thread(self._present_answer, generation.text, prompt.aliases)
        total_ms = (self.clock() - started) * 1000
        answered: dict[str, Any] = {
            **common,
            "tokens": TokenCounts(prompt=generation.prompt_tokens, completion=generation.completion_tokens),
            "timings_ms": {
                "prepared": round(prepared_ms, 2),
                "queued": round(outcome.queued_ms, 2),
                "generated": round(max(0.0, total_ms - prepared_ms - outcome.queued_ms), 2),
            },
            "batch_size": outcome.batch_size,
            "citations": cited_record_ids(answer, retrieved),
        }
        if decision.action == "review":  # the model drafted; a person decides what the client gets
            review = self._review_item(
                request,
                decision,
                scrubbed,
                retrieved,
                answer,
                deadline_s=decision.deadline_s,
                draft_model=model.version,
                draft_variant=variant,
                tokens=answered["tokens"],
                citations=answered["citations"],
            )
            response = self._respond(request, "pending_review", started, reason=decision.reason, **answered)
            context = self._context(request, prompt, prompt.records, answer, response)
            return Handled(response, None, review, audit, context)
        response = self._respond(request, "ok", started, text=answer, **answered)
        context = self._context(request, prompt, prompt.records, answer, response)
        return Handled(response, self._remember(history, request, scrubbed, answer), None, audit, context)

    async def _retrieve(
        self, request: InferenceRequest, query: str, *, deadline: float | None = None
    ) -> list[RetrievedRecord]:
        if request.task != "chat" or self.retriever is None:
            return []
        if deadline is None:  # a request going to review: the reviewer's deadline applies, not the request's
            return await asyncio.get_running_loop().run_in_executor(
                self.prepare_executor, self.retriever.retrieve, request.tenant, query, self.retrieval_k
            )
        return await self._before(deadline, self.retriever.retrieve, request.tenant, query, self.retrieval_k)

    def _late_before_generation(self, request: InferenceRequest, started: float, audit: dict[str, Any]) -> Handled:
        return Handled(self._respond(request, "timeout", started, reason=LATE_BEFORE_GENERATION), None, None, audit)

    async def _before(self, deadline: float, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in a thread, raced against the request's deadline (DeadlinePassedError when it loses).

        Under a burst every request's de-identification and retrieval share two cores, so each takes as long as
        all of them together: waiting for it would make a `timeout` as late as the slowest. The response goes out
        at the deadline instead; work a thread picks up after the deadline is skipped, and work already running
        finishes in the background, its result unused.
        """
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise DeadlinePassedError

        def in_time() -> T:
            if self.clock() >= deadline:  # queued behind other requests' work until it was too late
                raise DeadlinePassedError
            return work(*args)

        try:
            running = asyncio.get_running_loop().run_in_executor(self.prepare_executor, in_time)
            return await asyncio.wait_for(running, timeout=remaining)
        except TimeoutError:
            raise DeadlinePassedError from None

    def _prompt(
        self,
        request: InferenceRequest,
        scrubbed: str,
        history: SessionHistory,
        retrieved: Sequence[RetrievedRecord],
        generator: TextGenerator,
        audit: dict[str, Any],
    ) -> BuiltPrompt | PromptTooLongError:
        """The prompt the model gets, and the same messages de-identified for the kept context."""
        model_prompt = scrubbed if self._pseudonymise(request.tenant) else request.prompt
        template = self.templates["chat-default" if request.task == "chat" else "complete-default"]
        audit["template"] = template.label
        aliases = AliasMap()
        if self.alias_pseudonyms:
            texts = [*(r.text for r in retrieved), *(t.content for t in history.turns), model_prompt]
            aliases = AliasMap.for_texts(texts, reserved=(r.record_id for r in retrieved))
            retrieved = [dataclasses.replace(r, text=aliases.to_model(r.text)) for r in retrieved]
            history = SessionHistory(
                tuple(dataclasses.replace(t, content=aliases.to_model(t.content)) for t in history.turns)
            )
            model_prompt = aliases.to_model(model_prompt)
            scrubbed = aliases.to_model(scrubbed)
            audit["aliases"] = len(aliases)
        if self.context_tokens is not None:
            retrieved = fit_records(retrieved, budget_tokens=self.context_tokens, count_tokens=generator.count_tokens)
        audit["context_records"] = len(retrieved)
        try:
            if request.task == "chat":
                budgeted = fit_to_budget(
                    history,
                    system_prompt=template.render(request.tenant, retrieved),
                    new_user_message=model_prompt,
                    context_tokens=generator.max_context_tokens,
                    reserve_tokens=request.max_tokens,
                    count_tokens=generator.count_tokens,
                    per_message_tokens=PER_MESSAGE_TOKENS,
                    history_tokens=self.history_tokens,
                )
                text = generator.render_chat(budgeted.messages)
                audit["dropped_turns"] = budgeted.dropped_turns
                kept = [dict(message) for message in budgeted.messages]
                kept[-1] = {"role": "user", "content": scrubbed}  # the raw prompt never leaves the request
            else:
                text = model_prompt
                kept = [{"role": "user", "content": scrubbed}]
            tokens = generator.count_tokens(text)
            if tokens + request.max_tokens > generator.max_context_tokens:
                raise PromptTooLongError(
                    prompt_tokens=tokens,
                    context_tokens=generator.max_context_tokens,
                    reserve_tokens=request.max_tokens,
                )
        except PromptTooLongError as exc:
            return exc
        messages = [ContextMessage.model_validate(message) for message in kept]
        return BuiltPrompt(text, tokens, messages, template.label, list(retrieved), aliases)

    async def _generate(
        self,
        request: InferenceRequest,
        prompt: str,
        prompt_tokens: int,
        model: ServingModel,
        deadline: float,
        on_step: StepCallback | None = None,
    ) -> Completed[Generation] | TimedOut | Failed:
        return await self.batcher.submit(
            WorkItem(
                GenerationJob(prompt, request.max_tokens, request.temperature, on_step),
                model_version=model.version,
                priority=request.priority,
                cost_tokens=prompt_tokens + request.max_tokens,
                new_tokens=request.max_tokens,
                deadline=self._batcher_deadline(deadline),
            )
        )

    def _too_late(
        self, request: InferenceRequest, queued_ms: float, started: float, common: dict[str, Any]
    ) -> InferenceResponse:
        """Generated, but past the deadline (stopped there, or finished after it): the contract is a `timeout`."""
        timings = {"queued": round(queued_ms, 2)}
        return self._respond(
            request, "timeout", started, reason="deadline passed during generation", timings_ms=timings, **common
        )

    def _unanswered(
        self, request: InferenceRequest, outcome: TimedOut | Failed, started: float, common: dict[str, Any]
    ) -> InferenceResponse:
        timings = {"queued": round(outcome.queued_ms, 2)}
        if isinstance(outcome, TimedOut):
            return self._respond(
                request, "timeout", started, reason="deadline passed while queued", timings_ms=timings, **common
            )
        return self._respond(
            request,
            "error",
            started,
            reason=f"generation failed: {outcome.error_type}",
            timings_ms=timings,
            batch_size=outcome.batch_size,
            **common,
        )

    async def _answer_code(
        self,
        request: InferenceRequest,
        scrubbed: str,
        model: ServingModel,
        common: dict[str, Any],
        audit: dict[str, Any],
        started: float,
        deadline: float,
        decision: Decision,
    ) -> Handled:
        """A code task: generate, validate (syntax, lint, tests in the sandbox), repair with the errors, and never
        answer `ok` with code that did not pass: it goes to review, or is `rejected` with the reasons."""
        generator = model.generator
        instruction = scrubbed if self._pseudonymise(request.tenant) else request.prompt
        generations: list[Generation] = []
        batch_sizes: list[int] = []
        first_token = FirstToken()  # code is never streamed: it is shown only once validated
        reviewed = decision.action == "review"
        on_step = step_callback(
            clock=self.clock,
            deadline=None if reviewed else deadline,
            first_token=first_token,
            loop=asyncio.get_running_loop(),
            stream=None,
        )

        async def generate(prompt_text: str) -> str:
            rendered = generator.render_chat([{"role": "user", "content": prompt_text}])
            outcome = await self._generate(
                request, rendered, generator.count_tokens(rendered), model, deadline, on_step
            )
            common["time_to_first_token_ms"] = first_token.ms_since(started)
            if not isinstance(outcome, Completed):
                raise _NoGeneration(outcome)
            if not reviewed and self.clock() >= deadline:  # stopped at the deadline: cut short, not worth checking
                raise _NoGeneration(outcome)
            generations.append(outcome.result)
            batch_sizes.append(outcome.batch_size)
            return outcome.result.text

        try:
            coded = await generate_validated(
                generate,
                instruction=instruction,
                language=request.language or "python",
                request_tests=request.tests,
                limits=self.code_limits,
                max_attempts=self.code_max_attempts,
                validate=self.code_validator,
            )
        except _NoGeneration as stop:
            if isinstance(stop.outcome, Completed):
                return Handled(self._too_late(request, stop.outcome.queued_ms, started, common), None, None, audit)
            return Handled(self._unanswered(request, stop.outcome, started, common), None, None, audit)
        validation = await asyncio.to_thread(self._scrub_validation, coded.validation)
        audit["validation"] = validation_facts(validation)
        metrics.CODE_VALIDATIONS.labels("passed" if validation.passed else "failed", str(validation.attempts)).inc()
        answer = await asyncio.to_thread(self._present_answer, coded.answer_text)
        answered: dict[str, Any] = {
            **common,
            "tokens": TokenCounts(
                prompt=sum(g.prompt_tokens for g in generations),
                completion=sum(g.completion_tokens for g in generations),
            ),
            "batch_size": batch_sizes[-1] if batch_sizes else 0,
            "validation": validation,
        }
        prompt = BuiltPrompt("", 0, [ContextMessage(role="user", content=scrubbed)], "code-default")
        if decision.action == "review" or (not validation.passed and self.code_failure_action == "review"):
            if decision.action != "review":
                decision = Decision(
                    "review",
                    CODE_REVIEW_RULE,
                    reason=f"generated code failed validation: {failure_summary(validation)}",
                    risk=CODE_REVIEW_RISK,
                )
            review = self._review_item(
                request,
                decision,
                scrubbed,
                [],
                answer,
                deadline_s=decision.deadline_s,
                draft_model=model.version,
                draft_variant=common["variant"],
                tokens=answered["tokens"],
                validation=validation,
            )
            audit["rule_hits"] = [decision.rule_id]
            response = self._respond(request, "pending_review", started, reason=decision.reason, **answered)
            return Handled(response, None, review, audit, self._context(request, prompt, [], answer, response))
        if not validation.passed:
            reason = f"generated code failed validation after {validation.attempts} attempt(s): "
            response = self._respond(
                request, "rejected", started, reason=reason + failure_summary(validation), **answered
            )
            return Handled(response, None, None, audit, self._context(request, prompt, [], answer, response))
        response = self._respond(request, "ok", started, text=answer, **answered)
        context = self._context(request, prompt, [], answer, response)
        return Handled(response, None, None, audit, context)

    def _present_answer(self, raw_text: str, aliases: AliasMap | None = None) -> str:
        """Generated text as the client may see it, in the final response and in partials alike: its aliases mapped
        back to pseudonyms, then de-identified (the answer may echo what the model saw; responses are written by
        Sluice, so they carry no raw PII)."""
        text = aliases.from_model(raw_text) if aliases is not None else raw_text
        return self.scrubber.scrub(text)[0]

    def _scrub_validation(self, validation: CodeValidation) -> CodeValidation:
        """Error texts quote the model's code, which may echo what it was shown: de-identified like any answer."""

        def scrub(text: str | None) -> str | None:
            return None if text is None else self.scrubber.scrub(text)[0]

        return validation.model_copy(
            update={
                "syntax_error": scrub(validation.syntax_error),
                "lint_errors": [self.scrubber.scrub(e)[0] for e in validation.lint_errors],
                "test_errors": [self.scrubber.scrub(e)[0] for e in validation.test_errors],
            }
        )

    def _review_item(
        self,
        request: InferenceRequest,
        decision: Decision,
        scrubbed: str,
        retrieved: Sequence[RetrievedRecord],
        draft: str | None,
        *,
        deadline_s: int | None,
        **fields: Any,
    ) -> ReviewItem:
        now = datetime.now(UTC)
        return ReviewItem(
            request_id=request.request_id,
            tenant=request.tenant,
            session_id=request.session_id,
            task=request.task,
            rule_id=decision.rule_id or "",
            reason=decision.reason or "",
            risk_score=decision.risk if decision.risk is not None else 0.5,
            prompt=scrubbed,
            prompt_sha256=self.digest(request.prompt),
            retrieved=[KeptRecord(record_id=r.record_id, text=r.text, score=r.score) for r in retrieved],
            draft=draft,
            reply_to=request.reply_to or INFERENCE_RESPONSES.name,
            queued_at=now,
            deadline_at=now + timedelta(seconds=deadline_s or self.review_deadline_s),
            **fields,
        )

    def _context(
        self,
        request: InferenceRequest,
        prompt: BuiltPrompt,
        retrieved: Sequence[RetrievedRecord],
        answer: str,
        response: InferenceResponse,
    ) -> RequestContext | None:
        if not self.keep_context or response.model is None:
            return None
        return RequestContext(
            request_id=request.request_id,
            tenant=request.tenant,
            session_id=request.session_id,
            task=request.task,
            model=response.model,
            template=prompt.template,
            messages=list(prompt.messages),
            retrieved=[KeptRecord(record_id=r.record_id, text=r.text, score=r.score) for r in retrieved],
            answer=answer,
            citations=response.citations,
            status=response.status,
            kept_at=datetime.now(UTC),
            aliases=prompt.aliases.as_dict(),
        )

    def _screen(self, policy: PolicyEngine, request: InferenceRequest) -> tuple[str, list[str], Decision]:
        """Scrub the prompt and check it against the policy (in a worker thread)."""
        scrubbed, entity_types = self.scrubber.scrub(request.prompt)
        return scrubbed, entity_types, policy.decide(request.prompt, tenant=request.tenant, entity_types=entity_types)

    def _pseudonymise(self, tenant: str) -> bool:
        return "*" in self.pseudonymise_for or tenant in self.pseudonymise_for

    def _batcher_deadline(self, deadline_epoch: float) -> float:
        # The batcher keeps time on the monotonic clock; translate the request's wall-clock deadline.
        return time.monotonic() + (deadline_epoch - self.clock())

    @staticmethod
    def _remember(history: SessionHistory, request: InferenceRequest, user_text: str, answer: str) -> SessionHistory:
        # History lives in a Kafka-backed table: only de-identified text goes in.
        with_user = history.append(Turn("user", user_text, request.request_id))
        return with_user.append(Turn("assistant", answer, request.request_id))


def retrieval_query(history: SessionHistory, scrubbed: str) -> str:
    """What the records are searched with: the new message, after the session's previous question if it has one.

    A follow-up ("Why?", "能加急吗？") names nothing to search for by itself; searched alone it retrieved records
    unrelated to the conversation. History holds de-identified text, so the query carries pseudonyms, never PII.
    """
    previous = next((turn.content for turn in reversed(history.turns) if turn.role == "user"), None)
    return scrubbed if previous is None else f"{previous}\n{scrubbed}"
