"""The one dead-letter mechanism: build an envelope that says what failed, where and why, and send it."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Producer
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agents.core.app import SendFn
from agents.core.digests import keyed_digest
from agents.core.messages import SourcePosition
from agents.core.settings import Settings
from schemas.records import DeadLetter

# A dead letter must fit Kafka's default 1 MB message limit, and base64 makes the sealed original a third larger.
# A larger original is described (size, keyed digest, where it is) but not carried: a letter the broker refuses would
# stop the worker on every redelivery of the same input.
MAX_ORIGINAL_BYTES = 700_000


@dataclass(frozen=True)
class StageFailure:
    """A failure as data: the stage returns it beside its results instead of raising (bytewax style)."""

    position: SourcePosition
    error_type: str
    error_message: str
    stage: str
    attempt: int = 1
    # False when the input must not be copied anywhere (it names a forgotten subject): the letter then describes
    # the original (size, SHA-256, where it is) without carrying it.
    keep_original: bool = True


class DeadLetterBuilder:
    """Turns a StageFailure into a DeadLetter; original bytes are encrypted, never written in clear.

    `key` (AES-256) seals the original; `digest_key` keys the digests of the message key and the original
    (agents.core.digests), which would otherwise let anyone confirm a guessed short original or key.
    """

    def __init__(self, key: bytes, digest_key: bytes) -> None:
        self._aead = AESGCM(key)
        self._digest_key = digest_key
        self.key_id = hashlib.sha256(b"sluice-dlq-key-id" + key).hexdigest()[:12]

    def build(self, failure: StageFailure) -> DeadLetter:
        original = failure.position.value or b""
        included = failure.keep_original and len(original) <= MAX_ORIGINAL_BYTES
        sealed = b""
        if included:
            nonce = os.urandom(12)
            sealed = nonce + self._aead.encrypt(nonce, original, failure.position.topic.encode())
        key = failure.position.key
        return DeadLetter(
            source_topic=failure.position.topic,
            partition=failure.position.partition,
            offset=failure.position.offset,
            key_sha256=keyed_digest(self._digest_key, key) if key is not None else None,
            original_encrypted=base64.b64encode(sealed).decode("ascii"),
            original_included=included,
            original_bytes=len(original),
            original_sha256=keyed_digest(self._digest_key, original),
            encryption_key_id=self.key_id,
            error_type=failure.error_type,
            error_message=failure.error_message,
            stage=failure.stage,
            attempt=failure.attempt,
            failed_at=datetime.now(UTC),
        )

    def decrypt(self, letter: DeadLetter) -> bytes:
        """The original bytes, for an operator holding the key (e.g. to repair and replay)."""
        if not letter.original_included:
            raise ValueError(
                f"the original ({letter.original_bytes} bytes) is not carried ({letter.error_type}): read it from "
                f"{letter.source_topic} partition {letter.partition} offset {letter.offset}"
            )
        blob = base64.b64decode(letter.original_encrypted)
        return self._aead.decrypt(blob[:12], blob[12:], letter.source_topic.encode())


FailureHandler = Callable[[StageFailure], None]


def dead_letter_builder(settings: Settings) -> DeadLetterBuilder:
    """The builder every worker and tool uses: the dead-letter key seals, the digest key hashes."""
    return DeadLetterBuilder(settings.dead_letter_secret(), settings.digest_secret())


def letter_message(letter: DeadLetter) -> tuple[bytes | None, bytes]:
    """The Kafka key and value of a dead letter: keyed by the keyed digest of the source key, so a source key's
    letters share a partition without the key itself (which may be PII) appearing anywhere."""
    return (letter.key_sha256.encode() if letter.key_sha256 else None), letter.model_dump_json().encode()


class DeadLetterWriter:
    """Builds and sends dead letters to one DLQ topic through whatever transport the caller has."""

    def __init__(self, builder: DeadLetterBuilder, topic: str, send: SendFn) -> None:
        self.builder = builder
        self.topic = topic
        self._send = send

    async def write(self, failure: StageFailure) -> DeadLetter:
        letter = self.builder.build(failure)
        await self._send(self.topic, *letter_message(letter))
        return letter


def dead_letter_sink(
    bootstrap_servers: str, topic: str, builder: DeadLetterBuilder, options: dict[str, str] | None = None
) -> FailureHandler:
    """Dead letters for code that runs on a thread of its own, outside Faust (the control-topic watchers): a plain
    producer writes them, flushed before the caller moves on."""
    producer = Producer({**(options or {}), "bootstrap.servers": bootstrap_servers})

    def write(failure: StageFailure) -> None:
        key, value = letter_message(builder.build(failure))
        producer.produce(topic, key=key, value=value)
        if producer.flush(10):
            raise TimeoutError(f"dead letter for {failure.position.topic} not acknowledged by Kafka within 10 s")

    return write
