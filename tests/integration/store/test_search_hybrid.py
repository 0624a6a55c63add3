"""Hybrid search on real Milvus Lite: Chinese found by terms, pseudonyms by their exact term, old collections served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.embedding.encoder import CT2Encoder
from models.embedding.text import embed_texts
from models.store import ChunkRow, LexicalIndexMissingError, MilvusStore, chunk_key, search_text
from models.store.rows import META_FIELDS
from models.store.types import MAX_ID_BYTES, MAX_SUBJECT_BYTES, MAX_SUBJECTS, MAX_TEXT_BYTES, TENANT_COLUMN_CHARS
from tests.integration.store.store_rows import DIM, row, unit

pytestmark = pytest.mark.integration

CHINESE = {
    "slow": "客户投诉：从上海仓库发出的笔记本电脑已经延误五天，物流太慢。",
    "broken": "客户反映上海仓库寄出的笔记本电脑外壳破损，要求换货。",
    "invoice": "财务提醒：北京分公司采购打印机的发票还没有开出。",
    "login": "安全告警：有人从成都的新设备登录了财务系统。",
}
ENGLISH = {
    "en-slow": "The laptop shipped from the Shanghai warehouse is five days late.",
    "en-invoice": "Finance notes that the printer invoice for the Beijing branch is still missing.",
}


def person(i: int) -> str:
    return f"<PERSON_{i * 7919:016x}>"


@pytest.fixture(scope="module")
def encoder(tiny_embedder_dir: Path) -> CT2Encoder:
    return CT2Encoder(tiny_embedder_dir, compute_type="int8", intra_threads=1)


def rows_of(encoder: CT2Encoder, tenant: str, texts: dict[str, str]) -> list[ChunkRow]:
    vectors = embed_texts(encoder, list(texts.values()))
    return [
        row(tenant, rid, text=text, vector=vector.tolist())
        for (rid, text), vector in zip(texts.items(), vectors, strict=True)
    ]


@pytest.fixture()
def indexed(encoder: CT2Encoder, milvus_uri: str) -> Iterator[MilvusStore]:
    """Chinese and English records of acme, twenty orders by twenty people, and globex holding the same Chinese.

    Fewer acme records than FUSION_DEPTH: every one is in the dense ranking, so fusion is decided by the terms.
    """
    with MilvusStore(milvus_uri, collection="chunks", dim=encoder.dim) as store:
        orders = {f"o{i:02d}": f"{person(i)} 下单购买了两台显示器，订单已确认。" for i in range(20)}
        store.upsert(rows_of(encoder, "acme", {**CHINESE, **ENGLISH, **orders}))
        store.upsert(rows_of(encoder, "globex", {f"g-{rid}": text for rid, text in CHINESE.items()}))
        yield store


def test_a_chinese_query_finds_the_chinese_record_by_its_terms(indexed: MilvusStore, encoder: CT2Encoder) -> None:
    lexical = indexed.search_lexical("acme", "上海发货的笔记本电脑物流太慢", k=3)
    assert lexical[0].record_id == "slow"
    assert lexical[0].score > lexical[1].score > 0  # BM25 scores, positive, best first
    assert all(hit.lineage["topic"] == "records.deidentified.v1" for hit in lexical)
    # The tiny random encoder ranks by noise; fused, the two records sharing the query's terms lead.
    fused = [hit.record_id for hit in search_text(indexed, encoder, "acme", "上海发货的笔记本电脑物流太慢", k=3)]
    assert "slow" in fused[:2] and set(fused[:2]) <= {"slow", "broken"}


def test_lexical_search_never_leaves_the_tenant(indexed: MilvusStore) -> None:
    assert {hit.record_id for hit in indexed.search_lexical("globex", "笔记本电脑 发票 登录", k=10)} == {
        "g-slow",
        "g-broken",
        "g-invoice",
        "g-login",
    }
    assert indexed.search_lexical("initech", "笔记本电脑", k=10) == []


@pytest.mark.parametrize("i", [3, 11, 19])
def test_a_query_naming_a_pseudonym_finds_that_persons_record_by_terms(indexed: MilvusStore, i: int) -> None:
    # Twenty orders worded alike: only the exact pseudonym term tells them apart.
    hits = indexed.search_lexical("acme", f"{person(i)} 的订单怎么样了", k=5)
    assert hits[0].record_id == f"o{i:02d}"
    assert person(i) in hits[0].text


def test_the_type_of_a_pseudonym_matches_every_record_naming_that_type(indexed: MilvusStore) -> None:
    hits = indexed.search_lexical("acme", "<PERSON_ffffffffffffffff>", k=50)
    assert {hit.record_id for hit in hits} == {f"o{i:02d}" for i in range(20)}


def test_a_query_without_terms_finds_nothing(indexed: MilvusStore) -> None:
    assert indexed.search_lexical("acme", "，。！？", k=5) == []
    assert indexed.search_lexical("acme", "物流", k=0) == []


def test_a_record_is_one_lexical_hit_with_its_best_chunk(store: MilvusStore) -> None:
    store.upsert(
        [
            row("acme", "long", 0, text="物流"),
            row("acme", "long", 1, text="物流太慢，物流太慢，物流太慢"),
            row("acme", "long", 2, text="物流一般"),
            row("acme", "other", text="发票"),
        ]
    )
    hits = store.search_lexical("acme", "物流太慢", k=5)
    assert [(hit.record_id, hit.chunk_id) for hit in hits] == [("long", chunk_key("acme", "long", 1))]


def create_collection_before_hybrid(uri: str, name: str) -> None:
    """The collection schema MilvusStore created before hybrid retrieval: no terms, no sparse vector."""
    from pymilvus import DataType, MilvusClient

    Path(uri).parent.mkdir(parents=True, exist_ok=True)
    client = MilvusClient(uri=uri)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("tenant", DataType.VARCHAR, max_length=TENANT_COLUMN_CHARS)
    schema.add_field("record_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
    for field in META_FIELDS:
        schema.add_field(field, DataType.VARCHAR, max_length=512)
    schema.add_field("kafka_partition", DataType.INT64)
    schema.add_field("kafka_offset", DataType.INT64)
    schema.add_field(
        "subjects", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_SUBJECTS,
        max_length=MAX_SUBJECT_BYTES,
    )  # fmt: skip
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    client.close()


def test_a_collection_made_before_hybrid_retrieval_keeps_serving_meaning(
    milvus_uri: str, encoder: CT2Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    create_collection_before_hybrid(milvus_uri, "old")
    with caplog.at_level("WARNING"), MilvusStore(milvus_uri, collection="old", dim=DIM) as store:
        assert not store.lexical
        assert "sluice index rebuild" in caplog.text  # said once, at open
        store.upsert([row("acme", "r1", text="物流太慢", vector=unit(1)), row("acme", "r2", vector=unit(2))])
        assert [hit.record_id for hit in store.search("acme", unit(1), k=1)] == ["r1"]
        with pytest.raises(LexicalIndexMissingError, match="sluice index rebuild"):
            store.search_lexical("acme", "物流", k=3)


def test_search_text_on_an_old_collection_falls_back_to_meaning(milvus_uri: str, encoder: CT2Encoder) -> None:
    create_collection_before_hybrid(milvus_uri, "old")
    with MilvusStore(milvus_uri, collection="old", dim=DIM) as store:
        store.upsert([row("acme", "r1", text="物流太慢"), row("acme", "r2", text="发票")])

        class Fixed:
            dim = DIM
            version = "fixed"

            def embed(self, texts: list[str]) -> object:
                import numpy as np

                return np.array([unit(1)] * len(texts), dtype=np.float32)

        assert {hit.record_id for hit in search_text(store, Fixed(), "acme", "物流", k=5)} == {"r1", "r2"}  # type: ignore[arg-type]


def test_rebuild_brings_an_old_collection_to_hybrid_search_with_the_current_embedder(
    milvus_uri: str, encoder: CT2Encoder
) -> None:
    from models.store.rebuild import rebuild_collection

    create_collection_before_hybrid(milvus_uri, "chunks")
    subject = person(1)
    with MilvusStore(milvus_uri, collection="chunks", dim=DIM) as old:
        old.upsert(
            [
                row("acme", "slow", 0, text="开头一段。"),
                row("acme", "slow", 1, text=f"{subject}投诉物流太慢。", subjects=subject),
                row("acme", "invoice", text="发票还没开", occurred_at="2025-02-01T00:00:00Z"),
                row("globex", "theirs", text="物流太慢"),
            ]
        )
    seen: list[int] = []
    assert rebuild_collection(milvus_uri, "chunks", encoder, progress=seen.append) == 4
    assert seen == [4]
    with MilvusStore(milvus_uri, collection="chunks", dim=encoder.dim) as rebuilt:  # the encoder's dim, not DIM
        assert rebuilt.lexical and rebuilt.count_chunks() == 4
        assert rebuilt.client.list_collections() == ["chunks"]
        (hit,) = rebuilt.search_lexical("acme", "物流太慢", k=5)
        assert (hit.record_id, hit.text) == ("slow", f"{subject}投诉物流太慢。")
        assert hit.lineage["model_version"] == encoder.version and hit.lineage["event_id"] == "ev-slow"
        total, records = rebuilt.list_records("acme", 10, 0)
        assert total == 2 and [r.record_id for r in records] == ["invoice", "slow"]  # newest first, as before
        assert records[1].text == f"开头一段。{subject}投诉物流太慢。"
        assert rebuilt.delete_subject("acme", subject) == 1  # subjects came along


def test_rebuild_of_a_missing_collection_says_so(milvus_uri: str, encoder: CT2Encoder) -> None:
    from models.store.rebuild import rebuild_collection
    from schemas.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no collection 'nothing'"):
        rebuild_collection(milvus_uri, "nothing", encoder)
