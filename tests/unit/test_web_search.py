"""POST /search: what it accepts, and that it searches by text as models.store.search does (exact pseudonyms first)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.api.server import MAX_K, ApiServices, search_records
from tests.unit.api_fakes import NO_TOKENS
from tests.unit.embedding.fakes import MemoryStore, WordEmbedder, add

TARGET = "<PERSON_3c976b0a75e2d418>"


@pytest.fixture()
def services() -> ApiServices:
    embedder = WordEmbedder()
    store = MemoryStore()
    for i in range(10):
        add(store, embedder, "acme", f"r{i}", f"<PERSON_{i:016x}> ordered two pallets of widgets")
    add(store, embedder, "acme", "target", f"{TARGET} ordered one box of screws")
    add(store, embedder, "globex", "g1", f"{TARGET} ordered")
    return ApiServices(store, embedder, lambda: True, auth=NO_TOKENS)


async def test_a_query_naming_a_pseudonym_gets_its_record_first(services: ApiServices) -> None:
    status, reply = await search_records(services, {"tenant": "acme", "query": f"what did {TARGET} order?", "k": 3})
    assert status == 200
    assert reply["hits"][0]["record_id"] == "target"
    assert len(reply["hits"]) == 3
    assert "g1" not in {hit["record_id"] for hit in reply["hits"]}


async def test_search_is_hybrid_a_chinese_query_finds_its_record_by_terms(services: ApiServices) -> None:
    assert isinstance(services.store, MemoryStore) and isinstance(services.embedder, WordEmbedder)
    add(services.store, services.embedder, "acme", "zh", "客户投诉：上海仓库发出的包裹已经延误五天，物流太慢。")
    status, reply = await search_records(services, {"tenant": "acme", "query": "上海发货的物流太慢", "k": 3})
    assert status == 200
    assert reply["hits"][0]["record_id"] == "zh"
    assert services.store.lexical_calls == [("acme", "上海发货的物流太慢")]


async def test_the_query_reaches_the_embedder_prepared(services: ApiServices) -> None:
    await search_records(services, {"tenant": "acme", "query": f"what did {TARGET} order?"})
    assert isinstance(services.embedder, WordEmbedder)
    assert services.embedder.seen[-1] == "what did <PERSON> order?"


@pytest.mark.parametrize(
    "body",
    [
        ["not", "an", "object"],
        {"query": "x"},
        {"tenant": 'acme" or tenant != "', "query": "x"},
        {"tenant": "acme", "query": "   "},
        {"tenant": "acme", "query": 7},
        {"tenant": "acme", "query": "x", "k": 0},
        {"tenant": "acme", "query": "x", "k": MAX_K + 1},
        {"tenant": "acme", "query": "x", "k": "many"},
    ],
)
async def test_bad_requests_are_refused_before_any_search(services: ApiServices, body: Any) -> None:
    status, reply = await search_records(services, body)
    assert status == 400 and reply["error"]
    assert isinstance(services.store, MemoryStore) and services.store.calls == []


async def test_search_ranks_by_meaning_alone_when_configured_so(services: ApiServices) -> None:
    assert isinstance(services.store, MemoryStore)
    services.retriever = "dense"
    status, _ = await search_records(services, {"tenant": "acme", "query": "widgets", "k": 3})
    assert status == 200 and services.store.lexical_calls == []
    services.retriever = "hybrid"
    await search_records(services, {"tenant": "acme", "query": "widgets", "k": 3})
    assert services.store.lexical_calls == [("acme", "widgets")]
