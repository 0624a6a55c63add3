"""Fakes behind the Protocols of the ingest stages: a de-identifier, an embedder and a vector store."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.deid import DeidResult, Entity
from models.store import ChunkRow, Hit, StoredRecord

PHONE = re.compile(r"1[3-9]\d{9}")


class FakeDeidentifier:
    """Replaces 11-digit mobiles with <PHONE>; a text containing POISON raises, like a library bug would."""

    version = "fake-deid-1"

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.protected: list[Sequence[object]] = []

    def deidentify_batch(self, texts: Sequence[str], protected: Sequence[object] = ()) -> list[DeidResult]:
        self.batches.append(len(texts))
        self.protected.append(protected)
        if any("POISON" in t for t in texts):
            raise RuntimeError("library failure quoting the input: " + " ".join(texts))
        out = []
        for text in texts:
            entities = tuple(Entity("CN_MOBILE", m.start(), m.end(), 1.0) for m in PHONE.finditer(text))
            subjects = tuple(f"<CN_MOBILE_{m[-4:]}>" for m in PHONE.findall(text))
            out.append(DeidResult(PHONE.sub("<PHONE>", text), entities, subjects))
        return out


class FakeEmbedder:
    dim = 4
    version = "fake-embedder-1"

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise ValueError("embedding failed")
        vectors = np.array([[len(t) + 1.0, 1.0, 0.0, 0.0] for t in texts], dtype=np.float32).reshape(-1, 4)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[str, ChunkRow] = {}

    def upsert(self, rows: Sequence[ChunkRow]) -> None:
        for row in rows:
            self.rows[row.chunk_id] = row

    def delete_record(self, tenant: str, record_id: str) -> int:
        doomed = [k for k, r in self.rows.items() if r.tenant == tenant and r.record_id == record_id]
        for key in doomed:
            del self.rows[key]
        return len(doomed)

    def search(self, tenant: str, vector: Sequence[float], k: int, *, mentioning: Sequence[str] = ()) -> list[Hit]:
        return []

    def search_lexical(self, tenant: str, query: str, k: int) -> list[Hit]:
        return []

    def list_records(self, tenant: str, limit: int, offset: int) -> tuple[int, list[StoredRecord]]:
        return 0, []

    def count_chunks(self, tenant: str | None = None) -> int:
        return sum(1 for r in self.rows.values() if tenant is None or r.tenant == tenant)

    def delete_subject(self, tenant: str, subject: str) -> int:
        return 0

    def close(self) -> None:
        pass


def as_dict(row: ChunkRow) -> dict[str, Any]:
    return {"record_id": row.record_id, "chunk_index": row.chunk_index, "text": row.text}
