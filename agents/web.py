"""The worker's HTTP API on loopback: health, Prometheus metrics, tenant-scoped search and record listing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents import metrics
from models.embedding.encoder import Embedder
from models.store import VectorStore
from schemas.records import TENANT_PATTERN

MAX_K = 50
MAX_LIMIT = 500
_TENANT = re.compile(TENANT_PATTERN)


@dataclass
class ApiServices:
    store: VectorStore
    embedder: Embedder
    role: str
    is_ready: Callable[[], bool]

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="api")


class BadRequest(Exception):
    pass


def _tenant(value: Any) -> str:
    if not isinstance(value, str) or not _TENANT.match(value):
        raise BadRequest("`tenant` is required: letters, digits, '_', '.', '-' (1-64 characters)")
    return value


def _int(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"`{name}` must be an integer") from None
    if not low <= number <= high:
        raise BadRequest(f"`{name}` must be between {low} and {high}")
    return number


def register_api(app: faust.App, services: ApiServices) -> None:
    async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(services.executor, fn, *args)

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            chunks = await in_thread(services.store.count_chunks)
            metrics.INDEXED_CHUNKS.set(chunks)
            ready = services.is_ready()
            return self.json(
                {
                    "status": "ok" if ready else "starting",
                    "healthy": ready,
                    "role": services.role,
                    "embedder_version": services.embedder.version,
                    "index_chunks": chunks,
                },
                status=200 if ready else 503,
            )

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/search")
    class Search(View):
        async def post(self, request: Request) -> Response:
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise BadRequest('body must be a JSON object: {"query", "tenant", "k"}')
                tenant = _tenant(body.get("tenant"))
                query = body.get("query")
                if not isinstance(query, str) or not query.strip():
                    raise BadRequest("`query` must be a non-empty string")
                k = _int(body.get("k"), "k", 5, 1, MAX_K)
            except (BadRequest, ValueError) as exc:
                return self.json({"error": str(exc) if isinstance(exc, BadRequest) else "body is not JSON"}, status=400)
            vector = (await in_thread(services.embedder.embed, [query]))[0].tolist()
            hits = await in_thread(services.store.search, tenant, vector, k)
            metrics.SEARCHES.inc()
            return self.json(
                {
                    "hits": [
                        {
                            "record_id": h.record_id,
                            "score": round(h.score, 6),
                            "text": h.text,
                            "lineage": h.lineage,
                        }
                        for h in hits
                    ]
                }
            )

    @app.page("/records")
    class Records(View):
        async def get(self, request: Request) -> Response:
            try:
                tenant = _tenant(request.query.get("tenant"))
                limit = _int(request.query.get("limit"), "limit", 20, 1, MAX_LIMIT)
                offset = _int(request.query.get("offset"), "offset", 0, 0, 10_000_000)
            except BadRequest as exc:
                return self.json({"error": str(exc)}, status=400)
            total, records = await in_thread(services.store.list_records, tenant, limit, offset)
            chunks = await in_thread(services.store.count_chunks, tenant)
            return self.json(
                {
                    "total": total,
                    "chunks": chunks,
                    "records": [{"record_id": r.record_id, "text": r.text, "lineage": r.lineage} for r in records],
                }
            )
