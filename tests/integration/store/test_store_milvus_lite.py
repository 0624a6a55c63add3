"""MilvusStore against a real Milvus Lite directory: idempotence, tenant isolation, deletes, re-indexing."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import models.store.milvus as milvus_module
from models.store import MAX_SEARCH_K, InvalidStoreValueError, MilvusStore, VectorStore
from schemas.errors import ConfigurationError, StoreUnavailableError
from tests.integration.store.store_rows import DIM, row, unit

pytestmark = pytest.mark.integration

HOSTILE = ['a" or tenant != "', "a' or tenant != '", 'a" || 1 == 1 || "', "a\\", "acme\nor true"]


def test_store_implements_the_protocol(store: MilvusStore) -> None:
    assert isinstance(store, VectorStore)


def test_lite_path_parent_directory_is_created(milvus_uri: str, store: MilvusStore) -> None:
    assert Path(milvus_uri).parent.is_dir()


def test_upserting_the_same_chunk_ids_twice_leaves_no_duplicates(store: MilvusStore) -> None:
    rows = [row("acme", "r1", i) for i in range(3)] + [row("acme", "r2", 0)]
    store.upsert(rows)
    store.upsert(rows)
    assert store.count_chunks("acme") == 4
    assert store.count_chunks() == 4


def test_upsert_replaces_text_and_vector_of_an_existing_chunk(store: MilvusStore) -> None:
    store.upsert([row("acme", "r1", text="old", vector=unit([1, 0, 0, 0, 0, 0, 0, 0]))])
    store.upsert([row("acme", "r1", text="new", vector=unit([0, 1, 0, 0, 0, 0, 0, 0]))])
    hits = store.search("acme", unit([0, 1, 0, 0, 0, 0, 0, 0]), k=5)
    assert [(h.record_id, h.text) for h in hits] == [("r1", "new")]
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_search_returns_only_the_tenants_records(store: MilvusStore) -> None:
    query = unit(1)
    store.upsert([row("acme", "a1", vector=unit(2)), row("acme", "a2", vector=unit(3))])
    # The other tenant holds the exact query vector: the best match overall, yet never visible to acme.
    store.upsert([row("globex", "g1", vector=query), row("globex", "g2", vector=unit(4))])
    assert {h.record_id for h in store.search("acme", query, k=10)} == {"a1", "a2"}
    assert {h.record_id for h in store.search("globex", query, k=10)} == {"g1", "g2"}
    assert store.search("initech", query, k=10) == []


def test_search_gives_one_hit_per_record_with_its_best_chunk(store: MilvusStore) -> None:
    query = unit([1, 0, 0, 0, 0, 0, 0, 0])
    near = [unit([1, 0.1 * i, 0, 0, 0, 0, 0, 0]) for i in range(1, 4)]
    store.upsert([row("acme", "long", i, vector=v) for i, v in enumerate(near)])
    store.upsert([row("acme", "other", vector=unit([1, 0, 1, 0, 0, 0, 0, 0]))])
    store.upsert([row("acme", "far", vector=unit([0, 0, 0, 1, 0, 0, 0, 0]))])
    hits = store.search("acme", query, k=2)
    assert [h.record_id for h in hits] == ["long", "other"]
    assert hits[0].text == "long#0"  # the chunk closest to the query represents the record
    assert hits[0].score >= hits[1].score


def test_hits_carry_lineage(store: MilvusStore) -> None:
    store.upsert([row("acme", "r1", offset=42)])
    (hit,) = store.search("acme", unit(0), k=1)
    assert hit.lineage == {
        "source": "crm",
        "topic": "records.deidentified.v1",
        "partition": 1,
        "offset": 42,
        "event_id": "ev-r1",
        "occurred_at": "2025-01-01T00:00:00Z",
        "rule_pack_version": "rules@1",
        "model_version": "tiny@ct2-int8-00000000",
    }


def test_search_k_is_capped(store: MilvusStore) -> None:
    store.upsert([row("acme", f"r{i:03d}") for i in range(MAX_SEARCH_K + 20)])
    assert len(store.search("acme", unit(5), k=10_000)) == MAX_SEARCH_K
    assert store.search("acme", unit(5), k=0) == []


def test_search_rejects_a_vector_of_the_wrong_dimension(store: MilvusStore) -> None:
    with pytest.raises(InvalidStoreValueError, match="dimensions"):
        store.search("acme", [1.0] * (DIM + 1), k=3)


def test_list_records_counts_distinct_records_of_one_tenant(store: MilvusStore) -> None:
    store.upsert([row("acme", "r1", i, occurred_at="2025-01-01") for i in range(3)])
    store.upsert([row("acme", "r2", 0, occurred_at="2025-03-01")])
    store.upsert([row("acme", "r3", i, occurred_at="2025-02-01") for i in range(2)])
    store.upsert([row("globex", f"g{i}") for i in range(5)])
    total, records = store.list_records("acme", limit=10, offset=0)
    assert total == 3
    assert [r.record_id for r in records] == ["r2", "r3", "r1"]  # newest first
    assert records[2].text == "r1#0r1#1r1#2"  # chunks joined in chunk order
    assert records[0].lineage["occurred_at"] == "2025-03-01"
    total, page = store.list_records("acme", limit=1, offset=1)
    assert (total, [r.record_id for r in page]) == (3, ["r3"])
    assert store.list_records("globex", limit=2, offset=4)[0] == 5
    assert store.list_records("initech", limit=10, offset=0) == (0, [])


def test_list_records_pages_beyond_one_iterator_batch(store: MilvusStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_module, "_ITERATOR_BATCH", 7)
    store.upsert([row("acme", f"r{i:02d}", c) for i in range(20) for c in range(2)])
    seen: list[str] = []
    for offset in range(0, 20, 6):
        total, page = store.list_records("acme", limit=6, offset=offset)
        assert total == 20
        seen += [r.record_id for r in page]
    assert seen == [f"r{i:02d}" for i in range(20)]


@pytest.mark.parametrize("tenant", HOSTILE)
def test_hostile_tenant_strings_are_rejected_everywhere(store: MilvusStore, tenant: str) -> None:
    store.upsert([row("a", "r1"), row("b", "r2")])
    with pytest.raises(InvalidStoreValueError):
        store.search(tenant, unit(1), k=10)
    with pytest.raises(InvalidStoreValueError):
        store.list_records(tenant, limit=10, offset=0)
    with pytest.raises(InvalidStoreValueError):
        store.count_chunks(tenant)
    with pytest.raises(InvalidStoreValueError):
        store.delete_record(tenant, "r1")
    with pytest.raises(InvalidStoreValueError):
        store.delete_subject(tenant, "p1")
    with pytest.raises(InvalidStoreValueError):
        store.upsert([row(tenant, "r3")])
    assert store.count_chunks() == 2


def test_hostile_record_id_is_escaped_and_deletes_only_itself(store: MilvusStore) -> None:
    hostile = 'x" or tenant != "'
    store.upsert([row("a", hostile), row("a", "plain"), row("b", "other"), row("b", hostile)])
    assert store.delete_record("a", hostile) == 1
    assert store.count_chunks("a") == 1
    assert store.count_chunks("b") == 2
    total, records = store.list_records("b", limit=10, offset=0)
    assert total == 2
    assert {r.record_id for r in records} == {"other", hostile}


def test_delete_record_removes_all_its_chunks_and_reports_how_many(store: MilvusStore) -> None:
    store.upsert([row("acme", "r1", i) for i in range(4)] + [row("acme", "r2")] + [row("globex", "r1")])
    assert store.delete_record("acme", "r1") == 4
    assert store.delete_record("acme", "r1") == 0
    assert store.count_chunks("acme") == 1
    assert store.count_chunks("globex") == 1  # same record id, other tenant: untouched


def test_delete_subject_removes_every_chunk_mentioning_the_pseudonym(store: MilvusStore) -> None:
    store.upsert(
        [
            row("acme", "r1", 0, subjects="psn_alice psn_bob"),
            row("acme", "r1", 1, subjects=""),
            row("acme", "r2", 0, subjects="psn_alice"),
            row("acme", "r3", 0, subjects="psn_bob psn_alice2"),
            row("globex", "g1", 0, subjects="psn_alice"),
        ]
    )
    assert store.delete_subject("acme", "psn_alice") == 2
    remaining = {(h.record_id, h.text) for h in store.search("acme", unit(9), k=10)}
    assert remaining == {("r1", "r1#1"), ("r3", "r3#0")}  # psn_alice2 is another subject, not a prefix match
    assert store.count_chunks("globex") == 1
    with pytest.raises(InvalidStoreValueError):
        store.delete_subject("acme", "two words")


def test_reindex_with_fewer_chunks_leaves_no_stale_chunk(store: MilvusStore) -> None:
    store.upsert([row("acme", "r1", i, text=f"v1-{i}") for i in range(5)] + [row("acme", "r2", 0)])
    store.upsert([row("acme", "r1", i, text=f"v2-{i}") for i in range(2)])
    assert store.count_chunks("acme") == 3
    _, records = store.list_records("acme", limit=10, offset=0)
    assert {r.record_id: r.text for r in records} == {"r1": "v2-0v2-1", "r2": "r2#0"}


def test_the_last_upsert_of_a_record_decides_where_it_ends(store: MilvusStore) -> None:
    store.upsert([row("acme", "r1", i) for i in range(3)])
    store.upsert([row("acme", "r1", i) for i in range(3, 6)])
    assert store.count_chunks("acme") == 6  # a long record sent in increasing batches keeps every chunk
    store.upsert([row("acme", "r1", 3)])
    assert store.count_chunks("acme") == 4
    assert store.delete_chunks_beyond("acme", "r1", 2) == 2
    assert store.count_chunks("acme") == 2


def test_rows_stay_searchable_across_memtable_flushes(milvus_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_module, "LITE_FLUSH_ROWS", 4)
    with MilvusStore(milvus_uri, collection="chunks", dim=DIM) as first:
        for batch in range(5):
            first.upsert([row("acme", f"r{batch}", i) for i in range(3)])
        first.upsert([row("acme", "r0", 0)])  # shrink a record whose tail is already in a flushed segment
        assert first.count_chunks("acme") == 13
        assert len(first.search("acme", unit(1), k=10)) == 5
    with MilvusStore(milvus_uri, collection="chunks", dim=DIM) as second:
        assert second.count_chunks("acme") == 13


def test_chunk_ids_must_follow_the_key_scheme(store: MilvusStore) -> None:
    good = row("acme", "r1", 2)
    with pytest.raises(InvalidStoreValueError, match="chunk_key"):
        store.upsert([dataclasses.replace(good, chunk_id="r1-2")])
    with pytest.raises(InvalidStoreValueError, match="chunk_key"):
        store.upsert([dataclasses.replace(good, tenant="globex")])  # key of another tenant
    assert store.count_chunks() == 0


def test_rows_that_cannot_be_stored_are_rejected_before_writing(store: MilvusStore) -> None:
    with pytest.raises(InvalidStoreValueError, match="bytes"):
        store.upsert([row("acme", "r" * 600)])
    with pytest.raises(InvalidStoreValueError, match="dimensions"):
        store.upsert([row("acme", "r1", vector=[1.0, 0.0])])
    with pytest.raises(InvalidStoreValueError, match="NaN"):
        store.upsert([row("acme", "r1", vector=[float("nan")] * DIM)])
    assert store.count_chunks() == 0


def test_data_survives_close_and_reopen(milvus_uri: str) -> None:
    with MilvusStore(milvus_uri, collection="chunks", dim=DIM) as first:
        first.upsert([row("acme", "r1", i) for i in range(3)])
    with MilvusStore(milvus_uri, collection="chunks", dim=DIM) as second:
        assert second.count_chunks("acme") == 3
        assert [h.record_id for h in second.search("acme", unit(1), k=3)] == ["r1"]


def test_reopening_with_another_dimension_fails_clearly(milvus_uri: str) -> None:
    MilvusStore(milvus_uri, collection="chunks", dim=DIM).close()
    with pytest.raises(ConfigurationError, match="dim"):
        MilvusStore(milvus_uri, collection="chunks", dim=DIM * 2)


def test_a_closed_store_refuses_calls(milvus_uri: str) -> None:
    closed = MilvusStore(milvus_uri, collection="chunks", dim=DIM)
    closed.close()
    closed.close()  # idempotent
    with pytest.raises(StoreUnavailableError):
        closed.count_chunks()


def test_lite_path_must_end_in_db(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"\.db"):
        MilvusStore(str(tmp_path / "milvus"), collection="chunks", dim=DIM)


def test_calls_from_many_threads_are_serialised_safely(store: MilvusStore) -> None:
    def write_and_read(worker: int) -> int:
        store.upsert([row("acme", f"w{worker}-{i}") for i in range(5)])
        return len(store.search("acme", unit(worker), k=3))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(write_and_read, range(12)))
    assert all(n >= 1 for n in results)
    assert store.count_chunks("acme") == 60
    assert store.list_records("acme", limit=100, offset=0)[0] == 60
