"""Row and vector builders shared by the store integration tests."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from models.store import ChunkRow, chunk_key

DIM = 8


def unit(seed: int | Sequence[float], dim: int = DIM) -> list[float]:
    """A unit vector: random from an int seed, or the given components normalised."""
    raw = np.random.default_rng(seed).normal(size=dim) if isinstance(seed, int) else np.asarray(seed, float)
    return [float(x) for x in raw / np.linalg.norm(raw)]


def _seed(tenant: str, record_id: str, chunk_index: int) -> int:
    # crc32, not hash(): string hashes change between processes, and failures should be reproducible.
    return zlib.crc32(f"{tenant}/{record_id}/{chunk_index}".encode())


def row(
    tenant: str,
    record_id: str,
    chunk_index: int = 0,
    *,
    text: str | None = None,
    vector: Sequence[float] | None = None,
    subjects: str = "",
    occurred_at: str = "2025-01-01T00:00:00Z",
    offset: int = 0,
) -> ChunkRow:
    return ChunkRow(
        chunk_id=chunk_key(tenant, record_id, chunk_index),
        record_id=record_id,
        tenant=tenant,
        chunk_index=chunk_index,
        text=text if text is not None else f"{record_id}#{chunk_index}",
        vector=vector if vector is not None else unit(_seed(tenant, record_id, chunk_index)),
        source="crm",
        topic="records.deidentified.v1",
        partition=1,
        offset=offset,
        event_id=f"ev-{record_id}",
        occurred_at=occurred_at,
        rule_pack_version="rules@1",
        model_version="tiny@ct2-int8-00000000",
        subjects=subjects,
    )
