"""Search by text: the query embedded as chunks are, and the pseudonyms it names matched exactly, first."""

from __future__ import annotations

from collections.abc import Sequence

from models.deid.pseudonym_format import named_pseudonyms
from models.embedding.encoder import Embedder
from models.embedding.text import embed_texts
from models.store.types import MAX_MENTIONS, MAX_SEARCH_K, Hit, VectorStore


def search_text(store: VectorStore, embedder: Embedder, tenant: str, query: str, k: int) -> list[Hit]:
    """Up to k distinct records of the tenant for a text query, best first.

    Records whose chunk holds a pseudonym the query names come first, then the nearest records by meaning.
    Embeddings read pseudonyms as their type, so "what did <PERSON_3c976b0a75e2d418> order?" is as close to every
    chunk about some person's order; only an exact match can tell the one person's chunk from the others.
    """
    k = min(k, MAX_SEARCH_K)
    if k < 1:
        return []
    # Beyond MAX_MENTIONS the query is a list of names rather than a question; the first ones still count.
    named = named_pseudonyms(query)[:MAX_MENTIONS]
    vector = embed_texts(embedder, [query])[0].tolist()
    exact = store.search(tenant, vector, k, mentioning=named) if named else []
    # When exact matches already fill the page, the nearest records could not make it in anyway.
    dense = store.search(tenant, vector, k) if len(exact) < k else []
    return rank_exact_first(named, exact, dense, k)


def rank_exact_first(named: Sequence[str], exact: Sequence[Hit], dense: Sequence[Hit], k: int) -> list[Hit]:
    """One hit per record, at most k: exact hits first (more named pseudonyms held, then higher score), then
    dense hits of the other records in their own order.

    An exact hit's score stays its similarity, so scores are not monotonic across the two groups.
    """
    counted = [(sum(pseudonym in hit.text for pseudonym in named), hit) for hit in exact]
    ranked: list[Hit] = []
    seen: set[str] = set()
    # A stable sort: equal counts and scores keep the store's order.
    for held, hit in sorted(counted, key=lambda pair: (-pair[0], -pair[1].score)):
        if held and hit.record_id not in seen:
            seen.add(hit.record_id)
            ranked.append(hit)
    for hit in dense:
        if hit.record_id not in seen:
            seen.add(hit.record_id)
            ranked.append(hit)
    return ranked[: max(k, 0)]
