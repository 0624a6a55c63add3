"""The one client of the worker's HTTP API: the CLI, `sluice up`, the demo, the benches and the inference
worker's retrieval all go through it, so a change to the API is made here and nowhere else."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from agents.api.wire import RecordsPage, SearchHit
from models.dialog import RetrievedRecord
from schemas.errors import SluiceError

log = structlog.get_logger(__name__)


class IndexApiError(SluiceError):
    """The API answered with an error status; `status` is the HTTP code and the message is the API's reason."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class IndexApiUnreachableError(IndexApiError):
    """Nothing answered at the API's address (no worker running, or it is still starting)."""


class IndexApi:
    """Calls to one worker's API (`sluice status` names its URL) with one bearer token.

    The token decides what the calls see (README "HTTP API"): a tenant token its tenant only, the service
    credential whichever tenant a call names, an admin token /metrics. Health needs none.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __repr__(self) -> str:  # never the token
        return f"IndexApi({self.url!r}, token={'set' if self._headers else 'none'})"

    def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None, **params: Any) -> Any:
        try:
            # httpx's json= sends Content-Type: application/json, which the API requires of a POST.
            response = httpx.request(
                method,
                f"{self.url}{path}",
                json=body,
                params=params or None,
                headers=self._headers,
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise IndexApiUnreachableError(
                f"no worker API at {self.url} ({type(exc).__name__}): run `sluice up` first"
            ) from None
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if response.status_code >= 400:
            reason = reply.get("error") if isinstance(reply, dict) else None
            raise IndexApiError(
                f"{path} failed ({response.status_code}): {reason or response.text[:200]}", status=response.status_code
            )
        return reply

    def health(self) -> dict[str, Any] | None:
        """The worker's health report (also while it is starting, with `healthy: false`); None if unreachable."""
        try:
            response = httpx.get(f"{self.url}/health", timeout=self.timeout_s)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return dict(body) if isinstance(body, dict) else None

    def search(self, tenant: str, query: str, k: int) -> list[SearchHit]:
        reply = self._call("POST", "/search", body={"query": query, "tenant": tenant, "k": k})
        return [SearchHit.from_json(hit) for hit in reply["hits"]]

    def records(self, tenant: str, *, limit: int = 500, offset: int = 0) -> RecordsPage:
        return RecordsPage.from_json(self._call("GET", "/records", tenant=tenant, limit=limit, offset=offset))

    def all_records(self, tenant: str) -> list[dict[str, Any]]:
        """Every stored chunk of a tenant, page by page, as the API returns them."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.records(tenant, offset=len(out))
            out.extend(record.to_json() for record in page.records)
            if not page.records or len(out) >= page.total:
                return out

    def forget(self, tenant: str, subject: str) -> dict[str, Any]:
        reply: dict[str, Any] = self._call("POST", "/forget", body={"tenant": tenant, "subject": subject})
        return reply

    # --- review (a reviewer or admin token) -------------------------------------------------------------------

    def review_items(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """The open review items the token may see (a reviewer: its tenant; an admin: `tenant`, or every one)."""
        scope: dict[str, Any] = {"tenant": tenant} if tenant else {}
        reply = self._call("GET", "/review/api/items", **scope)
        return list(reply["items"])

    def review_item(self, request_id: str, tenant: str | None = None) -> dict[str, Any]:
        scope: dict[str, Any] = {"tenant": tenant} if tenant else {}
        reply: dict[str, Any] = self._call("GET", "/review/api/item", id=request_id, **scope)
        return reply

    def review_decide(
        self,
        request_id: str,
        action: str,
        *,
        text: str | None = None,
        reason: str | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """Send a decision; the worker checks it against the open queue first and says why when it refuses."""
        body = {"request_id": request_id, "action": action, "text": text, "reason": reason, "tenant": tenant}
        reply: dict[str, Any] = self._call("POST", "/review/api/decide", body={k: v for k, v in body.items() if v})
        return reply

    def metrics(self) -> str:
        """Prometheus text; bound beyond loopback, the worker serves it to an admin token only."""
        try:
            response = httpx.get(f"{self.url}/metrics", headers=self._headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise IndexApiUnreachableError(f"no worker API at {self.url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise IndexApiError(f"/metrics failed ({response.status_code})", status=response.status_code)
        return response.text


class IndexApiRetriever:
    """Tenant-scoped retrieval for the inference flow through the index worker's API (Milvus Lite belongs to
    that one process). Best effort: a failed search answers without context rather than failing the request."""

    def __init__(self, api: IndexApi) -> None:
        self.api = api

    def retrieve(self, tenant: str, query: str, k: int) -> list[RetrievedRecord]:
        if k <= 0:
            return []
        try:
            hits = self.api.search(tenant, query, k)
        except Exception as exc:
            log.warning("retrieval_failed", tenant=tenant, error_type=type(exc).__name__)
            return []
        return [RetrievedRecord(hit.record_id, hit.text, hit.score) for hit in hits]
