"""The review console's routes: HTML pages for people (cookie sign-in) and JSON for scripts (bearer token).

Pages: GET /review (the queue, or the sign-in form), POST /review/login and /review/logout, GET /review/item,
POST /review/decide, GET /review/explain. JSON (what `sluice review` calls): GET /review/api/items,
GET /review/api/item, POST /review/api/decide.

A person signs in by pasting a reviewer token; it is kept in an HttpOnly, SameSite=Strict cookie scoped to
/review. Every form that changes something carries a CSRF value derived from the token (a page of another site
can neither read it nor send the cookie), so a decision is always the signed-in reviewer's own act.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

import structlog

from agents.api import review_pages
from agents.api.auth import Authenticator, Principal, Refusal
from agents.api.exchange import ApiReply, ApiRequest, refused
from agents.api.review_desk import (
    DeskError,
    ReviewDesk,
    decision_for,
    find_item,
    item_json,
    reviewer_refusal,
    visible_items,
)
from agents.core import metrics
from agents.core.audit import AuditEmitter
from agents.inference.tenancy import request_key
from schemas.review import ReviewDecision

log = structlog.get_logger(__name__)

COOKIE = "sluice_review"
MAX_FORM_BYTES = 64 * 1024
HTML = "text/html"
REVIEW_ROUTES = (
    "/review",
    "/review/login",
    "/review/logout",
    "/review/item",
    "/review/decide",
    "/review/explain",
    "/review/api/items",
    "/review/api/item",
    "/review/api/decide",
)
Blocking = Callable[..., Awaitable[Any]]  # runs a blocking call on the API's thread


@dataclass
class ReviewContext:
    desk: ReviewDesk
    auth: Authenticator
    audit: AuditEmitter | None
    run_blocking: Blocking


def csrf_value(token: str) -> str:
    return hashlib.sha256(b"sluice-review-csrf\0" + token.encode()).hexdigest()[:32]


def _cookie_token(request: ApiRequest) -> str | None:
    raw = request.header("Cookie")
    if not raw:
        return None
    try:
        cookie = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = cookie.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _html(status: int, text: str, **headers: str) -> ApiReply:
    return ApiReply(status, text.encode(), content_type=HTML, headers=dict(headers))


def _redirect(location: str, **headers: str) -> ApiReply:
    return ApiReply(303, b"", content_type=HTML, headers={"Location": location, **headers})


async def _form(request: ApiRequest) -> dict[str, str]:
    body = await request.read_body()
    if len(body) > MAX_FORM_BYTES:
        raise DeskError(413, "bad_request", f"the form is larger than {MAX_FORM_BYTES} bytes")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def handle_review(ctx: ReviewContext, request: ApiRequest) -> ApiReply:
    method = "GET" if request.method == "HEAD" else request.method
    if request.route.startswith("/review/api/"):
        return await _json_route(ctx, method, request)
    return await _page_route(ctx, method, request)


# --- pages ----------------------------------------------------------------------------------------------------------


async def _page_route(ctx: ReviewContext, method: str, request: ApiRequest) -> ApiReply:
    route = (method, request.route)
    if route == ("POST", "/review/login"):
        return await _login(ctx, request)
    if route not in {
        ("GET", "/review"),
        ("POST", "/review/logout"),
        ("GET", "/review/item"),
        ("POST", "/review/decide"),
        ("GET", "/review/explain"),
    }:
        return _html(405, _error_page(f"no {request.method} {request.route}"))
    token = _cookie_token(request)
    if token is None:
        return _html(200 if route == ("GET", "/review") else 401, review_pages.login_page())
    principal = ctx.auth.authenticate(f"Bearer {token}")
    if isinstance(principal, Refusal):
        await refused(ctx.audit, request, principal)
        return _html(401, review_pages.login_page("Your sign-in is no longer valid: sign in again."), **_clear())
    query = dict(request.query)
    refusal = reviewer_refusal(principal, query.get("tenant") if principal.kind == "reviewer" else None)
    if refusal is not None:
        await refused(ctx.audit, request, refusal)
        return _html(refusal.status, review_pages.login_page(refusal.message))
    csrf = csrf_value(token)
    try:
        if method == "POST":
            form = await _form(request)
            if not hmac.compare_digest(form.get("csrf", ""), csrf):
                message = "the form is stale or came from another site: reload the page and decide again"
                refusal = Refusal(403, "bad_csrf", message, principal.token_id, token_tenant=principal.tenant)
                await refused(ctx.audit, request, refusal)
                return _html(403, _error_page(message))
            if request.route == "/review/logout":
                return _redirect("/review", **_clear())
            return await _decide_from_form(ctx, request, principal, csrf, form)
        if request.route == "/review":
            queue = await ctx.run_blocking(ctx.desk.load_queue)
            items = visible_items(principal, queue, query.get("tenant"))
            notice = f"Decision on {query['done']} sent." if query.get("done") else None
            return _html(200, review_pages.queue_page(principal, csrf, items, notice))
        queue = await ctx.run_blocking(ctx.desk.load_queue)
        item = find_item(principal, queue, query.get("tenant"), query.get("id", ""))
        if request.route == "/review/item":
            page = review_pages.item_page(principal, csrf, item, explain=ctx.desk.explain is not None)
            return _html(200, page)
        return await _explain(ctx, item.tenant, item.request_id)
    except DeskError as exc:
        await _audit_desk_refusal(ctx, principal, exc, query.get("id"), query.get("tenant"))
        return _html(exc.status, _error_page(exc.message))


async def _login(ctx: ReviewContext, request: ApiRequest) -> ApiReply:
    try:
        form = await _form(request)
    except DeskError as exc:
        return _html(exc.status, review_pages.login_page(exc.message))
    token = form.get("token", "").strip()
    principal = ctx.auth.authenticate(f"Bearer {token}" if token else None)
    if isinstance(principal, Refusal):
        await refused(ctx.audit, request, principal)
        return _html(401, review_pages.login_page("That token is not valid (unknown or revoked)."))
    refusal = reviewer_refusal(principal, None)
    if refusal is not None:
        await refused(ctx.audit, request, refusal)
        return _html(403, review_pages.login_page(refusal.message))
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/review"
    return _redirect("/review", **{"Set-Cookie": cookie})


def _error_page(message: str) -> str:
    return review_pages.page("Review", f'<p class="error" data-testid="error">{review_pages.escape(message)}</p>')


def _clear() -> dict[str, str]:
    return {"Set-Cookie": f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/review; Max-Age=0"}


async def _decide_from_form(
    ctx: ReviewContext, request: ApiRequest, principal: Principal, csrf: str, form: dict[str, str]
) -> ApiReply:
    tenant = form.get("tenant")
    refusal = reviewer_refusal(principal, tenant if principal.kind == "reviewer" else None)
    if refusal is not None:  # a reviewer's form naming another tenant: altered by hand
        await refused(ctx.audit, request, refusal)
        return _html(refusal.status, _error_page(refusal.message))
    queue = await ctx.run_blocking(ctx.desk.load_queue)
    request_id = form.get("request_id", "")
    try:
        item = find_item(principal, queue, tenant, request_id)
    except DeskError as exc:
        await _audit_desk_refusal(ctx, principal, exc, request_id, tenant)
        return _html(exc.status, _error_page(exc.message))
    try:
        decision = decision_for(
            principal, item, action=form.get("action"), text=form.get("text"), reason=form.get("reason")
        )
    except DeskError as exc:
        await _audit_desk_refusal(ctx, principal, exc, item.request_id, item.tenant)
        page = review_pages.item_page(principal, csrf, item, explain=ctx.desk.explain is not None, error=exc.message)
        return _html(exc.status, page)
    await _send(ctx, decision)
    return _redirect("/review?" + urlencode({"done": item.request_id}))


async def _explain(ctx: ReviewContext, tenant: str, request_id: str) -> ApiReply:
    if ctx.desk.explain is None:
        raise DeskError(404, "explain_unavailable", "explanation reports are not served by this worker")
    try:
        report = await ctx.run_blocking(ctx.desk.explain, tenant, request_id)
    except Exception as exc:  # a report that cannot be made (context gone, model missing) is the reviewer's to know
        log.warning("explain_failed", tenant=tenant, request_id=request_id, error_type=type(exc).__name__)
        raise DeskError(404, "explain_failed", f"no explanation report: {exc}") from None
    return _html(200, str(report))


# --- JSON -----------------------------------------------------------------------------------------------------------


async def _json_route(ctx: ReviewContext, method: str, request: ApiRequest) -> ApiReply:
    route = (method, request.route)
    if route not in {("GET", "/review/api/items"), ("GET", "/review/api/item"), ("POST", "/review/api/decide")}:
        return ApiReply(405, {"error": f"no {request.method} {request.route}"})
    principal = ctx.auth.authenticate(request.header("Authorization"))
    if isinstance(principal, Refusal):
        return await refused(ctx.audit, request, principal)
    body: dict[str, Any] = dict(request.query)
    if method == "POST":
        try:
            parsed = json.loads(await request.read_body())
        except ValueError:
            return ApiReply(400, {"error": "body is not JSON"})
        if not isinstance(parsed, dict):
            return ApiReply(400, {"error": 'body must be a JSON object: {"request_id", "action", "text", "reason"}'})
        body = parsed
    tenant = body.get("tenant") if isinstance(body.get("tenant"), str) else None
    refusal = reviewer_refusal(principal, tenant if principal.kind == "reviewer" else None)
    if refusal is not None:
        return await refused(ctx.audit, request, refusal)
    try:
        queue = await ctx.run_blocking(ctx.desk.load_queue)
        if request.route == "/review/api/items":
            return ApiReply(200, {"items": [item_json(i) for i in visible_items(principal, queue, tenant)]})
        request_id = body.get("request_id", body.get("id"))
        item = find_item(principal, queue, tenant, request_id if isinstance(request_id, str) else "")
        if request.route == "/review/api/item":
            return ApiReply(200, item_json(item))
        decision = decision_for(
            principal, item, action=body.get("action"), text=body.get("text"), reason=body.get("reason")
        )
    except DeskError as exc:
        await _audit_desk_refusal(ctx, principal, exc, body.get("request_id"), tenant)
        return ApiReply(exc.status, {"error": exc.message, "reason": exc.reason})
    await _send(ctx, decision)
    return ApiReply(202, {"sent": True, "request_id": decision.request_id, "tenant": decision.tenant})


# --- shared ---------------------------------------------------------------------------------------------------------


async def _send(ctx: ReviewContext, decision: ReviewDecision) -> None:
    typed = {name: getattr(decision, name) for name in ("text", "reason") if getattr(decision, name)}
    if typed:
        scrubbed = {name: await ctx.run_blocking(ctx.desk.scrub, value) for name, value in typed.items()}
        decision = decision.model_copy(update=scrubbed)
    await ctx.desk.submit(request_key(decision.tenant, decision.request_id), decision.model_dump_json().encode())
    metrics.REVIEWS.labels(f"sent_{decision.action}").inc()
    log.info(
        "review_decision_sent",
        request_id=decision.request_id,
        tenant=decision.tenant,
        action=decision.action,
        reviewer=decision.reviewer,
    )


async def _audit_desk_refusal(
    ctx: ReviewContext, principal: Principal, exc: DeskError, request_id: Any, tenant: Any
) -> None:
    """A refused decision (`review.decision_refused`) or explanation (`explain.refused`): audited, nothing sent."""
    explaining = exc.reason.startswith("explain")
    metrics.REVIEWS.labels("explain_refused" if explaining else "refused").inc()
    if ctx.audit is None:
        return
    scope = principal.tenant if principal.kind == "reviewer" else tenant
    try:
        await ctx.audit.emit(
            "explain.refused" if explaining else "review.decision_refused",
            stage="api",
            subject_id=request_id if isinstance(request_id, str) and len(request_id) <= 128 else "-",
            tenant=scope if isinstance(scope, str) else None,
            details={"reason": exc.reason, "status": exc.status, "reviewer": principal.token_id},
        )
    except Exception as audit_exc:  # the refusal stands either way
        log.error("review_refusal_audit_failed", error_type=type(audit_exc).__name__)
