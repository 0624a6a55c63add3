"""Long inputs: a document beyond the model's context is answered map-reduce over windows through the one batcher."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence

import pytest

from agents.inference.long_input import LongInputLimits
from agents.inference.service import InferenceService, ModelRouter, ServingModel
from models.batching import BatchLimits, DynamicBatcher
from models.dialog import PolicyEngine, SessionHistory, load_default_policy, load_templates
from models.generation.generator import Generation, StepCallback
from schemas.inference import InferenceRequest

DIGEST_KEY = b"digest-key-for-tests-0123456789ab"
PHONE = re.compile(r"1[3-9]\d{9}")
CONTEXT = 512
NEEDLE = "The parcel SO-77 left the Wuhan depot on Tuesday."


class NotingGenerator:
    """A word is a token. Map prompts: notes when the part holds the needle, else NONE; reduce: the notes back."""

    max_context_tokens = CONTEXT
    version = "tiny@1"

    def __init__(self, *, delay_s: float = 0.0, notes_words: int = 3, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.notes_words = notes_words
        self.prompts: list[str] = []
        self.step_callbacks: list[StepCallback | None] = []
        self.batch_sizes: list[int] = []

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
        time.sleep(self.delay_s)
        self.prompts.extend(prompts)
        self.step_callbacks.extend(on_step or [None] * len(prompts))
        self.batch_sizes.append(len(prompts))
        if self.fail:
            raise RuntimeError("model crashed")
        out = []
        for prompt, budget in zip(prompts, max_tokens, strict=True):
            if "or NONE." in prompt:
                part = re.search(r"part (\d+) of", prompt)
                assert part is not None
                window = prompt.split("<document>", 1)[1].split("</document>", 1)[0]
                text = (
                    " ".join(["SO-77", f"seen-in-{part.group(1)}"] * self.notes_words) if "SO-77" in window else "NONE"
                )
            elif "Rewrite them" in prompt:
                text = "combined SO-77"
            else:
                text = "answer: " + " ".join(re.findall(r"seen-in-\d+|combined", prompt)[:5])
            words = text.split()[:budget]
            out.append(Generation(" ".join(words), self.count_tokens(prompt), len(words), "stop"))
        return out


class FakeScrubber:
    def scrub(self, text: str) -> tuple[str, list[str]]:
        return PHONE.sub("<CN_MOBILE>", text), ["CN_MOBILE"] * len(PHONE.findall(text))


def filler(sentences: int) -> str:
    return " ".join(f"Line {i} of the shipping log holds nothing of note." for i in range(sentences))


async def make_service(generator: NotingGenerator, **limits: int) -> InferenceService:
    router = ModelRouter({"tiny@1": ServingModel("tiny@1", generator)}, {"tiny@1": 1.0})
    batcher = DynamicBatcher(router.run_batch, BatchLimits(max_batch_size=8, max_wait_ms=5))
    await batcher.start()
    return InferenceService(
        policy=lambda: PolicyEngine([load_default_policy()]),
        templates=load_templates(),
        router=router,
        batcher=batcher,
        scrubber=FakeScrubber(),
        digest_key=DIGEST_KEY,
        long_inputs=LongInputLimits(**limits),
    )


@pytest.fixture()
async def generator() -> NotingGenerator:
    return NotingGenerator()


@pytest.fixture()
async def service(generator: NotingGenerator) -> AsyncIterator[InferenceService]:
    svc = await make_service(generator, window_tokens=200, overlap_tokens=20)
    yield svc
    await svc.batcher.drain()


def request(**fields: object) -> InferenceRequest:
    return InferenceRequest.model_validate({"request_id": "r1", "tenant": "acme", "max_tokens": 32, **fields})


async def ask(service: InferenceService, req: InferenceRequest) -> object:
    return await service.handle(req, produced_at=time.time(), history=SessionHistory())


async def test_every_window_is_read_in_batches_and_only_windows_with_notes_are_used(
    service: InferenceService, generator: NotingGenerator
) -> None:
    document = f"{filler(150)} {NEEDLE} Call 13812345678 about it. {filler(150)}"
    handled = await service.handle(
        request(prompt="Where did SO-77 leave from?", document=document),
        produced_at=time.time(),
        history=SessionHistory(),
    )
    response = handled.response
    assert response.status == "ok", response.reason
    windows = response.windows
    assert len(windows) > 10
    assert windows[0].start_char == 0 and windows[-1].end_char > len(document) - 20  # the scrubbed text is shorter
    assert all(a.start_char < b.start_char <= a.end_char for a, b in itertools.pairwise(windows))
    map_prompts = [p for p in generator.prompts if "or NONE." in p]
    assert len(map_prompts) == len(windows), "one map job per window"
    assert max(generator.batch_sizes) > 1, "windows share generate_batch calls like any requests"
    used = [w.index for w in windows if w.used]
    assert 1 <= len(used) <= 2, "only the windows holding the needle found something"
    assert response.text.startswith("answer:") and f"seen-in-{used[0] + 1}" in response.text
    # The reduce step saw only the used windows' notes, and its prompt fitted the context with the reply reserved.
    (final,) = [p for p in generator.prompts if "Answer the request from these notes" in p]
    assert "NONE" not in final and len(final.split()) + 32 <= CONTEXT
    # Every job counts: len(windows) map jobs plus the reduce.
    assert response.tokens.prompt == sum(len(p.split()) for p in generator.prompts)
    # The model and everything kept saw the pseudonymised document; the audit holds counts, not texts.
    assert all("13812345678" not in p for p in generator.prompts)
    assert handled.context is not None and "13812345678" not in handled.context.model_dump_json()
    assert "<CN_MOBILE>" in handled.context.messages[-1].content
    facts = handled.audit["long_input"]
    assert facts["windows"] == len(windows) and facts["windows_used"] == len(used) and facts["jobs"] == len(windows) + 1
    assert "CN_MOBILE" in handled.audit["prompt_entity_types"] and len(str(handled.audit)) < 2000


async def test_a_prompt_too_long_for_the_context_is_read_as_a_document_not_rejected(
    service: InferenceService, generator: NotingGenerator
) -> None:
    handled = await ask(service, request(prompt=f"{filler(60)} {NEEDLE} {filler(60)}", task="complete"))
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "ok" and len(response.windows) > 3
    assert any(w.used for w in response.windows)
    assert all("Request: Summarise the document." in p for p in generator.prompts if "or NONE." in p)


async def test_a_document_above_the_input_limit_is_rejected_naming_the_setting(generator: NotingGenerator) -> None:
    service = await make_service(generator, max_input_tokens=1000)
    try:
        handled = await ask(service, request(prompt="summarise", document=filler(200)))
    finally:
        await service.batcher.drain()
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "rejected"
    assert "1000" in (response.reason or "") and "SLUICE_MAX_INPUT_TOKENS" in (response.reason or "")
    assert generator.prompts == [], "nothing reached the model"


async def test_a_map_job_whose_deadline_passes_in_the_queue_makes_the_request_a_timeout() -> None:
    slow = NotingGenerator(delay_s=0.2)
    service = await make_service(slow, window_tokens=100, overlap_tokens=0)
    try:
        handled = await ask(service, request(prompt="summarise", document=filler(400), deadline_ms=600))
    finally:
        await service.batcher.drain()
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "timeout" and "deadline" in (response.reason or "")


async def test_a_failed_window_makes_the_request_an_error_and_withdraws_the_windows_still_queued() -> None:
    failing = NotingGenerator(delay_s=0.05, fail=True)
    service = await make_service(failing, window_tokens=100, overlap_tokens=0)
    try:
        handled = await ask(service, request(prompt="summarise", document=filler(400)))  # 40+ windows, 8 a batch
        await asyncio.sleep(0.3)
    finally:
        await service.batcher.drain()
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "error" and "RuntimeError" in (response.reason or "")
    assert len(failing.batch_sizes) < 4, "windows still queued after the failure were not run"


async def test_notes_too_long_for_one_prompt_are_reduced_in_rounds_and_the_final_prompt_fits() -> None:
    wordy = NotingGenerator(notes_words=15)  # 30 words of notes per used window
    service = await make_service(wordy, window_tokens=60, overlap_tokens=0)
    try:
        document = " ".join(f"{NEEDLE} {filler(2)}" for _ in range(40))  # the needle in every window
        handled = await ask(service, request(prompt="Where did SO-77 leave from?", document=document))
    finally:
        await service.batcher.drain()
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "ok" and all(w.used for w in response.windows)
    assert handled.audit["long_input"]["reduce_rounds"] >= 2  # type: ignore[attr-defined]
    assert any("Rewrite them" in p for p in wordy.prompts)
    assert all(len(p.split()) + 32 <= CONTEXT for p in wordy.prompts), "every prompt fits with the reply reserve"


async def test_when_no_window_holds_anything_the_answer_says_so_without_a_reduce(
    service: InferenceService, generator: NotingGenerator
) -> None:
    handled = await ask(service, request(prompt="Where did SO-77 leave from?", document=filler(300).replace("SO", "")))
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "ok" and not any(w.used for w in response.windows)
    assert "Nothing in the document" in response.text
    assert all("or NONE." in p for p in generator.prompts)


async def test_a_short_prompt_without_a_document_takes_the_ordinary_path(
    service: InferenceService, generator: NotingGenerator
) -> None:
    handled = await ask(service, request(prompt="where is my order?", task="complete"))
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "ok" and response.windows == []
    assert len(generator.prompts) == 1 and "or NONE." not in generator.prompts[0]


async def test_notes_each_too_long_to_combine_in_pairs_are_cut_evenly_so_every_window_reaches_the_answer() -> None:
    wordy = NotingGenerator(notes_words=75)  # 150 words of notes a window; two never fit one 312-token prompt
    service = await make_service(wordy, window_tokens=60, overlap_tokens=0)
    try:
        document = " ".join(f"{NEEDLE} {filler(2)}" for _ in range(6))
        handled = await ask(service, request(prompt="Where?", document=document, max_tokens=200))
    finally:
        await service.batcher.drain()
    response = handled.response  # type: ignore[attr-defined]
    assert response.status == "ok" and len(response.windows) > 2 and all(w.used for w in response.windows)
    assert not any("Rewrite them" in p for p in wordy.prompts), "combining one note at a time would not shrink them"
    (final,) = [p for p in wordy.prompts if "Answer the request from these notes" in p]
    assert len(final.split()) + 200 <= CONTEXT
    assert all(f"seen-in-{w.index + 1}" in final for w in response.windows), "every used window is in the answer"


async def test_every_window_stops_generating_once_the_request_deadline_has_passed(
    service: InferenceService, generator: NotingGenerator
) -> None:
    now = [time.time()]
    service.clock = lambda: now[0]
    document = filler(30) + " Order SO-77 left late. " + filler(30)
    response = (await ask(service, request(prompt="Which order left late?", document=document))).response  # type: ignore[attr-defined]
    assert response.status == "ok" and len(generator.step_callbacks) >= 3
    callbacks = [c for c in generator.step_callbacks if c is not None]
    assert len(callbacks) == len(generator.step_callbacks), "a window ran without the deadline stop"
    assert callbacks[0]("text so far") is False  # within the deadline: go on
    now[0] += 3600
    assert callbacks[0]("text so far") is True  # past it: CTranslate2 stops this item
