"""Streamed answers without Kafka: incremental decoding, hold-back, numbering across reruns, deadlines, privacy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from agents.inference.service import InferenceService
from agents.inference.streaming import (
    CJK_HOLD_BACK,
    Cursor,
    FirstToken,
    Streams,
    settled,
    step_callback,
)
from agents.inference.tenancy import request_key
from models.dialog import SessionHistory
from models.generation.generator import Generation, StepCallback
from models.generation.incremental import IncrementalDecoder
from schemas.inference import InferenceRequest, InferenceResponse, StreamState
from tests.unit.inference.test_service import FakeGenerator, request, service, steps

__all__ = ["service"]  # the fixture, shared with test_service.py

PHONE = "13812345678"


def byte_decode(ids: Sequence[int]) -> str:
    """What a byte-level BPE tokenizer does with one byte per token: an incomplete sequence decodes to U+FFFD."""
    return bytes(ids).decode("utf-8", errors="replace")


def pushed(text: str) -> list[str]:
    decoder = IncrementalDecoder(byte_decode)
    return [decoder.push(b) for b in text.encode()]


# --- incremental decoding -------------------------------------------------------------------------------------------


def test_incremental_decoding_of_ascii_grows_a_character_at_a_time() -> None:
    assert pushed("hi you") == ["h", "hi", "hi ", "hi y", "hi yo", "hi you"]


def test_a_cjk_character_split_across_tokens_appears_only_once_complete() -> None:
    # 你 is three UTF-8 bytes, 好 three more: nothing half-decoded (no U+FFFD) is ever returned.
    assert pushed("你好") == ["", "", "你", "你", "你", "你好"]
    assert all("\ufffd" not in text for text in pushed("客服：电话 138"))


def test_incremental_text_never_rewrites_what_it_returned() -> None:
    decoded = ["Hello", " Hello world"]  # a tokenizer that changes earlier text once more ids arrive
    decoder = IncrementalDecoder(lambda ids: decoded[len(ids) - 1])
    assert decoder.push(1) == "Hello" and decoder.push(2) == "Hello"


# --- hold-back and the prefix invariant -----------------------------------------------------------------------------


def test_the_trailing_word_is_held_back() -> None:
    assert settled("please call 1381234") == "please call "
    assert settled("hello world ") == "hello world "
    assert settled("word") == ""


def test_cjk_text_holds_back_its_last_characters_and_a_trailing_number() -> None:
    text = "您好，我是客服小王，请问有什么可以帮您"
    assert settled(text) == text[:-CJK_HOLD_BACK]
    number = "您好，我是客服小王，请问您的电话是138123"
    assert settled(number) == number[:-CJK_HOLD_BACK]
    long_number = "您好，请拨打13812345"  # a trailing number longer than the hold-back is held back whole
    assert settled(long_number) == "您好，请拨打"


def test_cursor_sends_only_new_text_and_stops_when_a_pseudonym_covers_sent_text() -> None:
    cursor = Cursor()
    sent = []
    for presented in ["call John", "call John at", "call John at home now", "call <PERSON> at home now today"]:
        if chunk := cursor.ready(presented):
            cursor.advance(chunk)
            sent.append(chunk)
    assert sent == ["call ", "John ", "at home "] and cursor.stopped
    assert cursor.ready("call John at home now and then ") == ""  # stopped for good


def test_a_rerun_sends_nothing_until_it_goes_beyond_what_was_sent_and_continues_the_numbering() -> None:
    cursor = Cursor.resumed(StreamState(request_id="r1", tenant="acme", seq=2, emitted="one two "))
    assert cursor.ready("one") == "" and cursor.ready("one two thr") == "" and not cursor.stopped
    chunk = cursor.ready("one two three four")
    assert chunk == "three " and cursor.advance(chunk) == 3 and cursor.emitted == "one two three "


def test_a_diverging_rerun_sends_no_more_partials() -> None:
    cursor = Cursor.resumed(StreamState(request_id="r1", tenant="acme", seq=0, emitted="one two "))
    assert cursor.ready("one three four ") == "" and cursor.stopped


# --- deadline and first token ---------------------------------------------------------------------------------------


async def test_the_step_callback_stops_generation_once_the_deadline_passed() -> None:
    now = [10.0]
    first = FirstToken()
    on_step = step_callback(
        clock=lambda: now[0], deadline=12.0, first_token=first, loop=asyncio.get_running_loop(), stream=None
    )
    assert on_step("a") is False and first.at == 10.0
    now[0] = 12.0
    assert on_step("a b") is True and first.at == 10.0 and first.ms_since(9.5) == 500.0


async def test_generation_stops_at_the_deadline_and_the_answer_is_a_timeout(service: InferenceService) -> None:
    now = [1000.0]
    service.clock = lambda: now[0]
    generator = service.router.model("tiny@1").generator
    assert isinstance(generator, FakeGenerator)
    generated: list[Generation] = []
    original = generator.generate_batch

    def ticking(prompts: Sequence[str], **kwargs: object) -> list[Generation]:
        callbacks = kwargs.get("on_step")
        assert isinstance(callbacks, list) and all(callbacks), "every generated item gets a step callback"

        def tick(text: str, callback: StepCallback = callbacks[0]) -> bool:
            now[0] += 1.0  # every word takes a second of a 3 s budget
            return callback(text)

        result = original(prompts, **{**kwargs, "on_step": [tick]})
        generated.extend(result)
        return result

    generator.generate_batch = ticking  # type: ignore[method-assign]
    prompt = "one two three four five six seven eight nine ten"
    handled = await service.handle(request(prompt, deadline_ms=3000), produced_at=1000.0, history=SessionHistory())
    assert handled.response.status == "timeout" and handled.response.reason == "deadline passed during generation"
    assert len(generated[0].text.split()) < len(prompt.split()), "generation ran on past the deadline"


async def test_every_final_answer_that_generated_reports_time_to_first_token(service: InferenceService) -> None:
    handled = await service.handle(request("hello there"), produced_at=time.time(), history=SessionHistory())
    assert handled.response.status == "ok" and handled.response.time_to_first_token_ms is not None


# --- partials through the service -----------------------------------------------------------------------------------


class FakeSink:
    def __init__(self, states: dict[bytes, StreamState] | None = None) -> None:
        self.states = dict(states or {})
        self.published: list[tuple[int, str, InferenceResponse, StreamState]] = []

    async def state(self, partition: int, key: bytes) -> StreamState | None:
        return self.states.get(key)

    async def publish(
        self, partition: int, reply_topic: str, partial: InferenceResponse, key: bytes, state: StreamState
    ) -> None:
        self.published.append((partition, reply_topic, partial, state))
        self.states[key] = state

    def forget(self, partition: int, key: bytes) -> None:
        self.states.pop(key, None)

    def reset(self) -> None:
        self.states.clear()


class LeakyGenerator(FakeGenerator):
    """Answers with a phone number the model 'remembered', a word at a time."""

    ANSWER = f"Sure, our agent will call you on {PHONE} later today, and again tomorrow morning if needed. "

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: Sequence[int],
        temperature: Sequence[float],
        on_step: Sequence[StepCallback | None] | None = None,
    ) -> list[Generation]:
        callbacks = on_step or [None] * len(prompts)

        def slowly(callback: StepCallback | None) -> StepCallback | None:
            if callback is None:
                return None

            def step(text: str) -> bool:
                time.sleep(0.02)  # a token's worth of work: lets each flush finish before the next word
                return callback(text)

            return step

        return [Generation(steps(self.ANSWER, slowly(callbacks[i])), 10, 20, "stop") for i in range(len(prompts))]


async def streamed(service: InferenceService, sink: FakeSink, req: InferenceRequest) -> InferenceResponse:
    service.router.model("tiny@1").generator.generate_batch = LeakyGenerator("tiny@1").generate_batch  # type: ignore[method-assign]
    stream = await Streams(sink, send=no_send).open(req, 2, "inference.responses.v1")
    stream.clock = iter(range(0, 10_000)).__next__  # every word is a flush's worth of time apart
    handled = await service.handle(req, produced_at=time.time(), history=SessionHistory(), stream=stream)
    return handled.response


async def no_send(topic: str, key: bytes, value: bytes | None, partition: int) -> None:
    raise AssertionError("not called here")


async def test_partials_are_numbered_in_order_and_begin_the_final_text(service: InferenceService) -> None:
    sink = FakeSink()
    final = await streamed(service, sink, request("call me", stream=True))
    partials = [p for _, _, p, _ in sink.published]
    assert len(partials) >= 3 and [p.seq for p in partials] == list(range(len(partials)))
    assert all(p.status == "partial" and p.request_id == "r1" and p.tenant == "acme" for p in partials)
    assert final.status == "ok" and final.text.startswith("".join(p.text for p in partials))
    assert final.time_to_first_token_ms is not None
    assert {(partition, topic) for partition, topic, _, _ in sink.published} == {(2, "inference.responses.v1")}


async def test_partials_never_carry_a_raw_phone_number_the_scrubber_replaces(service: InferenceService) -> None:
    sink = FakeSink()
    final = await streamed(service, sink, request("call me", stream=True))
    sent = [p.text for _, _, p, _ in sink.published]
    assert "<CN_MOBILE>" in final.text and PHONE not in final.text
    assert not any(ch.isdigit() for text in sent for ch in text), sent
    assert not any(PHONE in state.emitted for *_, state in sink.published)


async def test_a_request_answered_again_continues_numbering_without_repeating_text(service: InferenceService) -> None:
    first_run = FakeSink()
    await streamed(service, first_run, request("call me", stream=True))
    # The worker died after two partials were committed: their state is what the next worker finds.
    (_, _, second, state) = first_run.published[1]
    key = request_key("acme", "r1")
    rerun = FakeSink({key: state})
    final = await streamed(service, rerun, request("call me", stream=True))
    resumed = [p for _, _, p, _ in rerun.published]
    assert resumed and [p.seq for p in resumed] == list(range(2, 2 + len(resumed)))
    earlier = "".join(p.text for _, _, p, _ in first_run.published[:2])
    assert final.text.startswith(earlier + "".join(p.text for p in resumed))
    assert second.seq == 1 and not resumed[0].text.startswith(earlier)


async def test_a_reviewed_request_streams_nothing_its_draft_is_for_the_reviewer(service: InferenceService) -> None:
    sink = FakeSink()
    reviewed = await streamed(service, sink, request("我们要起诉你们", stream=True, request_id="r2"))
    assert reviewed.status == "pending_review" and sink.published == []
