"""The worker's HTTP API on loopback: health, Prometheus metrics, tenant-scoped search, record listing, erasure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
import structlog
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.api.wire import RecordsPage, SearchHit, StoredRecord
from agents.core import metrics
from agents.core.audit import AuditEmitter
from agents.core.forgotten import ErasureRecorder
from models.deid.pseudonym_format import PSEUDONYM_PATTERN
from models.embedding.encoder import Embedder
from models.store import VectorStore, search_text
from schemas.records import TENANT_RULE, is_valid_tenant
from topics.specs import SUBJECTS_FORGOTTEN

log = structlog.get_logger(__name__)

MAX_K = 50
MAX_LIMIT = 500
MAX_SUBJECT_CHARS = 200


@dataclass
class ApiServices:
    store: VectorStore
    embedder: Embedder
    role: str
    is_ready: Callable[[], bool]
    audit: AuditEmitter | None = None  # where erasures are audited (the worker's audit emitter)
    erasures: ErasureRecorder | None = None  # where they are recorded, so that they stick (subjects.forgotten.v1)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="api")


class BadRequest(Exception):
    pass


def _tenant(value: Any) -> str:
    if not is_valid_tenant(value):
        raise BadRequest(f"`tenant` is required: {TENANT_RULE}")
    return str(value)


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


def _subject(value: Any) -> str:
    # Only a pseudonym is accepted: the subject is written to the audit stream, which must never hold raw PII,
    # so a raw ID number or phone sent here by mistake is refused rather than recorded.
    # The pattern admits one word only, with no space anywhere.
    if not isinstance(value, str) or len(value) > MAX_SUBJECT_CHARS or not PSEUDONYM_PATTERN.fullmatch(value):
        raise BadRequest(
            "`subject` must be one subject pseudonym such as <CN_MOBILE_49e582b863> (a single word of at most "
            f"{MAX_SUBJECT_CHARS} characters); `sluice deid pseudonym` computes it from a raw identifier"
        )
    return value


async def in_executor(services: ApiServices, fn: Callable[..., Any], *args: Any) -> Any:
    """Store and embedder calls block: run them on the API's own thread, so the event loop keeps serving."""
    return await asyncio.get_running_loop().run_in_executor(services.executor, fn, *args)


async def search_records(services: ApiServices, body: Any) -> tuple[int, dict[str, Any]]:
    """Tenant-scoped search by text; returns (HTTP status, JSON body).

    Records holding a pseudonym the query names come first, then the nearest by meaning (models.store.search).
    """
    try:
        if not isinstance(body, dict):
            raise BadRequest('body must be a JSON object: {"query", "tenant", "k"}')
        tenant = _tenant(body.get("tenant"))
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("`query` must be a non-empty string")
        k = _int(body.get("k"), "k", 5, 1, MAX_K)
    except BadRequest as exc:
        return 400, {"error": str(exc)}
    hits = await in_executor(services, search_text, services.store, services.embedder, tenant, query, k)
    metrics.SEARCHES.inc()
    return 200, {"hits": [SearchHit(h.record_id, h.score, h.text, h.lineage).to_json() for h in hits]}


async def forget_subject(services: ApiServices, body: Any) -> tuple[int, dict[str, Any]]:
    """Right to erasure: record the subject as forgotten, delete every chunk of the tenant that mentions it, and
    audit it.

    The record comes first (subjects.forgotten.v1, acknowledged by Kafka, and this worker's registry): from then
    on no worker indexes a record naming the subject, so the deletion that follows is final. If it cannot be
    recorded nothing is deleted. Returns (HTTP status, JSON body). Forgetting is idempotent: a repeated request
    deletes nothing more and is recorded and audited again with `chunks_deleted: 0`.
    """
    try:
        if not isinstance(body, dict):
            raise BadRequest('body must be a JSON object: {"tenant", "subject"}')
        tenant = _tenant(body.get("tenant"))
        subject = _subject(body.get("subject"))
    except BadRequest as exc:
        return 400, {"error": str(exc)}
    if services.erasures is not None:
        try:
            await services.erasures.record(tenant, subject)
        except Exception as exc:
            log.error("forget_record_failed", tenant=tenant, subject=subject, error_type=type(exc).__name__)
            return 503, {
                "error": f"the erasure could not be recorded on {SUBJECTS_FORGOTTEN.name}, so nothing was deleted; "
                "repeat the request once the broker is reachable"
            }
    deleted = int(await in_executor(services, services.store.delete_subject, tenant, subject))
    metrics.SUBJECTS_FORGOTTEN.inc()
    reply: dict[str, Any] = {"tenant": tenant, "subject": subject, "chunks_deleted": deleted}
    log.info("subject_forgotten", tenant=tenant, subject=subject, chunks_deleted=deleted)
    if services.audit is not None:
        try:
            event = await services.audit.emit(
                "subject.forgotten",
                stage="forget",
                subject_id=subject,
                tenant=tenant,
                details={"chunks_deleted": deleted},
            )
        except Exception as exc:  # the deletion stands; say so, and let the caller retry to get it audited
            log.error("forget_audit_failed", tenant=tenant, subject=subject, error_type=type(exc).__name__)
            return 500, {
                **reply,
                "error": "the chunks were deleted but the audit event could not be written; repeat the request "
                "(forgetting is idempotent) once the broker is reachable",
            }
        reply["audit_event_id"] = event.event_id
    return 200, reply


def register_api(app: faust.App, services: ApiServices) -> None:
    async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
        return await in_executor(services, fn, *args)

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
            except ValueError:
                return self.json({"error": "body is not JSON"}, status=400)
            status, reply = await search_records(services, body)
            return self.json(reply, status=status)

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
            page = RecordsPage(total, chunks, [StoredRecord(r.record_id, r.text, r.lineage) for r in records])
            return self.json(page.to_json())

    @app.page("/forget")
    class Forget(View):
        async def post(self, request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                return self.json({"error": "body is not JSON"}, status=400)
            status, reply = await forget_subject(services, body)
            return self.json(reply, status=status)
