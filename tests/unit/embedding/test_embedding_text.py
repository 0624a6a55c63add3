"""One preparation for what the encoder reads: indexed chunks and search queries are embedded alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.ingest.index import IndexStage
from models.embedding.text import embed_texts, prepare_for_embedding
from schemas.records import DeidentifiedRecord, Lineage
from tests.unit.embedding.fakes import RecordingEmbedder
from tests.unit.ingest.fakes import FakeStore

ALICE = "<PERSON_3c976b0a75e2d418>"
BOB = "<PERSON_0123456789>"  # a pseudonym written before digests grew to 16


def record(text: str) -> DeidentifiedRecord:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    lineage = Lineage(
        source="crm", topic="crm.events.v1", partition=0, offset=1, event_id="e1", tenant="acme", occurred_at=now
    )
    return DeidentifiedRecord(
        record_id="r1",
        tenant="acme",
        kind="crm.note",
        text=text,
        rule_pack_version="base@1",
        deid_version="deid@1",
        lineage=lineage,
        processed_at=now,
    )


def test_pseudonyms_are_read_as_their_type() -> None:
    text = f"{ALICE} paid {BOB}; call <CN_MOBILE_49e582b863>"
    assert prepare_for_embedding(text) == "<PERSON> paid <PERSON>; call <CN_MOBILE>"


def test_text_without_pseudonyms_is_unchanged() -> None:
    text = "Invoice 7 was paid <late>, see <PERSON_xyz> and 客户很不满意。"
    assert prepare_for_embedding(text) == text


def test_embed_texts_gives_the_embedder_prepared_texts_in_order() -> None:
    embedder = RecordingEmbedder()
    vectors = embed_texts(embedder, [f"what did {ALICE} order?", "plain"])
    assert embedder.seen == ["what did <PERSON> order?", "plain"]
    assert vectors.shape == (2, 4)


def test_embed_texts_refuses_a_bare_string() -> None:
    # A str is a Sequence[str] of characters: embedding each letter would be a silent, costly mistake.
    with pytest.raises(TypeError):
        embed_texts(RecordingEmbedder(), "one text")


def test_index_stage_embeds_prepared_chunks_and_stores_them_unchanged() -> None:
    embedder = RecordingEmbedder()
    stage = IndexStage(
        embedder=embedder, store=FakeStore(), chunk_max_chars=200, chunk_overlap_chars=0, max_message_bytes=10_000
    )
    text = f"Order 7 for {ALICE} shipped late."
    (row,) = stage.embed_rows([(record(text), [text])])
    assert embedder.seen == [prepare_for_embedding(text)] == ["Order 7 for <PERSON> shipped late."]
    assert row.text == text
