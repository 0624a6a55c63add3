"""The review console without a server: who may see and decide which item, and what a refusal leaves behind.

Each refusal is tried as an attacker would: another tenant's reviewer naming the item, a tenant's own client token,
a forged form without the CSRF value, a decision for an item that is not pending. None sends a decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from agents.api.auth import Authenticator
from agents.api.exchange import ApiReply, ApiRequest
from agents.api.review_desk import QueueKey, ReviewDesk
from agents.api.review_routes import COOKIE, csrf_value
from agents.api.server import ApiServices, handle
from agents.api.tokens import IssuedToken, TokenStore
from agents.core.audit import AuditEmitter
from schemas.review import ReviewDecision, ReviewItem
from tests.unit.embedding.fakes import MemoryStore, WordEmbedder

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def item(request_id: str, tenant: str = "acme", **fields: Any) -> ReviewItem:
    body: dict[str, Any] = {
        "request_id": request_id,
        "tenant": tenant,
        "session_id": None,
        "task": "chat",
        "rule_id": "default.legal_review",
        "reason": "legal",
        "risk_score": 0.8,
        "prompt": "we will sue <PERSON_0123456789abcdef> <script>alert(1)</script>",
        "prompt_sha256": "ab" * 32,
        "draft": "A colleague will call you.",
        "reply_to": "inference.responses.v1",
        "queued_at": NOW.isoformat(),
        "deadline_at": (NOW + timedelta(hours=1)).isoformat(),
        **fields,
    }
    return ReviewItem.model_validate(body)


@dataclass
class Console:
    services: ApiServices
    queue: dict[QueueKey, ReviewItem]
    decisions: list[ReviewDecision] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)

    async def call(
        self,
        method: str,
        route: str,
        *,
        token: str | None = None,
        cookie: str | None = None,
        body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ApiReply:
        headers: dict[str, str] = {}
        raw = b""
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            raw = json.dumps(body).encode()
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            raw = urlencode(form).encode()

        async def read_body() -> bytes:
            return raw

        request = ApiRequest(method, route, headers, tuple((query or {}).items()), read_body)
        return await handle(self.services, request)

    def refusals(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.audit if e["event_type"] == event_type]


@pytest.fixture()
def console(tmp_path: Path) -> Console:
    store = TokenStore(tmp_path / "api-tokens.json")
    queue = {
        ("acme", "r1"): item("r1"),
        ("acme", "r2"): item("r2", draft=None),
        ("acme", "r3"): item("r3", escalated=True, escalated_by="tok"),
        ("globex", "g1"): item("g1", tenant="globex"),
    }
    console = Console(ApiServices.__new__(ApiServices), queue)  # replaced below; needs the lists first

    async def submit(key: bytes, value: bytes) -> None:
        console.decisions.append(ReviewDecision.model_validate_json(value))

    async def audit(topic: str, key: bytes | None, value: bytes | None) -> None:
        assert value is not None
        console.audit.append(json.loads(value))

    auth = Authenticator(store, service_token=None, metrics_open=True)
    console.services = ApiServices(
        MemoryStore(),
        WordEmbedder(),
        lambda: True,
        audit=AuditEmitter(audit),
        auth=auth,
        review=ReviewDesk(
            load_queue=lambda: console.queue,
            submit=submit,
            scrub=lambda text: re.sub(r"1[3-9]\d{9}", "<CN_MOBILE>", text),
        ),
    )
    console.tokens = {
        "acme_reviewer": store.create("reviewer", tenant="acme"),
        "globex_reviewer": store.create("reviewer", tenant="globex"),
        "acme_client": store.create("tenant", tenant="acme"),
        "admin": store.create("admin"),
    }
    return console


def token(console: Console, name: str) -> str:
    return console.tokens[name].token


def body_of(reply: ApiReply) -> Any:
    return reply.body if isinstance(reply.body, dict) else reply.body.decode()


# --- JSON (what `sluice review` calls) --------------------------------------------------------------------------


async def test_a_reviewer_lists_only_its_own_tenants_items_escalated_first(console: Console) -> None:
    reply = await console.call("GET", "/review/api/items", token=token(console, "acme_reviewer"))
    assert reply.status == 200
    assert [i["request_id"] for i in body_of(reply)["items"]] == ["r3", "r1", "r2"]


async def test_a_reviewer_approves_and_the_decision_names_its_token_not_what_the_body_claims(console: Console) -> None:
    body = {"request_id": "r1", "action": "approve", "reviewer": "someone-else", "tenant": "acme"}
    reply = await console.call("POST", "/review/api/decide", token=token(console, "acme_reviewer"), body=body)
    assert reply.status == 202
    (decision,) = console.decisions
    assert decision.reviewer == console.tokens["acme_reviewer"].entry.token_id
    assert (decision.tenant, decision.request_id, decision.action) == ("acme", "r1", "approve")


async def test_another_tenants_reviewer_cannot_see_or_decide_an_item_by_naming_it(console: Console) -> None:
    globex = token(console, "globex_reviewer")
    named = await console.call("POST", "/review/api/decide", token=globex, body={"request_id": "r1", "tenant": "acme"})
    assert named.status == 403 and console.decisions == []
    assert console.refusals("api.refused")[0]["details"]["reason"] == "other_tenant"
    # Leaving the tenant out looks the id up under the token's own tenant, where it does not exist.
    unnamed = await console.call(
        "POST", "/review/api/decide", token=globex, body={"request_id": "r1", "action": "approve"}
    )
    assert unnamed.status == 404 and console.decisions == []
    assert console.refusals("review.decision_refused")[0]["details"]["reason"] == "unknown_request"
    shown = await console.call("GET", "/review/api/item", token=globex, query={"id": "r1"})
    assert shown.status == 404


@pytest.mark.parametrize("who", ["acme_client", "admin_missing", "none"])
async def test_tokens_that_are_not_reviewers_cannot_decide(console: Console, who: str) -> None:
    credential = {"acme_client": token(console, "acme_client"), "admin_missing": "sluice_0123456789ab_" + "A" * 43}
    body = {"request_id": "r1", "action": "approve"}
    reply = await console.call("POST", "/review/api/decide", token=credential.get(who), body=body)
    assert reply.status in (401, 403) and console.decisions == []
    assert console.refusals("api.refused")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"request_id": "r9", "action": "approve"}, 404, "unknown_request"),
        ({"request_id": "r2", "action": "approve"}, 409, "nothing_to_approve"),
        ({"request_id": "r3", "action": "approve"}, 403, "escalated_to_admin"),
        ({"request_id": "r1", "action": "delete"}, 400, "bad_request"),
        ({"request_id": "r1", "action": "reject"}, 400, "bad_request"),  # a rejection needs a reason
        ({"request_id": "r1", "action": "edit", "text": "   "}, 400, "bad_request"),
        ({"request_id": "r1", "action": "edit", "text": "x" * 9000}, 400, "bad_request"),
    ],
)
async def test_bad_decisions_are_refused_with_a_reason_and_audited(
    console: Console, body: dict[str, Any], status: int, reason: str
) -> None:
    reply = await console.call("POST", "/review/api/decide", token=token(console, "acme_reviewer"), body=body)
    assert reply.status == status and body_of(reply)["reason"] == reason and body_of(reply)["error"]
    assert console.decisions == []
    assert console.refusals("review.decision_refused")[0]["details"]["reason"] == reason


async def test_an_admin_decides_an_escalated_item_of_the_tenant_it_names(console: Console) -> None:
    admin = token(console, "admin")
    nameless = await console.call(
        "POST", "/review/api/decide", token=admin, body={"request_id": "r3", "action": "approve"}
    )
    assert nameless.status == 400  # an admin acts for every tenant, so it says which
    body = {"request_id": "r3", "tenant": "acme", "action": "edit", "text": "Answered by legal."}
    assert (await console.call("POST", "/review/api/decide", token=admin, body=body)).status == 202
    assert console.decisions[0].reviewer_kind == "admin" and console.decisions[0].text == "Answered by legal."


# --- pages --------------------------------------------------------------------------------------------------------


async def test_signing_in_sets_a_strict_http_only_cookie_and_shows_the_queue_escaped(console: Console) -> None:
    reviewer = token(console, "acme_reviewer")
    first = await console.call("GET", "/review")
    assert first.status == 200 and 'name="token"' in body_of(first)
    signed_in = await console.call("POST", "/review/login", form={"token": reviewer})
    assert signed_in.status == 303
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/review" in cookie
    page = body_of(await console.call("GET", "/review", cookie=reviewer))
    assert 'data-request-id="r1"' in page and 'data-request-id="g1"' not in page
    detail = body_of(await console.call("GET", "/review/item", cookie=reviewer, query={"tenant": "acme", "id": "r1"}))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "<script>alert" not in detail


async def test_a_client_token_cannot_sign_in_to_the_console(console: Console) -> None:
    reply = await console.call("POST", "/review/login", form={"token": token(console, "acme_client")})
    assert reply.status == 403 and "Set-Cookie" not in reply.headers
    assert console.refusals("api.refused")[0]["details"]["reason"] == "wrong_scope"


async def test_a_form_decision_without_the_csrf_value_is_refused(console: Console) -> None:
    reviewer = token(console, "acme_reviewer")
    form = {"tenant": "acme", "request_id": "r1", "action": "approve"}
    forged = await console.call("POST", "/review/decide", cookie=reviewer, form={**form, "csrf": "0" * 32})
    assert forged.status == 403 and console.decisions == []
    assert console.refusals("api.refused")[0]["details"]["reason"] == "bad_csrf"
    done = await console.call("POST", "/review/decide", cookie=reviewer, form={**form, "csrf": csrf_value(reviewer)})
    assert done.status == 303 and done.headers["Location"].startswith("/review?done=r1")
    assert [d.action for d in console.decisions] == ["approve"]


async def test_a_reviewer_form_naming_another_tenant_is_refused(console: Console) -> None:
    reviewer = token(console, "globex_reviewer")
    form = {"tenant": "acme", "request_id": "r1", "action": "approve", "csrf": csrf_value(reviewer)}
    reply = await console.call("POST", "/review/decide", cookie=reviewer, form=form)
    assert reply.status == 403 and console.decisions == []


async def test_a_revoked_token_in_the_cookie_signs_the_reviewer_out(console: Console, tmp_path: Path) -> None:
    reviewer = token(console, "acme_reviewer")
    TokenStore(tmp_path / "api-tokens.json").revoke(console.tokens["acme_reviewer"].entry.token_id)
    reply = await console.call("GET", "/review", cookie=reviewer)
    assert reply.status == 401 and "Max-Age=0" in reply.headers["Set-Cookie"]


async def test_what_a_reviewer_types_is_de_identified_before_it_is_written(console: Console) -> None:
    reviewer = token(console, "acme_reviewer")
    body = {"request_id": "r1", "action": "edit", "text": "Call us on 13812345678."}
    assert (await console.call("POST", "/review/api/decide", token=reviewer, body=body)).status == 202
    body = {"request_id": "r2", "action": "reject", "reason": "customer 13912345678 is known to us"}
    assert (await console.call("POST", "/review/api/decide", token=reviewer, body=body)).status == 202
    assert [d.text or d.reason for d in console.decisions] == [
        "Call us on <CN_MOBILE>.",
        "customer <CN_MOBILE> is known to us",
    ]


async def test_an_explanation_that_cannot_be_made_is_a_clear_page_and_an_audit_event(console: Console) -> None:
    def gone(tenant: str, request_id: str) -> str:
        raise LookupError(f"no context kept for request {request_id!r} of tenant {tenant!r}")

    assert console.services.review is not None
    console.services.review.explain = gone
    reviewer = token(console, "acme_reviewer")
    reply = await console.call("GET", "/review/explain", cookie=reviewer, query={"tenant": "acme", "id": "r1"})
    assert reply.status == 404 and "no context kept for request" in body_of(reply)
    (event,) = console.refusals("explain.refused")
    assert event["details"]["reason"] == "explain_failed" and console.decisions == []


async def test_another_tenants_reviewer_gets_no_explanation_of_an_item(console: Console) -> None:
    explained: list[tuple[str, str]] = []

    def explain(tenant: str, request_id: str) -> str:
        explained.append((tenant, request_id))
        return "<html>report</html>"

    assert console.services.review is not None
    console.services.review.explain = explain
    intruder = token(console, "globex_reviewer")
    named = await console.call("GET", "/review/explain", cookie=intruder, query={"tenant": "acme", "id": "r1"})
    unnamed = await console.call("GET", "/review/explain", cookie=intruder, query={"id": "r1"})
    assert (named.status, unnamed.status) == (403, 404) and explained == []
    own = await console.call("GET", "/review/explain", cookie=token(console, "acme_reviewer"), query={"id": "r1"})
    assert own.status == 200 and explained == [("acme", "r1")]
