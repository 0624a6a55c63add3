"""The dead-letter envelope: where, why, and the original bytes recoverable only with the key."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.exceptions import InvalidTag

from agents.core.dead_letters import MAX_ORIGINAL_BYTES, DeadLetterBuilder, StageFailure
from agents.core.messages import SourcePosition

KEY = bytes(range(32))
DIGEST_KEY = b"d" * 32


def keyed(data: bytes) -> str:
    return hmac.new(DIGEST_KEY, data, hashlib.sha256).hexdigest()


def failure(value: bytes | None = "客户 13812345678".encode()) -> StageFailure:
    position = SourcePosition("crm.events.v1", 1, 17, b"event-9", value)
    return StageFailure(position, "SchemaViolationError", "payload.notes: Field required", "decode", attempt=2)


def test_envelope_names_topic_partition_offset_error_stage_and_attempt() -> None:
    letter = DeadLetterBuilder(KEY, DIGEST_KEY).build(failure())
    assert (letter.source_topic, letter.partition, letter.offset) == ("crm.events.v1", 1, 17)
    assert (letter.error_type, letter.stage, letter.attempt) == ("SchemaViolationError", "decode", 2)
    assert letter.error_message == "payload.notes: Field required"
    # Keys may be identifiers: kept as a keyed digest, never as a bare SHA-256 anyone could confirm by guessing.
    assert letter.key_sha256 == hmac.new(DIGEST_KEY, b"event-9", hashlib.sha256).hexdigest()
    assert letter.key_sha256 != hashlib.sha256(b"event-9").hexdigest()
    assert letter.failed_at.tzinfo is not None


def test_original_bytes_are_not_in_clear_but_decrypt_with_the_key() -> None:
    original = "客户 13812345678".encode()
    builder = DeadLetterBuilder(KEY, DIGEST_KEY)
    letter = builder.build(failure(original))
    serialised = letter.model_dump_json()
    assert "13812345678" not in serialised
    assert letter.original_bytes == len(original)
    assert letter.original_sha256 == keyed(original)
    assert builder.decrypt(letter) == original


def test_another_key_cannot_decrypt() -> None:
    letter = DeadLetterBuilder(KEY, DIGEST_KEY).build(failure())
    other = DeadLetterBuilder(bytes(32), DIGEST_KEY)
    assert other.key_id != letter.encryption_key_id
    with pytest.raises(InvalidTag):
        other.decrypt(letter)


def test_message_without_value_or_key_still_gets_an_envelope() -> None:
    position = SourcePosition("erp.events.v1", 0, 5, None, None)
    builder = DeadLetterBuilder(KEY, DIGEST_KEY)
    letter = builder.build(StageFailure(position, "SchemaViolationError", "no value", "decode"))
    assert letter.key_sha256 is None and letter.original_bytes == 0
    assert builder.decrypt(letter) == b""


def test_an_original_too_large_for_a_kafka_message_is_described_but_not_carried() -> None:
    original = b"x" * (MAX_ORIGINAL_BYTES + 1)
    builder = DeadLetterBuilder(KEY, DIGEST_KEY)
    letter = builder.build(failure(original))
    assert not letter.original_included and letter.original_encrypted == ""
    assert letter.original_bytes == len(original) and letter.original_sha256 == keyed(original)
    assert len(letter.model_dump_json()) < 2_000  # fits any broker's message limit
    with pytest.raises(ValueError, match=r"crm\.events\.v1 partition 1 offset 17"):
        builder.decrypt(letter)
    assert builder.decrypt(builder.build(failure(original[:MAX_ORIGINAL_BYTES]))) == original[:MAX_ORIGINAL_BYTES]


def test_an_input_that_must_not_be_copied_is_described_but_not_carried() -> None:
    original = "客户 13812345678".encode()
    position = SourcePosition("crm.events.v1", 1, 17, b"event-9", original)
    builder = DeadLetterBuilder(KEY, DIGEST_KEY)
    failure = StageFailure(position, "SubjectForgotten", "subject forgotten", "deidentify", keep_original=False)
    letter = builder.build(failure)
    assert not letter.original_included and letter.original_encrypted == ""
    assert letter.original_bytes == len(original) and letter.original_sha256 == keyed(original)
    with pytest.raises(ValueError, match="SubjectForgotten"):
        builder.decrypt(letter)
