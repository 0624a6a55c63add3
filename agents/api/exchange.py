"""One HTTP exchange as the API sees it: the request, the reply, and how a refusal is recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from agents.api.auth import Refusal
from agents.core import metrics
from agents.core.audit import AuditEmitter

log = structlog.get_logger(__name__)


async def _no_body() -> bytes:
    return b""


@dataclass(frozen=True)
class ApiRequest:
    """What the API needs of an HTTP request. The body is read only once the caller is authenticated."""

    method: str
    route: str
    headers: Mapping[str, str]
    query: Iterable[tuple[str, str]] = ()
    read_body: Callable[[], Awaitable[bytes]] = _no_body

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        if value is None:  # plain dicts (tests) are not case-insensitive like aiohttp's headers
            value = next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)
        return value


@dataclass(frozen=True)
class ApiReply:
    """A reply: JSON (`body` a dict) or bytes (`/metrics`), with its status and extra headers."""

    status: int
    body: dict[str, Any] | bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


async def refused(audit: AuditEmitter | None, request: ApiRequest, refusal: Refusal) -> ApiReply:
    """A refused request: counted, logged and audited (`api.refused`: reason, route, token id; never the token)."""
    metrics.API_REFUSALS.labels(route=request.route, reason=refusal.reason).inc()
    details = {
        "reason": refusal.reason,
        "route": request.route,
        "method": request.method,
        "status": refusal.status,
        "token_id": refusal.token_id,
        "token_tenant": refusal.token_tenant,
    }
    log.warning("api_refused", tenant=refusal.requested_tenant, **details)
    if audit is not None:
        try:
            await audit.emit(
                "api.refused",
                stage="api",
                subject_id=refusal.token_id or "anonymous",
                tenant=refusal.requested_tenant,  # whose data was asked for, when the request named a tenant
                details=details,
            )
        except Exception as exc:  # the refusal stands either way; the log line above keeps its trace
            log.error("api_refused_audit_failed", route=request.route, error_type=type(exc).__name__)
    return ApiReply(refusal.status, {"error": refusal.message}, headers=refusal.headers)
