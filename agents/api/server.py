"""The worker's HTTP API: health (open), Prometheus metrics, and token-scoped search, record listing and erasure.

`handle` is the whole API as one function of a request (README "HTTP API"): the Faust views only adapt
requests and replies, so every rule here (who may call, which tenant they see, what a refusal leaves behind) is
unit-tested without a server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import faust
import structlog
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.api.auth import Authenticator, Principal, Refusal, admin_refusal, scope_tenant
from agents.api.exchange import ApiReply, ApiRequest, refused
from agents.api.review_desk import ReviewDesk
from agents.api.review_routes import REVIEW_ROUTES, ReviewContext, handle_review
from agents.api.wire import RecordsPage, SearchHit, StoredRecord
from agents.core import metrics
from agents.core.audit import AuditEmitter
from agents.core.forgotten import ErasureRecorder
from models.deid.pseudonym_format import PSEUDONYM_PATTERN, legacy_pseudonym
from models.embedding.encoder import Embedder
from models.store import VectorStore, search_text
from models.store.search import Retriever
from schemas.records import TENANT_RULE, is_valid_tenant
from topics.specs import SUBJECTS_FORGOTTEN

log = structlog.get_logger(__name__)

MAX_K = 50
MAX_LIMIT = 500
MAX_SUBJECT_CHARS = 200
ROUTES = ("/health", "/metrics", "/search", "/records", "/forget")


@dataclass
class ApiServices:
    store: VectorStore
    embedder: Embedder
    is_ready: Callable[[], bool]
    audit: AuditEmitter | None = None  # where erasures and refusals are recorded (the worker's audit emitter)
    auth: Authenticator = field(kw_only=True)
    erasures: ErasureRecorder | None = None  # where erasures are recorded, so that they stick (subjects.forgotten.v1)
    retriever: Retriever = "hybrid"  # SLUICE_SEARCH_RETRIEVER: what /search ranks by besides exact pseudonyms
    review: ReviewDesk | None = None  # the review console (agents/api/review_routes.py), when this worker serves it

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
            "`subject` must be one subject pseudonym such as <CN_MOBILE_49e582b863d1a7f0> (a single word of at most "
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
    search = partial(search_text, retriever=services.retriever)
    hits = await in_executor(services, search, services.store, services.embedder, tenant, query, k)
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
    # Records indexed before pseudonyms grew to 16 digits hold the subject's first 10: erase (and record) that
    # form too, or a forget by identifier would silently leave every older record behind (README: migration).
    legacy = legacy_pseudonym(subject)
    if services.erasures is not None:
        try:
            for forgotten in (subject, *([legacy] if legacy else [])):
                await services.erasures.record(tenant, forgotten)
        except Exception as exc:
            log.error("forget_record_failed", tenant=tenant, subject=subject, error_type=type(exc).__name__)
            return 503, {
                "error": f"the erasure could not be recorded on {SUBJECTS_FORGOTTEN.name}, so nothing was deleted; "
                "repeat the request once the broker is reachable"
            }
    deleted = int(await in_executor(services, services.store.delete_subject, tenant, subject))
    legacy_deleted = int(await in_executor(services, services.store.delete_subject, tenant, legacy)) if legacy else 0
    metrics.SUBJECTS_FORGOTTEN.inc()
    details: dict[str, Any] = {"chunks_deleted": deleted + legacy_deleted}
    if legacy is not None:
        details.update(legacy_subject=legacy, legacy_chunks_deleted=legacy_deleted)
    reply: dict[str, Any] = {"tenant": tenant, "subject": subject, **details}
    log.info("subject_forgotten", tenant=tenant, subject=subject, **details)
    if services.audit is not None:
        try:
            event = await services.audit.emit(
                "subject.forgotten",
                stage="forget",
                subject_id=subject,
                tenant=tenant,
                details=details,
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


async def list_records(services: ApiServices, tenant: Any, query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """A page of the tenant's stored chunks; returns (HTTP status, JSON body)."""
    try:
        tenant = _tenant(tenant)
        limit = _int(query.get("limit"), "limit", 20, 1, MAX_LIMIT)
        offset = _int(query.get("offset"), "offset", 0, 0, 10_000_000)
    except BadRequest as exc:
        return 400, {"error": str(exc)}
    total, records = await in_executor(services, services.store.list_records, tenant, limit, offset)
    chunks = await in_executor(services, services.store.count_chunks, tenant)
    page = RecordsPage(total, chunks, [StoredRecord(r.record_id, r.text, r.lineage) for r in records])
    return 200, page.to_json()


# --- requests, replies and the rules every route follows ------------------------------------------------------


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


