"""Search by text on real Milvus Lite with the tiny CTranslate2 encoder: a named pseudonym finds its chunk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.ingest.index import IndexStage
from models.embedding.encoder import CT2Encoder
from models.store import InvalidStoreValueError, MilvusStore, search_text
from schemas.records import DeidentifiedRecord, Lineage
from tests.integration.store.store_rows import row, unit

pytestmark = pytest.mark.integration

TARGET = "<PERSON_3c976b0a75e2d418>"
TEMPLATES = [
    "Order {n} for {p} was shipped late to the Shanghai warehouse.",
    "{p} asked about the invoice of order {n}; payment is due next week.",
    "Customer {p} complained that order {n} arrived damaged. 客户很不满意。",
    "Follow-up call with {p} about renewing contract {n} in March.",
]


def person(i: int) -> str:
    return f"<PERSON_{i * 7919:010x}>"


def record(tenant: str, record_id: str, text: str) -> DeidentifiedRecord:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    return DeidentifiedRecord(
        record_id=record_id,
        tenant=tenant,
        kind="crm.note",
        text=text,
        rule_pack_version="base@1",
        deid_version="deid@1",
        lineage=Lineage(
            source="crm",
            topic="crm.events.v1",
            partition=0,
            offset=1,
            event_id=record_id,
            tenant=tenant,
            occurred_at=at,
        ),
        processed_at=at,
    )


@pytest.fixture(scope="module")
def encoder(tiny_embedder_dir: Path) -> CT2Encoder:
    return CT2Encoder(tiny_embedder_dir, compute_type="int8", intra_threads=1)


@pytest.fixture()
def indexed(encoder: CT2Encoder, milvus_uri: str) -> Iterator[MilvusStore]:
    """Forty acme records worded alike, each naming its own person; globex names acme's people too."""
    with MilvusStore(milvus_uri, collection="chunks", dim=encoder.dim) as store:
        stage = IndexStage(
            embedder=encoder, store=store, chunk_max_chars=200, chunk_overlap_chars=20, max_message_bytes=100_000
        )
        records = [
            record("acme", f"r{i:02d}", TEMPLATES[i % len(TEMPLATES)].format(n=100 + i, p=person(i))) for i in range(40)
        ]
        records += [record("globex", f"g{i:02d}", f"what did {person(i)} order? {person(i)}") for i in range(40)]
        store.upsert(stage.embed_rows([(r, stage.chunks_of(r)) for r in records]))
        yield store


@pytest.mark.parametrize("i", [3, 17, 22, 38])
def test_a_query_naming_a_pseudonym_retrieves_the_chunk_that_holds_it(
    indexed: MilvusStore, encoder: CT2Encoder, i: int
) -> None:
    hits = search_text(indexed, encoder, "acme", f"what did {person(i)} order?", k=3)
    assert hits[0].record_id == f"r{i:02d}"
    assert person(i) in hits[0].text
    assert all(hit.record_id.startswith("r") for hit in hits)  # globex names the same people, and stays out
    assert len(hits) == 3  # the page is filled with the nearest records after the exact one


def test_a_query_is_embedded_exactly_as_the_chunk_it_repeats(indexed: MilvusStore, encoder: CT2Encoder) -> None:
    text = TEMPLATES[1].format(n=105, p=person(5))
    (best,) = search_text(indexed, encoder, "acme", text, k=1)
    assert best.record_id == "r05"
    assert best.score == pytest.approx(1.0, abs=1e-3)


def test_mentioning_keeps_only_chunks_that_hold_the_pseudonym_exactly(store: MilvusStore) -> None:
    lookalike = TARGET.replace("PERSON_", "PERSONX")  # matched by LIKE, where `_` is any one character
    store.upsert(
        [
            row("acme", "holds", 0, text="an opening chunk"),
            row("acme", "holds", 1, text=f"then {TARGET} paid"),
            row("acme", "lookalike", text=f"{lookalike} paid"),
            row("acme", "other", text="<PERSON_0123456789> paid"),
            row("globex", "theirs", text=f"{TARGET} paid"),
        ]
    )
    hits = store.search("acme", unit(1), k=10, mentioning=[TARGET])
    assert [(hit.record_id, hit.text) for hit in hits] == [("holds", f"then {TARGET} paid")]
    assert {hit.record_id for hit in store.search("acme", unit(1), k=10)} == {"holds", "lookalike", "other"}


@pytest.mark.parametrize("value", ["%", f'{TARGET}" or tenant != "', "<PERSON_%>", "acme", ""])
def test_only_pseudonyms_reach_a_mentions_filter(store: MilvusStore, value: str) -> None:
    store.upsert([row("acme", "r1", text=f"{TARGET} %")])
    with pytest.raises(InvalidStoreValueError):
        store.search("acme", unit(1), k=10, mentioning=[value])
