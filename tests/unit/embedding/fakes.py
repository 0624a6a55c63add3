"""Fakes for search by text: embedders that record what they read, and a store that searches as MilvusStore does."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from models.embedding.text import embed_texts
from models.store import ChunkRow, Hit, analyze
from tests.unit.ingest.fakes import FakeStore


class RecordingEmbedder:
    """Remembers every text it was asked to embed."""

    dim = 4
    version = "recording-1"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.tile(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), (len(texts), 1))


class WordEmbedder(RecordingEmbedder):
    """Bag-of-words vectors: texts sharing words are near, as with a real encoder; remembers what it read."""

    dim = 64
    reads_chinese = True  # its words are whatever the text splits into, Chinese too: hybrid fuses by score

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class MemoryStore(FakeStore):
    """The fake store with search as MilvusStore does it: tenant filter, exact mentions, best chunk per record, and
    BM25 over the same terms (models.store.terms) for lexical search."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.lexical_calls: list[tuple[str, str]] = []

    def search_lexical(self, tenant: str, query: str, k: int) -> list[Hit]:
        self.lexical_calls.append((tenant, query))
        wanted = set(analyze(query))
        rows = list(self.rows.values())
        terms = {row.chunk_id: Counter(analyze(row.text)) for row in rows}
        avgdl = sum(sum(c.values()) for c in terms.values()) / max(len(rows), 1) or 1.0
        best: dict[str, Hit] = {}
        for row in rows:
            counts = terms[row.chunk_id]
            score = 0.0
            for term in wanted & counts.keys():
                df = sum(1 for c in terms.values() if term in c)
                idf = math.log((len(rows) - df + 0.5) / (df + 0.5) + 1.0)
                tf = counts[term]
                score += idf * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * sum(counts.values()) / avgdl))
            if row.tenant != tenant or score <= 0:
                continue
            if row.record_id not in best or score > best[row.record_id].score:
                best[row.record_id] = Hit(row.record_id, row.chunk_id, score, row.text, {})
        return sorted(best.values(), key=lambda hit: -hit.score)[:k]

    def search(self, tenant: str, vector: Sequence[float], k: int, *, mentioning: Sequence[str] = ()) -> list[Hit]:
        self.calls.append((tenant, tuple(mentioning)))
        best: dict[str, Hit] = {}
        for row in self.rows.values():
            if row.tenant != tenant or (mentioning and not any(p in row.text for p in mentioning)):
                continue
            score = float(np.dot(row.vector, vector))
            if row.record_id not in best or score > best[row.record_id].score:
                best[row.record_id] = Hit(row.record_id, row.chunk_id, score, row.text, {})
        return sorted(best.values(), key=lambda hit: -hit.score)[:k]


def add(store: MemoryStore, embedder: WordEmbedder, tenant: str, record_id: str, *chunks: str) -> None:
    vectors = embed_texts(embedder, chunks)
    store.upsert(
        [
            ChunkRow(f"{tenant}/{record_id}/{i}", record_id, tenant, i, text, vectors[i].tolist(),
                     "crm", "crm.events.v1", 0, i, record_id, "2026-01-05T00:00:00Z", "base@1", "fake", "")
            for i, text in enumerate(chunks)
        ]
    )  # fmt: skip
