"""`sluice bench retrieval`: recall@5 and MRR@10 of dense, sparse and hybrid search on the bilingual set, per encoder.

Each encoder indexes the generated set (agents.bench.retrieval_set) into its own temporary Milvus Lite store, never
the worker's, through the same preparation as the index stage; every query then runs through `search_text` with
each retriever, rounds alternating the retriever order so that drift in the machine's load hits all alike. With
`baseline`, hybrid search also runs with the fusion rule served before (`rank_fusion`), in the same rounds
on the same store, so that the two rules are compared under the same load.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.bench.common import write_result
from agents.bench.retrieval_set import CATEGORIES, EvalQuery, EvalSet, generate_eval_set
from agents.core.settings import Settings
from agents.tools.stats import median, rate
from models.chunking import chunk_text
from models.embedding.encoder import Embedder
from models.embedding.opening import EMBEDDER_MODELS, EmbedderModel, open_embedder, prepare_model
from models.embedding.text import embed_texts
from models.store import RETRIEVERS, ChunkRow, Hit, MilvusStore, Retriever, chunk_key, search_text
from models.store.fusion import LEXICAL_WEIGHT, rank_fusion
from models.store.search import FUSION_DEPTH

TENANT = "bench"
RECALL_AT = 5
MRR_AT = 10
# What the bench measures: the served retrievers and, as `hybrid-rrf`, hybrid search fused by the rule before.
BASELINE = "hybrid-rrf"


def recall_at(ranked: Sequence[str], relevant: frozenset[str], n: int) -> float:
    """Share of the relevant records among the first n ranked."""
    return len(relevant.intersection(ranked[:n])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], relevant: frozenset[str], n: int) -> float:
    """1 / rank of the first relevant record within the first n, else 0."""
    return next((1.0 / rank for rank, rid in enumerate(ranked[:n], start=1) if rid in relevant), 0.0)


def quality(queries: Sequence[EvalQuery], ranked: Sequence[Sequence[str]]) -> dict[str, dict[str, float | int]]:
    """recall_at_5, mrr_at_10 and the number of queries, per category and over all queries."""
    groups: dict[str, list[int]] = {category: [] for category in CATEGORIES}
    for index, query in enumerate(queries):
        groups[query.category].append(index)
    groups["all"] = list(range(len(queries)))
    out: dict[str, dict[str, float | int]] = {}
    for name, members in groups.items():
        if not members:
            continue
        recall = sum(recall_at(ranked[i], queries[i].relevant, RECALL_AT) for i in members)
        mrr = sum(reciprocal_rank(ranked[i], queries[i].relevant, MRR_AT) for i in members)
        out[name] = {
            "recall_at_5": round(recall / len(members), 3),
            "mrr_at_10": round(mrr / len(members), 3),
            "queries": len(members),
        }
    return out


def index_set(store: MilvusStore, embedder: Embedder, eval_set: EvalSet, settings: Settings) -> dict[str, float]:
    """Chunk, embed (prepared as the index stage prepares chunks) and upsert every record; seconds and CPU seconds."""
    pieces = [
        (record, index, chunk)
        for record in eval_set.records
        for index, chunk in enumerate(
            chunk_text(record.text, max_chars=settings.chunk_max_chars, overlap_chars=settings.chunk_overlap_chars)
        )
    ]
    started, cpu = time.perf_counter(), time.process_time()
    vectors = embed_texts(embedder, [chunk for _, _, chunk in pieces])
    embed_s, embed_cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = [
        ChunkRow(
            chunk_id=chunk_key(TENANT, record.record_id, index),
            record_id=record.record_id,
            tenant=TENANT,
            chunk_index=index,
            text=chunk,
            vector=vector.tolist(),
            source="bench",
            topic="records.deidentified.v1",
            partition=0,
            offset=position,
            event_id=record.record_id,
            occurred_at="2026-01-01T00:00:00+00:00",
            rule_pack_version="bench",
            model_version=embedder.version,
            subjects=record.person,
        )
        for position, ((record, index, chunk), vector) in enumerate(zip(pieces, vectors, strict=True))
    ]
    started = time.perf_counter()
    store.upsert(rows)
    return {
        "chunks": len(rows),
        "embed_seconds": round(embed_s, 3),
        "embed_chunks_per_s": rate(len(rows), embed_s),
        "embed_cpu_ms_per_chunk": round(embed_cpu * 1000 / max(len(rows), 1), 3),
        "upsert_seconds": round(time.perf_counter() - started, 3),
    }


def rank_all(
    store: MilvusStore, embedder: Embedder, queries: Sequence[EvalQuery], retriever: Retriever | str
) -> tuple[list[list[str]], float]:
    """The record ids each query retrieves (top MRR_AT), and the seconds all of them took; `BASELINE` is hybrid
    search fused by `rank_fusion`."""
    started = time.perf_counter()
    ranked = [[hit.record_id for hit in search(store, embedder, query.text, retriever)] for query in queries]
    return ranked, time.perf_counter() - started


def search(store: MilvusStore, embedder: Embedder, text: str, retriever: Retriever | str) -> list[Hit]:
    if retriever == BASELINE:
        return search_text(store, embedder, TENANT, text, MRR_AT, retriever="hybrid", fusion=rank_fusion)
    served: Retriever = next(r for r in RETRIEVERS if r == retriever)
    return search_text(store, embedder, TENANT, text, MRR_AT, retriever=served)


def measure_encoder(
    settings: Settings, embedder: Embedder, eval_set: EvalSet, store_dir: Path, rounds: int, *, baseline: bool = True
) -> dict[str, Any]:
    """Index the set with one encoder, then every retriever (and, with `baseline`, BASELINE) over `rounds`
    alternating rounds."""
    measured: tuple[str, ...] = (*RETRIEVERS, BASELINE) if baseline else RETRIEVERS
    with MilvusStore(str(store_dir / "retrieval.db"), collection="bench_retrieval", dim=embedder.dim) as store:
        indexing = index_set(store, embedder, eval_set, settings)
        rank_all(store, embedder, eval_set.queries[:8], "hybrid")  # the first searches allocate
        seconds: dict[str, list[float]] = {retriever: [] for retriever in measured}
        ranked: dict[str, list[list[str]]] = {}
        for number in range(rounds):
            order = measured if number % 2 == 0 else tuple(reversed(measured))
            for retriever in order:
                ranked[retriever], spent = rank_all(store, embedder, eval_set.queries, retriever)
                seconds[retriever].append(spent)
    retrievers: dict[str, Any] = {}
    for retriever in measured:
        per_round = [rate(len(eval_set.queries), s) for s in seconds[retriever]]
        retrievers[retriever] = {
            "quality": quality(eval_set.queries, ranked[retriever]),
            "queries_per_s": {
                "median": median(per_round),
                "spread": round(max(per_round) - min(per_round), 2),
                "rounds": per_round,
            },
        }
    return {"version": embedder.version, "dim": embedder.dim, "indexing": indexing, "retrievers": retrievers}


def aims(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's aims against one encoder's figures: met or not, with the figure."""
    hybrid = result["retrievers"]["hybrid"]["quality"]
    dense = result["retrievers"]["dense"]["quality"]
    out: dict[str, Any] = {
        "zh_recall_at_5>=0.85": {"value": hybrid["zh"]["recall_at_5"], "met": hybrid["zh"]["recall_at_5"] >= 0.85},
        "cross_recall_at_5>=0.8": {
            "value": hybrid["cross"]["recall_at_5"],
            "met": hybrid["cross"]["recall_at_5"] >= 0.8,
        },
        "hybrid>=dense (recall@5, per category)": {
            category: {
                "hybrid": hybrid[category]["recall_at_5"],
                "dense": dense[category]["recall_at_5"],
                "met": hybrid[category]["recall_at_5"] >= dense[category]["recall_at_5"],
            }
            for category in hybrid
        },
    }
    if BASELINE in result["retrievers"]:
        before = result["retrievers"][BASELINE]["quality"]
        out[f"hybrid>={BASELINE} (recall@5, per category)"] = {
            category: {
                "hybrid": hybrid[category]["recall_at_5"],
                BASELINE: before[category]["recall_at_5"],
                "met": hybrid[category]["recall_at_5"] >= before[category]["recall_at_5"],
            }
            for category in hybrid
        }
    return out