def _single_values(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    # `?tenant=a&tenant=b` could mean different things to different readers: each parameter is given once.
    query: dict[str, str] = {}
    for name, value in items:
        if name in query:
            raise BadRequest(f"`{name}` is given more than once")
        query[name] = value
    return query


async def refuse(services: ApiServices, request: ApiRequest, refusal: Refusal) -> ApiReply:
    """A refused request: counted, logged and audited (agents/api/exchange.py)."""
    return await refused(services.audit, request, refusal)


async def health(services: ApiServices) -> ApiReply:
    """Open to anyone, so it says only whether the worker is ready (`sluice up` waits on it)."""
    ready = services.is_ready()
    return ApiReply(200 if ready else 503, {"status": "ok" if ready else "starting", "healthy": ready})


async def serve_metrics(services: ApiServices, request: ApiRequest) -> ApiReply:
    refusal = services.auth.metrics_refusal(request.header("Authorization"))
    if refusal is not None:
        return await refuse(services, request, refusal)
    metrics.INDEXED_CHUNKS.set(await in_executor(services, services.store.count_chunks))
    return ApiReply(200, generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])


async def _json_body(services: ApiServices, request: ApiRequest, principal: Principal) -> Any | ApiReply:
    if not _is_json(request.header("Content-Type")):
        message = "send the body as JSON with Content-Type: application/json"
        refusal = Refusal(415, "not_json", message, principal.token_id, token_tenant=principal.tenant)
        return await refuse(services, request, refusal)
    try:
        return json.loads(await request.read_body())
    except ValueError:
        return ApiReply(400, {"error": "body is not JSON"})


async def handle(services: ApiServices, request: ApiRequest) -> ApiReply:
    """The API: route, authenticate, scope to the token's tenant, then serve."""
    route = ("GET" if request.method == "HEAD" else request.method, request.route)
    if route == ("GET", "/health"):
        return await health(services)
    if route == ("GET", "/metrics"):
        return await serve_metrics(services, request)
    if request.route in REVIEW_ROUTES:
        if services.review is None:
            return ApiReply(404, {"error": "this worker does not serve the review console"})
        context = ReviewContext(services.review, services.auth, services.audit, partial(in_executor, services))
        return await handle_review(context, request)
    if route not in {("POST", "/search"), ("GET", "/records"), ("POST", "/forget")}:
        return ApiReply(405 if request.route in ROUTES else 404, {"error": f"no {request.method} {request.route}"})
    principal = services.auth.authenticate(request.header("Authorization"))
    if isinstance(principal, Refusal):
        return await refuse(services, request, principal)
    if principal.kind == "admin":
        return await refuse(services, request, admin_refusal(principal))
    if principal.kind == "reviewer":
        refusal = scope_tenant(principal, None)
        assert isinstance(refusal, Refusal)
        return await refuse(services, request, refusal)
    if request.route == "/records":
        try:
            query = _single_values(request.query)
        except BadRequest as exc:
            return ApiReply(400, {"error": str(exc)})
        tenant = scope_tenant(principal, query.get("tenant"))
        if isinstance(tenant, Refusal):
            return await refuse(services, request, tenant)
        return ApiReply(*await list_records(services, tenant, query))
    body = await _json_body(services, request, principal)
    if isinstance(body, ApiReply):
        return body
    if isinstance(body, dict):
        tenant = scope_tenant(principal, body.get("tenant"))
        if isinstance(tenant, Refusal):
            return await refuse(services, request, tenant)
        body = {**body, "tenant": tenant}  # a tenant token's own tenant, whether or not the body named it
    if request.route == "/search":
        return ApiReply(*await search_records(services, body))
    return ApiReply(*await forget_subject(services, body))


def register_api(app: faust.App, services: ApiServices) -> None:
    """The Faust views: each hands its request to `handle` and writes the reply back."""

    async def serve(view: View, request: Request, route: str) -> Response:
        async def read_body() -> bytes:
            return await request.read()

        reply = await handle(
            services, ApiRequest(request.method, route, request.headers, tuple(request.query.items()), read_body)
        )
        if isinstance(reply.body, bytes):
            return view.bytes(reply.body, content_type=reply.content_type, status=reply.status, headers=reply.headers)
        return view.json(reply.body, status=reply.status, headers=reply.headers)

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return await serve(self, request, "/health")

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return await serve(self, request, "/metrics")

    @app.page("/search")
    class Search(View):
        async def post(self, request: Request) -> Response:
            return await serve(self, request, "/search")

    @app.page("/records")
    class Records(View):
        async def get(self, request: Request) -> Response:
            return await serve(self, request, "/records")

    @app.page("/forget")
    class Forget(View):
        async def post(self, request: Request) -> Response:
            return await serve(self, request, "/forget")

    for route in REVIEW_ROUTES:
        app.page(route)(_review_view(route, serve))


def _review_view(route: str, serve: Callable[[View, Request, str], Awaitable[Response]]) -> type[View]:
    class ReviewPage(View):
        async def get(self, request: Request) -> Response:
            return await serve(self, request, route)

        async def post(self, request: Request) -> Response:
            return await serve(self, request, route)

    ReviewPage.__name__ = ReviewPage.__qualname__ = "Review" + route.replace("/", "_").title().replace("_", "")
    return ReviewPage
