"""Search by text: a pseudonym the query names finds its records first, then meaning and terms fused; one tenant."""

from __future__ import annotations

import logging

import pytest

from models.deid.pseudonym_format import named_pseudonyms
from models.store import Hit, LexicalIndexMissingError, rank_exact_first, search_text
from tests.unit.embedding.fakes import MemoryStore, WordEmbedder, add

TARGET = "<PERSON_3c976b0a75e2d418>"
OTHER = "<PERSON_0123456789>"


@pytest.fixture()
def embedder() -> WordEmbedder:
    return WordEmbedder()


@pytest.fixture()
def store(embedder: WordEmbedder) -> MemoryStore:
    """Thirty orders by thirty people, worded alike; one, r29, by TARGET; a note on shipping without a person."""
    store = MemoryStore()
    for i in range(29):
        add(store, embedder, "acme", f"r{i:02d}", f"<PERSON_{i:016x}> ordered two pallets of widgets")
    add(store, embedder, "acme", "r29", "A first chunk about invoices.", f"{TARGET} ordered one box of screws")
    add(store, embedder, "acme", "shipping", "what was ordered shipped on monday")
    add(store, embedder, "globex", "g1", f"what did {TARGET} order? {TARGET} ordered")
    return store


def test_named_pseudonyms_are_found_once_each_in_order() -> None:
    text = f"did {OTHER} pay {TARGET}? ask {OTHER}, not <PERSON_xyz> or <PERSON>"
    assert named_pseudonyms(text) == [OTHER, TARGET]
    assert named_pseudonyms("no pseudonyms here") == []


def test_the_record_holding_a_named_pseudonym_ranks_first(store: MemoryStore, embedder: WordEmbedder) -> None:
    hits = search_text(store, embedder, "acme", f"what did {TARGET} order?", k=3)
    assert hits[0].record_id == "r29"
    assert TARGET in hits[0].text  # its chunk that holds the pseudonym, not its best chunk by meaning
    assert len(hits) == 3 and len({hit.record_id for hit in hits}) == 3


def test_without_the_exact_match_the_named_person_is_lost_among_the_others(
    store: MemoryStore, embedder: WordEmbedder
) -> None:
    # What the dense search alone returns: every order reads "<PERSON> ordered …", so the target is no nearer.
    from models.embedding.text import embed_texts

    vector = embed_texts(embedder, [f"what did {TARGET} order?"])[0].tolist()
    assert "r29" not in [hit.record_id for hit in store.search("acme", vector, 3)]


def test_exact_matches_never_leave_the_tenant(store: MemoryStore, embedder: WordEmbedder) -> None:
    hits = search_text(store, embedder, "acme", f"what did {TARGET} order?", k=50)
    assert "g1" not in {hit.record_id for hit in hits}
    assert {tenant for tenant, _ in store.calls} == {"acme"}
    assert [hit.record_id for hit in search_text(store, embedder, "initech", TARGET, k=5)] == []


def test_the_query_is_embedded_as_chunks_are(store: MemoryStore, embedder: WordEmbedder) -> None:
    embedder.seen.clear()
    search_text(store, embedder, "acme", f"what did {TARGET} order?", k=3)
    assert embedder.seen == ["what did <PERSON> order?"]


def test_a_query_without_pseudonyms_is_one_dense_and_one_lexical_search(
    store: MemoryStore, embedder: WordEmbedder
) -> None:
    store.calls.clear()
    hits = search_text(store, embedder, "acme", "what was ordered shipped on monday", k=2)
    assert store.calls == [("acme", ())]
    assert store.lexical_calls == [("acme", "what was ordered shipped on monday")]
    assert hits[0].record_id == "shipping"


def test_a_chinese_query_finds_by_terms_what_the_embedder_cannot_read(
    store: MemoryStore, embedder: WordEmbedder
) -> None:
    # The word embedder splits on spaces, as MiniLM's vocabulary fails Chinese: the query shares no "word" with it.
    add(store, embedder, "acme", "slow", "客户投诉：上海仓库发出的包裹已经延误五天，物流太慢。")
    query = "上海发货的物流太慢"
    assert "slow" not in [h.record_id for h in search_text(store, embedder, "acme", query, k=3, retriever="dense")]
    assert search_text(store, embedder, "acme", query, k=3)[0].record_id == "slow"
    assert search_text(store, embedder, "acme", query, k=3, retriever="sparse")[0].record_id == "slow"
    assert search_text(store, embedder, "globex", query, k=3) == []  # terms never leave the tenant either