def run_retrieval_bench(
    settings: Settings,
    *,
    rounds: int,
    seed: int,
    encoders: Sequence[EmbedderModel] = EMBEDDER_MODELS,
    baseline: bool = True,
) -> dict[str, Any]:
    """Writes var/bench/retrieval.json, prints it and returns it."""
    eval_set = generate_eval_set(seed)
    load_at_start = round(os.getloadavg()[0], 2)
    result: dict[str, Any] = {
        "set": {
            "seed": seed,
            "records": {lang: sum(r.language == lang for r in eval_set.records) for lang in ("zh", "en", "mixed")},
            "queries": {c: sum(q.category == c for q in eval_set.queries) for c in CATEGORIES},
        },
        "fusion": {"depth": FUSION_DEPTH, "lexical_weight": LEXICAL_WEIGHT, "baseline": BASELINE if baseline else None},
        "rounds": rounds,
        "threads": settings.embed_threads,
        "encoders": {},
    }
    for model in encoders:
        # Prepared once under var/models/bench/ (idempotent), whatever the worker's own embedder is.
        model_dir = prepare_model(settings.var_dir / "models" / "bench" / model, model, progress=False)
        embedder = open_embedder(model_dir, threads=settings.embed_threads)
        print(f"== {model}: {embedder.version} ==", flush=True)
        with tempfile.TemporaryDirectory(prefix="sluice-bench-retrieval-") as tmp:
            figures = measure_encoder(settings, embedder, eval_set, Path(tmp), rounds, baseline=baseline)
        figures["aims"] = aims(figures)
        result["encoders"][model] = figures
        for retriever, measured in figures["retrievers"].items():
            line = " ".join(
                f"{category}={values['recall_at_5']:.2f}/{values['mrr_at_10']:.2f}"
                for category, values in measured["quality"].items()
            )
            print(f"  {retriever:<10} {measured['queries_per_s']['median']:7.1f} q/s  recall@5/mrr@10 {line}")
    result["default_encoder"] = settings.embedder_model
    result["cpu_cores"] = os.cpu_count()
    result["load_average_1m"] = {"start": load_at_start, "end": round(os.getloadavg()[0], 2)}
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_result(settings, "retrieval", result)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result
