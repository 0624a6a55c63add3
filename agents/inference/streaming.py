"""Streamed answers: partial responses while a request is generated, exactly once across worker restarts.

A request with `stream: true` gets `partial` responses (seq 0, 1, 2, …, each with the new text only) on its reply
topic while the model generates, then the one final response. Partials cannot ride the input's transaction (under
exactly-once every send made for an input is held until the input's offset commits, agents/core/transactions.py),
so they go through a stream producer of their own: per input partition a transactional producer
(`{group}-stream-{partition}`: a restarted worker fences its predecessor and aborts what it left open), each flush
one small transaction holding the partial and the request's state on inference.streams.v1 (the last seq and the
text sent so far). The final response tombstones that state inside the input's transaction.

A request answered again (the worker died before its input committed) starts generating from the start; its
partials are held back until the text goes beyond what the client already has, and numbering continues from the
stored seq. With greedy decoding the rerun produces the same text, so the client sees every seq once and in order;
with sampling a rerun that diverges sends no more partials, and the final response is what counts.

Privacy: partials are cut from the presented answer (the service's `_present_answer`, the same de-identification
as the final text) of everything generated so far, holding back the trailing word (a number or a name may still be
growing) and for CJK text at least the last `CJK_HOLD_BACK` characters. A presented text that no longer starts with
what was sent (a pseudonym now covers sent text) ends the partials of that request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from agents.inference.tenancy import request_key
from schemas.inference import InferenceRequest, InferenceResponse, StreamState
from topics.specs import INFERENCE_STREAMS

log = structlog.get_logger(__name__)

CJK_HOLD_BACK = 8  # characters: a CJK name or number has no spaces to wait for
FLUSH_INTERVAL_S = 0.1  # at most this long between flushes while text is ready…
FLUSH_CHARS = 8  # …or sooner once this many new characters were generated

# Raw generated text → the text the client may see (InferenceService._present_answer).
Present = Callable[[str], str]


def is_cjk(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def settled(presented: str) -> str:
    """The part of a presented answer that may be sent now: without its trailing run of non-space characters (a
    number, name or pseudonym may still be growing); in CJK text, without at least its last CJK_HOLD_BACK
    characters and any trailing non-CJK run (digits of a phone number)."""
    start = len(presented)
    while start > 0 and not presented[start - 1].isspace():
        start -= 1
    run = presented[start:]
    if not any(is_cjk(c) for c in run):
        return presented[:start]
    end = len(presented)
    while end > start and not is_cjk(presented[end - 1]):
        end -= 1
    return presented[: max(0, min(end, len(presented) - CJK_HOLD_BACK))]


@dataclass
class Cursor:
    """How far a request's partials went: the text sent (concatenated) and the next seq."""

    emitted: str = ""
    next_seq: int = 0
    stopped: bool = False

    @classmethod
    def resumed(cls, state: StreamState | None) -> Cursor:
        return cls() if state is None else cls(emitted=state.emitted, next_seq=state.seq + 1)

    def ready(self, presented: str) -> str:
        """The new text to send for this presented answer ("" when nothing new); stops the cursor when the text
        no longer continues what was sent (a pseudonym covers sent text, or a sampled rerun diverged)."""
        if self.stopped:
            return ""
        text = settled(presented)
        if self.emitted.startswith(text):  # nothing beyond what the client has (a rerun catching up)
            return ""
        if not text.startswith(self.emitted):
            self.stopped = True
            return ""
        return text[len(self.emitted) :]

    def advance(self, chunk: str) -> int:
        seq = self.next_seq
        self.emitted += chunk
        self.next_seq += 1
        return seq


class PartialSink(Protocol):
    """Where partials go: the reply topic and the state topic together (one transaction under exactly-once)."""

    async def state(self, partition: int, key: bytes) -> StreamState | None: ...

    async def publish(
        self, partition: int, reply_topic: str, partial: InferenceResponse, key: bytes, state: StreamState
    ) -> None: ...

    def forget(self, partition: int, key: bytes) -> None: ...

    def reset(self) -> None: ...