def test_fused_scores_are_cosine_plus_the_term_bonus_best_first(store: MemoryStore, embedder: WordEmbedder) -> None:
    hits = search_text(store, embedder, "acme", "what was ordered shipped on monday", k=5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # The same words: cosine 1 and every term held, so the bonus (terms beyond meaning) adds nothing.
    assert hits[0].record_id == "shipping" and hits[0].score == pytest.approx(1.0, abs=1e-6)


def test_only_the_sparse_retriever_embeds_nothing(store: MemoryStore, embedder: WordEmbedder) -> None:
    embedder.seen.clear()
    search_text(store, embedder, "acme", "shipped on monday", k=2, retriever="sparse")
    assert embedder.seen == [] and store.calls == []
    search_text(store, embedder, "acme", f"{TARGET} shipped", k=2, retriever="sparse")
    assert len(embedder.seen) == 1  # the exact match still ranks by meaning


class NoLexicalStore(MemoryStore):
    """A store over a collection made before hybrid retrieval."""

    def search_lexical(self, tenant: str, query: str, k: int) -> list[Hit]:
        raise LexicalIndexMissingError("collection 'old' has no lexical index; rebuild it with `sluice index rebuild`")


def test_a_store_without_lexical_index_still_serves_meaning_and_says_so(
    embedder: WordEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    old = NoLexicalStore()
    add(old, embedder, "acme", "shipping", "what was ordered shipped on monday")
    with caplog.at_level(logging.WARNING, logger="models.store.search"):
        hits = search_text(old, embedder, "acme", "what was ordered shipped on monday", k=2)
    assert [h.record_id for h in hits] == ["shipping"]
    assert "sluice index rebuild" in caplog.text


def test_no_dense_search_when_exact_matches_fill_the_page(store: MemoryStore, embedder: WordEmbedder) -> None:
    store.calls.clear()
    hits = search_text(store, embedder, "acme", f"{TARGET} and <PERSON_{1:016x}>", k=2)
    assert store.calls == [("acme", (TARGET, f"<PERSON_{1:016x}>"))]
    assert {hit.record_id for hit in hits} == {"r29", "r01"}


def test_k_below_one_searches_nothing(store: MemoryStore, embedder: WordEmbedder) -> None:
    store.calls.clear()
    assert search_text(store, embedder, "acme", TARGET, k=0) == []
    assert store.calls == []


def hit(record_id: str, score: float, text: str) -> Hit:
    return Hit(record_id, f"{record_id}/0", score, text, {})


def test_records_holding_more_named_pseudonyms_rank_higher() -> None:
    exact = [hit("one", 0.9, f"{TARGET} only"), hit("both", 0.2, f"{TARGET} paid {OTHER}")]
    ranked = rank_exact_first([TARGET, OTHER], exact, [], k=5)
    assert [h.record_id for h in ranked] == ["both", "one"]


def test_dense_hits_follow_without_repeating_a_record() -> None:
    exact = [hit("a", 0.1, f"{TARGET} here")]
    dense = [hit("b", 0.9, "near"), hit("a", 0.8, "a's other chunk"), hit("c", 0.7, "nearish")]
    ranked = rank_exact_first([TARGET], exact, dense, k=3)
    assert [(h.record_id, h.text) for h in ranked] == [("a", f"{TARGET} here"), ("b", "near"), ("c", "nearish")]
    assert [h.record_id for h in rank_exact_first([TARGET], exact, dense, k=2)] == ["a", "b"]


def test_an_exact_hit_whose_text_lacks_the_pseudonym_is_not_ranked_as_exact() -> None:
    # Milvus LIKE reads `_` as any one character: <PERSONX3c976b0a75> would match. Such a hit is not exact.
    lookalike = hit("x", 0.9, "<PERSONX3c976b0a75>")
    ranked = rank_exact_first([TARGET], [lookalike], [hit("d", 0.5, "dense"), lookalike], k=5)
    assert [h.record_id for h in ranked] == ["d", "x"]


def test_an_encoder_that_does_not_read_chinese_is_fused_by_rank(store: MemoryStore, embedder: WordEmbedder) -> None:
    from models.store.fusion import RRF_K, fuse, rank_fusion
    from models.store.search import fusion_for

    assert fusion_for(embedder) is fuse
    embedder.reads_chinese = False  # type: ignore[misc]  # as MiniLM says: its cosines mean nothing in Chinese
    assert fusion_for(embedder) is rank_fusion
    hits = search_text(store, embedder, "acme", "what was ordered shipped on monday", k=5)
    assert hits[0].record_id == "shipping" and hits[0].score == pytest.approx(2 / (RRF_K + 1))  # first both ways
