"""The inference service with a fake generator, scrubber and retriever behind their Protocols."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

import pytest

from agents.core.digests import keyed_digest
from agents.inference.long_input import LongInputLimits
from agents.inference.service import InferenceService, ModelRouter, ServingModel
from models.batching import BatchLimits, DynamicBatcher
from models.codegen import Extracted, RunLimits
from models.dialog import (
    Decision,
    PolicyEngine,
    RetrievedRecord,
    SessionHistory,
    Turn,
    load_default_policy,
    load_templates,
    omitted_note,
)
from models.generation.generator import Generation, StepCallback
from schemas.inference import CodeValidation, InferenceRequest

DIGEST_KEY = b"digest-key-for-tests-0123456789ab"

PHONE = re.compile(r"1[3-9]\d{9}")


class FakeGenerator:
    """Answers by echoing the last user message and citing record ids it saw in the prompt."""

    max_context_tokens = 512

    def __init__(self, version: str, *, fail: bool = False) -> None:
        self.version = version
        self.fail = fail
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        return "\n".join(f"<{m['role']}> {m['content']}" for m in messages)

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: Sequence[int],
        temperature: Sequence[float],
        on_step: Sequence[StepCallback | None] | None = None,
    ) -> list[Generation]:
        if self.fail:
            raise RuntimeError("model crashed")
        self.prompts.extend(prompts)
        out = []
        for index, prompt in enumerate(prompts):
            last_user = prompt.rsplit("<user> ", 1)[-1]
            cited = " ".join(f"[{rid}]" for rid in re.findall(r"\[(rec_[a-z0-9]+)\]", prompt))
            text = f"echo: {last_user} {cited} [rec_invented]"
            callback = on_step[index] if on_step is not None else None
            out.append(Generation(steps(text, callback), len(prompt.split()), 5, "stop"))
        return out


def steps(text: str, callback: StepCallback | None) -> str:
    """Feed `text` to a step callback a word at a time, as a generator would token by token; what was generated
    when the callback said stop (all of it if it never did)."""
    if callback is None:
        return text
    words = re.findall(r"\S+\s*", text)
    for count in range(1, len(words) + 1):
        if callback("".join(words[:count])):
            return "".join(words[:count])
    return text


class FakeScrubber:
    def scrub(self, text: str) -> tuple[str, list[str]]:
        return PHONE.sub("<CN_MOBILE>", text), ["CN_MOBILE"] * len(PHONE.findall(text))


class FakeRetriever:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def retrieve(self, tenant: str, query: str, k: int) -> list[RetrievedRecord]:
        self.calls.append((tenant, query))
        return [RetrievedRecord(f"rec_{tenant}1", "order SO-1 shipped late", 0.9)]


@pytest.fixture()
async def service() -> AsyncIterator[InferenceService]:
    generator = FakeGenerator("tiny@1")
    router = ModelRouter({"tiny@1": ServingModel("tiny@1", generator)}, {"tiny@1": 1.0})
    batcher = DynamicBatcher(router.run_batch, BatchLimits(max_batch_size=8, max_wait_ms=5))
    await batcher.start()
    policy = load_default_policy()
    svc = InferenceService(
        policy=lambda: PolicyEngine([policy]),
        templates=load_templates(),
        router=router,
        batcher=batcher,
        scrubber=FakeScrubber(),
        digest_key=DIGEST_KEY,
        retriever=FakeRetriever(),
    )
    yield svc
    await batcher.drain()


def request(prompt: str, **fields: object) -> InferenceRequest:
    return InferenceRequest.model_validate({"request_id": "r1", "tenant": "acme", "prompt": prompt, **fields})


async def test_chat_answer_cites_only_retrieved_records_and_remembers_deidentified_turns(
    service: InferenceService,
) -> None:
    handled = await service.handle(
        request("where is my order? call 13812345678"), produced_at=time.time(), history=SessionHistory()
    )
    response = handled.response
    assert response.status == "ok" and response.model == "tiny@1" and response.variant == "A"
    assert response.citations == ["rec_acme1"]  # the invented id is dropped
    assert response.batch_size == 1 and response.tokens.completion == 5
    assert "13812345678" not in response.text
    assert handled.history is not None
    assert [t.role for t in handled.history.turns] == ["user", "assistant"]
    assert all("13812345678" not in t.content for t in handled.history.turns)
    # The prompt is kept as a keyed digest only: a bare SHA-256 of a short prompt could be confirmed by guessing.
    prompt = "where is my order? call 13812345678"
    bare = hashlib.sha256(prompt.encode()).hexdigest()
    assert handled.audit["prompt_sha256"] == keyed_digest(DIGEST_KEY, prompt) != bare
    assert handled.audit["retrieved"] == ["rec_acme1"] and handled.audit["template"].startswith("chat-default@")


async def test_the_model_sees_pseudonyms_when_the_tenant_asks_and_raw_text_otherwise(
    service: InferenceService,
) -> None:
    generator = service.router.model("tiny@1").generator
    assert isinstance(generator, FakeGenerator)
    await service.handle(request("call 13812345678"), produced_at=time.time(), history=SessionHistory())
    assert "<CN_MOBILE>" in generator.prompts[-1] and "13812345678" not in generator.prompts[-1]
    service.pseudonymise_for = frozenset({"other-tenant"})
    await service.handle(request("call 13812345678"), produced_at=time.time(), history=SessionHistory())
    assert "13812345678" in generator.prompts[-1]


async def test_policy_reject_and_answer_never_reach_the_model(service: InferenceService) -> None:
    generator = service.router.model("tiny@1").generator
    assert isinstance(generator, FakeGenerator)
    rejected = await service.handle(
        request("please reveal the ID number of this customer"), produced_at=time.time(), history=SessionHistory()
    )
    answer = await service.handle(
        request("what are your office hours?"), produced_at=time.time(), history=SessionHistory()
    )
    assert rejected.response.status == "rejected" and rejected.response.reason
    assert answer.response.status == "ok" and answer.response.model == "policy" and answer.response.text
    assert generator.prompts == []
    assert rejected.audit["rule_hits"] and answer.audit["rule_hits"]


async def test_a_review_rule_queues_the_drafted_answer_with_what_a_reviewer_needs(service: InferenceService) -> None:
    generator = service.router.model("tiny@1").generator
    assert isinstance(generator, FakeGenerator)
    review = await service.handle(
        request("we will file a lawsuit, call 13812345678"), produced_at=time.time(), history=SessionHistory()
    )
    assert review.response.status == "pending_review" and not review.response.final
    assert review.response.text == ""  # the client sees nothing of the draft until a person approved it
    item = review.review
    assert item is not None and item.rule_id == "default.legal_review" and item.risk_score == 0.8
    assert item.prompt_sha256 == keyed_digest(DIGEST_KEY, "we will file a lawsuit, call 13812345678")
    # De-identified: the prompt, the draft and the kept context never hold the raw phone number.
    assert item.prompt == "we will file a lawsuit, call <CN_MOBILE>"
    assert item.draft is not None and item.draft.startswith("echo: ") and "13812345678" not in item.draft
    assert [r.record_id for r in item.retrieved] == ["rec_acme1"] and item.draft_model == "tiny@1"
    assert item.deadline_at > item.queued_at
    assert len(generator.prompts) == 1  # drafted once
    assert review.history is None  # the session remembers the turn only once it is answered
    assert review.context is not None and "13812345678" not in review.context.model_dump_json()
    assert review.audit["rule_hits"] == ["default.legal_review"]


async def test_a_review_rule_that_says_no_draft_never_reaches_the_model(service: InferenceService) -> None:
    generator = service.router.model("tiny@1").generator
    assert isinstance(generator, FakeGenerator)
    decision = Decision("review", "r.medical", reason="medical", risk=0.9, draft=False, deadline_s=60)
    service.policy = lambda: _Always(decision)  # type: ignore[assignment,return-value]
    review = await service.handle(request("what dosage?"), produced_at=time.time(), history=SessionHistory())
    assert review.review is not None and review.review.draft is None and review.review.risk_score == 0.9
    assert (review.review.deadline_at - review.review.queued_at).total_seconds() == pytest.approx(60, abs=1)
    assert generator.prompts == []


class _Always:
    version = "test@1"

    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    def decide(self, prompt: str, *, tenant: str, entity_types: Collection[str] = ()) -> Decision:
        return self.decision


async def test_the_kept_context_is_what_the_model_saw_with_the_user_turn_scrubbed(service: InferenceService) -> None:
    service.pseudonymise_for = frozenset({"other-tenant"})  # this tenant's model sees the raw prompt
    handled = await service.handle(request("call 13812345678"), produced_at=time.time(), history=SessionHistory())
    context = handled.context
    assert context is not None and context.model == "tiny@1" and context.task == "chat"
    assert [m.role for m in context.messages] == ["system", "user"]
    assert context.messages[-1].content == "call <CN_MOBILE>"
    assert "[rec_acme1] order SO-1 shipped late" in context.messages[0].content
    assert context.answer == handled.response.text and context.citations == ["rec_acme1"]
    service.keep_context = False
    assert (await service.handle(request("hi"), produced_at=time.time(), history=SessionHistory())).context is None


async def test_the_policy_is_checked_off_the_event_loop(service: InferenceService) -> None:
    loop_thread = threading.current_thread()
    seen: list[threading.Thread] = []

    class RecordingEngine(PolicyEngine):
        def decide(self, prompt: str, *, tenant: str, entity_types: Collection[str] = ()) -> Decision:
            seen.append(threading.current_thread())
            return super().decide(prompt, tenant=tenant, entity_types=entity_types)

    service.policy = lambda: RecordingEngine([load_default_policy()])
    prompt = request("reveal the real name please")
    handled = await service.handle(prompt, produced_at=time.time(), history=SessionHistory())
    assert handled.response.status == "rejected"
    assert seen and loop_thread not in seen


async def test_expired_request_times_out_without_running(service: InferenceService) -> None:
    handled = await service.handle(request("hi", deadline_ms=1), produced_at=time.time() - 5, history=SessionHistory())
    assert handled.response.status == "timeout"


class SlowScrubber(FakeScrubber):
    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls = seconds, 0

    def scrub(self, text: str) -> tuple[str, list[str]]:
        self.calls += 1
        time.sleep(self.seconds)  # de-identification sharing two cores with a burst of other requests
        return super().scrub(text)


class SlowRetriever(FakeRetriever):
    def retrieve(self, tenant: str, query: str, k: int) -> list[RetrievedRecord]:
        time.sleep(1.0)
        return super().retrieve(tenant, query, k)


async def test_a_deadline_passing_during_de_identification_is_answered_at_the_deadline(
    service: InferenceService,
) -> None:
    service.scrubber = SlowScrubber(1.0)
    produced = time.time()
    handled = await service.handle(request("hi", deadline_ms=200), produced_at=produced, history=SessionHistory())
    answered_after_s = time.time() - produced
    assert handled.response.status == "timeout"
    assert handled.response.reason == "deadline passed before generation"
    assert 0.2 <= answered_after_s < 0.6  # at the deadline, not when the scrubbing thread is done (1 s)


async def test_a_deadline_passing_during_retrieval_is_answered_at_the_deadline(service: InferenceService) -> None:
    service.retriever = SlowRetriever()
    produced = time.time()
    handled = await service.handle(
        request("when does order SO-1 ship?", deadline_ms=300), produced_at=produced, history=SessionHistory()
    )
    assert handled.response.status == "timeout" and handled.response.reason == "deadline passed before generation"
    assert time.time() - produced < 0.8
    assert "retrieved" not in handled.audit


async def test_work_a_deadline_abandoned_does_not_hold_up_the_loops_default_threads(service: InferenceService) -> None:
    # A burst past its deadline leaves retrievals waiting on the index worker; stream state and answer presentation
    # run in the loop's default executor (at most 32 threads) and must not queue behind them.
    service.retriever = SlowRetriever()
    asks = [
        service.handle(
            request("when does order SO-1 ship?", deadline_ms=200), produced_at=time.time(), history=SessionHistory()
        )
        for _ in range(40)
    ]
    handled = await asyncio.gather(*asks)
    assert {h.response.status for h in handled} == {"timeout"}
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), timeout=0.5) == "free"


async def test_work_picked_up_after_the_deadline_is_skipped(service: InferenceService) -> None:
    scrubber = SlowScrubber(0.0)
    service.scrubber = scrubber

    # The deadline passes between the check on the loop and a thread starting the work (queued behind others).
    class Clock:
        calls = 0

        def __call__(self) -> float:
            Clock.calls += 1
            return 1000.0 if Clock.calls <= 2 else 1003.0

    service.clock = Clock()
    handled = await service.handle(request("hi", deadline_ms=2000), produced_at=1000.0, history=SessionHistory())
    assert handled.response.status == "timeout" and scrubber.calls == 0


async def test_prompt_longer_than_the_input_limit_is_rejected_with_numbers(service: InferenceService) -> None:
    # Longer than the context only, it is read in windows (tests/unit/inference/test_long_input.py).
    service.long_inputs = LongInputLimits(max_input_tokens=500)
    handled = await service.handle(
        request("word " * 600, task="complete"), produced_at=time.time(), history=SessionHistory()
    )
    assert handled.response.status == "rejected"
    assert "600 tokens" in (handled.response.reason or "") and "500" in (handled.response.reason or "")


async def test_a_model_failure_is_an_error_response_not_an_exception() -> None:
    router = ModelRouter({"bad@1": ServingModel("bad@1", FakeGenerator("bad@1", fail=True))}, {"bad@1": 1.0})
    batcher = DynamicBatcher(router.run_batch, BatchLimits(max_wait_ms=1))
    await batcher.start()
    svc = InferenceService(
        policy=lambda: PolicyEngine([load_default_policy()]),
        templates=load_templates(),
        router=router,
        batcher=batcher,
        scrubber=FakeScrubber(),
        digest_key=DIGEST_KEY,
    )
    try:
        handled = await svc.handle(request("hello"), produced_at=time.time(), history=SessionHistory())
    finally:
        await batcher.drain()
    assert handled.response.status == "error" and "RuntimeError" in (handled.response.reason or "")


def test_router_rejects_weights_for_versions_it_does_not_serve() -> None:
    with pytest.raises(ValueError, match="not loaded"):
        ModelRouter({"a@1": ServingModel("a@1", FakeGenerator("a@1"))}, {"b@1": 1.0})


# --- the code task --------------------------------------------------------------------------------------------------


class CodeGenerator(FakeGenerator):
    """Answers every prompt with a fenced Python block; counts the attempts."""

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: Sequence[int],
        temperature: Sequence[float],
        on_step: Sequence[StepCallback | None] | None = None,
    ) -> list[Generation]:
        self.prompts.extend(prompts)
        return [Generation("```python\ndef add(a, b):\n    return a + b\n```", 10, 12, "stop") for _ in prompts]


def fake_validator(passes_on_attempt: int | None) -> Any:
    """A validator that passes from the given call on (None: never), with an error text quoting a phone number."""
    calls = [0]

    def validate(answer: str, *, language: str, request_tests: str | None, limits: RunLimits) -> Any:
        calls[0] += 1
        passed = passes_on_attempt is not None and calls[0] >= passes_on_attempt
        validation = CodeValidation(
            language="python",
            passed=passed,
            syntax_ok=True,
            tests_source="request" if request_tests else "generated",
            tests_passed=2 if passed else 1,
            tests_failed=0 if passed else 1,
            test_errors=[] if passed else ["test_add: assert add(1, 2) == 13812345678"],
            attempts=1,
            limits=limits.reported(network_reachable=False),
        )
        return validation, Extracted("def add(a, b):\n    return a + b\n", None)

    return validate


@pytest.fixture()
async def code_service(service: InferenceService) -> InferenceService:
    generator = CodeGenerator("tiny@1")
    service.router.replace({"tiny@1": ServingModel("tiny@1", generator)}, {"tiny@1": 1.0})
    return service


async def test_code_that_passes_after_a_repair_is_answered_ok_with_its_validation(
    code_service: InferenceService,
) -> None:
    code_service.code_validator = fake_validator(passes_on_attempt=2)
    handled = await code_service.handle(
        request("add two numbers", task="code", language="python", tests="def test_add(): assert add(1, 2) == 3"),
        produced_at=time.time(),
        history=SessionHistory(),
    )
    response = handled.response
    assert response.status == "ok" and "def add" in response.text
    assert response.validation is not None and response.validation.passed and response.validation.attempts == 2
    assert response.tokens.completion == 24  # both attempts' tokens
    assert handled.audit["validation"] == {
        "passed": True,
        "syntax_ok": True,
        "lint_errors": 0,
        "tests_source": "request",
        "tests_passed": 2,
        "tests_failed": 0,
        "sandbox_violation": None,
        "attempts": 2,
    }
    generator = code_service.router.model("tiny@1").generator
    assert isinstance(generator, CodeGenerator) and len(generator.prompts) == 2
    assert "test_add" in generator.prompts[1]  # the repair prompt carries what failed


async def test_code_that_never_passes_goes_to_review_never_ok(code_service: InferenceService) -> None:
    code_service.code_validator = fake_validator(passes_on_attempt=None)
    handled = await code_service.handle(
        request("add two numbers", task="code"), produced_at=time.time(), history=SessionHistory()
    )
    assert handled.response.status == "pending_review"
    item = handled.review
    assert item is not None and item.rule_id == "code.validation_failed" and item.validation is not None
    assert item.validation.attempts == 3 and not item.validation.passed
    assert item.draft is not None and "def add" in item.draft
    # Error texts quote the model's code: de-identified before anyone sees them.
    assert "13812345678" not in item.model_dump_json() and "13812345678" not in handled.response.model_dump_json()


async def test_code_that_never_passes_is_rejected_with_the_reasons_when_so_configured(
    code_service: InferenceService,
) -> None:
    code_service.code_validator = fake_validator(passes_on_attempt=None)
    code_service.code_failure_action = "reject"
    code_service.code_max_attempts = 2
    handled = await code_service.handle(
        request("add two numbers", task="code"), produced_at=time.time(), history=SessionHistory()
    )
    response = handled.response
    assert response.status == "rejected" and response.text == "" and handled.review is None
    assert response.reason == "generated code failed validation after 2 attempt(s): 1 of 2 test(s) failed"
    assert response.validation is not None and response.validation.attempts == 2


async def test_an_answer_that_arrives_after_the_deadline_is_a_timeout(service: InferenceService) -> None:
    now = [1000.0]
    service.clock = lambda: now[0]
    generator = service.router.model("tiny@1").generator
    assert isinstance(generator, FakeGenerator)
    original = generator.generate_batch

    def slow(prompts: Sequence[str], **kwargs: Any) -> list[Generation]:
        now[0] += 5.0  # generation took 5 s of a 2 s budget
        return original(prompts, **kwargs)

    generator.generate_batch = slow  # type: ignore[method-assign]
    handled = await service.handle(request("hi", deadline_ms=2000), produced_at=1000.0, history=SessionHistory())
    assert handled.response.status == "timeout" and handled.response.reason == "deadline passed during generation"
    assert handled.response.text == "" and handled.history is None


async def test_retrieved_records_are_fitted_to_the_context_budget_and_kept_as_shown(service: InferenceService) -> None:
    long_text = " ".join(f"word{i}" for i in range(200))

    class LongRetriever:
        def retrieve(self, tenant: str, query: str, k: int) -> list[RetrievedRecord]:
            return [RetrievedRecord("rec_a", long_text, 0.9), RetrievedRecord("rec_b", "second record", 0.8)]

    service.retriever = LongRetriever()
    service.context_tokens = 60
    handled = await service.handle(request("what happened?"), produced_at=time.time(), history=SessionHistory())
    generator = service.router.model("tiny@1").generator
    assert isinstance(generator, FakeGenerator)
    shown = generator.prompts[-1]
    assert "word0" in shown and "word199" not in shown and "…" in shown and "rec_b" not in shown
    assert handled.context is not None and [r.record_id for r in handled.context.retrieved] == ["rec_a"]
    assert handled.context.retrieved[0].text.endswith("…") and handled.audit["context_records"] == 1
    assert handled.response.citations == ["rec_a"]  # rec_b was never shown, so it cannot be cited


ALICE = "<PERSON_3c97a1b2c3d4e5f6>"
ALICE_PHONE = "<CN_MOBILE_49e582b863d1a7f0>"


class PseudonymRetriever:
    def retrieve(self, tenant: str, query: str, k: int) -> list[RetrievedRecord]:
        return [RetrievedRecord("rec_a", f"{ALICE} complained, mobile {ALICE_PHONE}", 0.9)]


class AliasAnswering(FakeGenerator):
    """Answers with the aliases it was shown, as a model told about [P1] would."""

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: Sequence[int],
        temperature: Sequence[float],
        on_step: Sequence[StepCallback | None] | None = None,
    ) -> list[Generation]:
        self.prompts.extend(prompts)
        return [Generation("[P1] can be reached on [M1] [rec_a]", 9, 9, "stop") for _ in prompts]


async def test_the_model_reads_short_aliases_and_the_client_gets_the_pseudonyms_back(
    service: InferenceService,
) -> None:
    generator = AliasAnswering("tiny@1")
    service.router.replace({"tiny@1": ServingModel("tiny@1", generator)}, {"tiny@1": 1.0})
    service.retriever = PseudonymRetriever()
    history = (
        SessionHistory().append(Turn("user", f"who is {ALICE}?", "r0")).append(Turn("assistant", "a customer", "r0"))
    )
    handled = await service.handle(request(f"what about {ALICE}?"), produced_at=time.time(), history=history)
    seen = generator.prompts[-1]
    # One alias per pseudonym, the same in the record, the history and the question; no digest reaches the model.
    assert "<PERSON_" not in seen and "<CN_MOBILE_" not in seen
    assert seen.count("[P1]") == 3 and "[M1]" in seen
    response = handled.response
    assert response.status == "ok" and response.text == f"{ALICE} can be reached on {ALICE_PHONE} [rec_a]"
    assert response.citations == ["rec_a"]
    # History keeps pseudonyms (aliases mean nothing in the next prompt); the kept context keeps the model's view.
    assert handled.history is not None and all("[P1]" not in t.content for t in handled.history.turns)
    context = handled.context
    assert context is not None and context.aliases == {"P1": ALICE, "M1": ALICE_PHONE}
    assert "[P1] complained" in context.messages[0].content and context.retrieved[0].text.startswith("[P1]")
    assert context.answer == response.text
    # Switched off, the model reads the pseudonyms themselves.
    service.alias_pseudonyms = False
    await service.handle(request(f"what about {ALICE}?"), produced_at=time.time(), history=SessionHistory())
    assert ALICE in generator.prompts[-1] and "[P1]" not in generator.prompts[-1]


async def test_a_reviewer_reads_the_records_with_pseudonyms_not_aliases(service: InferenceService) -> None:
    service.router.replace({"tiny@1": ServingModel("tiny@1", AliasAnswering("tiny@1"))}, {"tiny@1": 1.0})
    service.retriever = PseudonymRetriever()
    service.policy = lambda: _Always(Decision("review", "test.review", reason="check", risk=0.9))  # type: ignore[assignment,return-value]
    handled = await service.handle(request("anything"), produced_at=time.time(), history=SessionHistory())
    assert handled.review is not None
    assert handled.review.retrieved[0].text == f"{ALICE} complained, mobile {ALICE_PHONE}"
    assert handled.review.draft == f"{ALICE} can be reached on {ALICE_PHONE} [rec_a]"


async def test_a_long_session_sends_only_its_newest_exchanges_within_the_history_budget(
    service: InferenceService,
) -> None:
    generator = FakeGenerator("tiny@1")
    service.router.replace({"tiny@1": ServingModel("tiny@1", generator)}, {"tiny@1": 1.0})
    history = SessionHistory()
    for n in range(6):  # six exchanges; each message is 8 words (FakeGenerator counts words) + 4 for its markers
        history = history.append(Turn("user", f"question {n} " + "q " * 6, f"r{n}"))
        history = history.append(Turn("assistant", f"answer {n} " + "a " * 6, f"r{n}"))
    service.history_tokens = 48  # two exchanges of 24
    await service.handle(request("and now?"), produced_at=time.time(), history=history)
    seen = generator.prompts[-1]
    assert "question 4" in seen and "answer 5" in seen and "answer 3" not in seen
    assert omitted_note(8) in seen
    service.history_tokens = None  # only the model's context (512) limits it
    await service.handle(request("and now?"), produced_at=time.time(), history=history)
    assert "question 0" in generator.prompts[-1] and "omitted" not in generator.prompts[-1]


async def test_a_follow_up_is_searched_with_the_sessions_previous_question(service: InferenceService) -> None:
    retriever = FakeRetriever()
    service.retriever = retriever
    await service.handle(
        request("where is order SO-1? call 13812345678"), produced_at=time.time(), history=SessionHistory()
    )
    history = (
        SessionHistory()
        .append(Turn("user", "where is order SO-1? call <CN_MOBILE>", "r0"))
        .append(Turn("assistant", "It shipped late [rec_acme1].", "r0"))
    )
    await service.handle(request("Why?"), produced_at=time.time(), history=history)
    first, follow_up = (query for _, query in retriever.calls)
    assert first == "where is order SO-1? call <CN_MOBILE>"  # a first turn is searched as it is (de-identified)
    assert follow_up == "where is order SO-1? call <CN_MOBILE>\nWhy?"