@dataclass
class RequestStream:
    """One streamed request: text arrives from the generator (on the event loop), partials leave in flushes."""

    request: InferenceRequest
    partition: int
    reply_topic: str
    sink: PartialSink
    cursor: Cursor
    clock: Callable[[], float] = time.monotonic
    _present: Present | None = None
    _raw: str = ""
    _flushed_raw_len: int = 0
    _flushed_at: float = field(default=float("-inf"))
    _flushing: asyncio.Task[None] | None = None

    @property
    def key(self) -> bytes:
        return request_key(self.request.tenant, self.request.request_id)

    def start(self, present: Present) -> None:
        """Stream from here on, presenting answers with `present` (the service's one presentation path)."""
        self._present = present

    def feed(self, raw: str) -> None:
        """The raw text generated so far (on the event loop); flushes at most every FLUSH_INTERVAL_S."""
        if self._present is None or self.cursor.stopped:
            return
        self._raw = raw
        if self._flushing is not None and not self._flushing.done():
            return
        if self.clock() - self._flushed_at >= FLUSH_INTERVAL_S or len(raw) - self._flushed_raw_len >= FLUSH_CHARS:
            self._flushed_at = self.clock()
            self._flushed_raw_len = len(raw)
            self._flushing = asyncio.get_running_loop().create_task(self._flush(raw))

    async def close(self) -> None:
        """Generation ended: wait for the flush under way (its partial precedes the final response). What was not
        flushed yet is not sent: the final response carries the whole text."""
        self._present = None
        if self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def _flush(self, raw: str) -> None:
        present = self._present
        if present is None:
            return
        try:
            presented = await asyncio.to_thread(present, raw)
            chunk = self.cursor.ready(presented)
            if not chunk:
                return
            seq = self.cursor.next_seq
            partial = InferenceResponse(
                request_id=self.request.request_id,
                tenant=self.request.tenant,
                session_id=self.request.session_id,
                status="partial",
                seq=seq,
                text=chunk,
                responded_at=datetime.now(UTC),
            )
            state = StreamState(
                request_id=self.request.request_id,
                tenant=self.request.tenant,
                seq=seq,
                emitted=self.cursor.emitted + chunk,
            )
            await self.sink.publish(self.partition, self.reply_topic, partial, self.key, state)
            self.cursor.advance(chunk)
        except Exception as exc:  # the final response still comes; only the partials stop
            self.cursor.stopped = True
            log.warning(
                "partials_stopped",
                request_id=self.request.request_id,
                partition=self.partition,
                error_type=type(exc).__name__,
                error=str(exc),
            )


# send(topic, key, value, partition): a send of the current input (held in its transaction under exactly-once).
PartitionSend = Callable[[str, bytes, bytes | None, int], Awaitable[None]]


@dataclass
class Streams:
    """What the inference flow uses: open a stream for a request, end it with the final response."""

    sink: PartialSink
    send: PartitionSend

    async def open(self, request: InferenceRequest, partition: int, reply_topic: str) -> RequestStream:
        key = request_key(request.tenant, request.request_id)
        state = await self.sink.state(partition, key)
        if state is not None:
            log.info("stream_resumed", request_id=request.request_id, partition=partition, last_seq=state.seq)
        return RequestStream(request, partition, reply_topic, self.sink, Cursor.resumed(state))

    async def finished(self, request: InferenceRequest, partition: int) -> None:
        """The final response is being published: tombstone the request's state in the same transaction."""
        key = request_key(request.tenant, request.request_id)
        await self.send(INFERENCE_STREAMS.name, key, None, partition)
        self.sink.forget(partition, key)

    def rebalanced(self) -> None:
        self.sink.reset()


def partition_sender(app: Any) -> PartitionSend:
    """send(topic, key, value, partition) over a Faust app's producer (the outbox of the current input)."""
    topics: dict[str, Any] = {}

    async def send(name: str, key: bytes, value: bytes | None, partition: int) -> None:
        topic = topics.get(name)
        if topic is None:
            topic = topics[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        await topic.send(key=key, value=value, partition=partition)

    return send


def kafka_streams(app: Any, bootstrap: str, options: dict[str, str], *, exactly_once: bool) -> Streams:
    """The inference worker's streams: transactional stream producers named after the app's group under
    exactly-once (`{group}-stream-{partition}`, inside the group's transactional-id ACL prefix)."""
    prefix = str(app.conf.id) if exactly_once else None
    return Streams(KafkaPartialSink(bootstrap, options, transactional_prefix=prefix), partition_sender(app))


class FirstToken:
    """When the first token of a request was generated (set from the batcher's thread)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def ms_since(self, started: float) -> float | None:
        return None if self.at is None else round(max(0.0, self.at - started) * 1000, 2)


def step_callback(
    *,
    clock: Callable[[], float],
    deadline: float | None,
    first_token: FirstToken,
    loop: asyncio.AbstractEventLoop,
    stream: RequestStream | None,
) -> Callable[[str], bool]:
    """The generator's per-token callback for one request (runs in the batcher's thread): notes the first token,
    hands the text to the stream on the event loop, and stops generating once the request's deadline passed."""

    def on_step(text: str) -> bool:
        now = clock()
        if first_token.at is None:
            first_token.at = now
        if stream is not None:
            loop.call_soon_threadsafe(stream.feed, text)
        return deadline is not None and now >= deadline

    return on_step


