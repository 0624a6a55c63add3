"""The JSON shapes of the worker's HTTP API, shared by the server that writes them and the client that reads them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk: de-identified text, its similarity and where its record came from."""

    record_id: str
    score: float
    text: str
    lineage: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "score": round(self.score, 6)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchHit:
        return cls(str(data["record_id"]), float(data["score"]), str(data["text"]), dict(data.get("lineage") or {}))


@dataclass(frozen=True)
class StoredRecord:
    """One stored chunk as `/records` lists it."""

    record_id: str
    text: str
    lineage: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredRecord:
        return cls(str(data["record_id"]), str(data["text"]), dict(data.get("lineage") or {}))


@dataclass(frozen=True)
class RecordsPage:
    """A page of `/records`: the tenant's record and chunk totals and the listed chunks."""

    total: int
    chunks: int
    records: list[StoredRecord]

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "chunks": self.chunks, "records": [r.to_json() for r in self.records]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordsPage:
        return cls(int(data["total"]), int(data["chunks"]), [StoredRecord.from_json(r) for r in data["records"]])