class KafkaPartialSink:
    """Partials and stream state through confluent-kafka: under exactly-once one transactional producer per input
    partition, each flush one transaction; under at-least-once the idempotent producer, flushed per partial."""

    def __init__(
        self, bootstrap: str, options: dict[str, str], *, transactional_prefix: str | None, timeout_s: float = 30.0
    ) -> None:
        self.bootstrap = bootstrap
        self.options = options
        self.transactional_prefix = transactional_prefix
        self.timeout_s = timeout_s
        self._producers: dict[int, Any] = {}
        self._states: dict[int, dict[bytes, StreamState]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def transactional_id(self, partition: int) -> str | None:
        return None if self.transactional_prefix is None else f"{self.transactional_prefix}-stream-{partition}"

    async def state(self, partition: int, key: bytes) -> StreamState | None:
        async with self._lock(partition):
            states = self._states.get(partition)
            if states is None:
                states = self._states[partition] = await asyncio.to_thread(self._load, partition)
            return states.get(key)

    async def publish(
        self, partition: int, reply_topic: str, partial: InferenceResponse, key: bytes, state: StreamState
    ) -> None:
        async with self._lock(partition):
            try:
                await asyncio.to_thread(self._publish, partition, reply_topic, partial, key, state)
            except Exception:
                # The producer may be fenced (another worker owns the partition now): start over on next use.
                self._producers.pop(partition, None)
                self._states.pop(partition, None)
                raise
            self._states.setdefault(partition, {})[key] = state

    def forget(self, partition: int, key: bytes) -> None:
        self._states.get(partition, {}).pop(key, None)

    def reset(self) -> None:
        """After a rebalance: partitions may have been owned elsewhere meanwhile; read their state again."""
        self._states.clear()
        self._producers.clear()

    def _lock(self, partition: int) -> asyncio.Lock:
        return self._locks.setdefault(partition, asyncio.Lock())

    def _producer(self, partition: int) -> Any:
        from confluent_kafka import Producer

        producer = self._producers.get(partition)
        if producer is None:
            config: dict[str, Any] = {
                **self.options,
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                # Java's (and aiokafka's) partitioner: a partial lands in the partition of its final response.
                "partitioner": "murmur2_random",
            }
            transactional_id = self.transactional_id(partition)
            if transactional_id is not None:
                config["transactional.id"] = transactional_id
            producer = Producer(config)
            if transactional_id is not None:
                # Fences a predecessor with this id and aborts the transaction it left open.
                producer.init_transactions(self.timeout_s)
            self._producers[partition] = producer
        return producer

    def _load(self, partition: int) -> dict[bytes, StreamState]:
        from confluent_kafka import OFFSET_BEGINNING

        from agents.core.kafka_io import read_partition

        self._producer(partition)  # first: what a dead predecessor left open is aborted, not waited for
        states: dict[bytes, StreamState] = {}
        records = read_partition(
            self.bootstrap, INFERENCE_STREAMS.name, partition, OFFSET_BEGINNING, options=self.options, timeout_s=60
        )
        for record in records:
            if record.key is None:
                continue
            if record.value is None:
                states.pop(record.key, None)
            else:
                states[record.key] = StreamState.model_validate_json(record.value)
        return states

    def _publish(
        self, partition: int, reply_topic: str, partial: InferenceResponse, key: bytes, state: StreamState
    ) -> None:
        producer = self._producer(partition)
        errors: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        transactional = self.transactional_id(partition) is not None
        if transactional:
            producer.begin_transaction()
        try:
            value = partial.model_dump_json().encode()
            producer.produce(reply_topic, key=partial.request_id.encode(), value=value, on_delivery=delivered)
            producer.produce(
                INFERENCE_STREAMS.name,
                key=key,
                value=state.model_dump_json().encode(),
                partition=partition,
                on_delivery=delivered,
            )
            if transactional:
                producer.commit_transaction(self.timeout_s)
            elif producer.flush(self.timeout_s) != 0:
                raise TimeoutError(f"partial not delivered within {self.timeout_s:.0f} s")
        except Exception:
            if transactional:
                with contextlib.suppress(Exception):  # fenced or fatal: the caller drops the producer
                    producer.abort_transaction(self.timeout_s)
            raise
        if errors:
            raise RuntimeError(f"partial not delivered: {errors[0]}")
