"""Who may call the HTTP API and what they see: every refusal (401, 403, 415) touches no data, is audited as
`api.refused` with its reason, route and token id (never the token), and is counted; a token's own tenant works."""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agents.api.auth import SERVICE_TOKEN_ID, Authenticator, is_loopback
from agents.api.server import ApiReply, ApiRequest, ApiServices, handle
from agents.api.tokens import IssuedToken, TokenStore
from agents.core import metrics
from agents.core.audit import AuditEmitter
from models.store import StoredRecord as StoreRecord
from tests.unit.embedding.fakes import MemoryStore, WordEmbedder, add

SUBJECT = "<CN_MOBILE_49e582b863>"
SERVICE_TOKEN = "service-credential-of-this-test-0123456789abcdef"
Logs = list[MutableMapping[str, Any]]


class TenantStore(MemoryStore):
    """The search fake, also recording which tenant each listing and deletion ran for."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str] = []
        self.deleted: list[tuple[str, str]] = []

    def list_records(self, tenant: str, limit: int, offset: int) -> tuple[int, list[StoreRecord]]:
        self.listed.append(tenant)
        mine = sorted({r.record_id for r in self.rows.values() if r.tenant == tenant})
        return len(mine), [StoreRecord(record_id, "x", {}) for record_id in mine[offset : offset + limit]]

    def delete_subject(self, tenant: str, subject: str) -> int:
        self.deleted.append((tenant, subject))
        return 0

    @property
    def touched(self) -> bool:
        return bool(self.calls or self.listed or self.deleted)


class Sent:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.events.append(json.loads(value))


@dataclass
class Api:
    services: ApiServices
    store: TenantStore
    sent: Sent
    tokens: TokenStore
    acme: IssuedToken
    globex: IssuedToken
    admin: IssuedToken

    async def call(
        self,
        method: str,
        route: str,
        *,
        token: str | None = None,
        body: Any = None,
        query: tuple[tuple[str, str], ...] = (),
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> ApiReply:
        sent_headers = dict(headers or {})
        if token is not None:
            sent_headers["Authorization"] = f"Bearer {token}"
        if content_type is not None:
            sent_headers["Content-Type"] = content_type
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()

        async def read_body() -> bytes:
            self.bodies_read += 1
            return raw

        return await handle(self.services, ApiRequest(method, route, sent_headers, query, read_body))

    bodies_read: int = 0


def build(tmp_path: Path, *, bound_to: str = "127.0.0.1", audit_fails: bool = False) -> Api:
    embedder, store, sent = WordEmbedder(), TenantStore(), Sent(fail=audit_fails)
    add(store, embedder, "acme", "a1", "acme invoice for widgets")
    add(store, embedder, "globex", "g1", "globex invoice for widgets")
    tokens = TokenStore(tmp_path / "secrets" / "api-tokens.json")
    auth = Authenticator(tokens, service_token=SERVICE_TOKEN, metrics_open=is_loopback(bound_to))
    services = ApiServices(store, embedder, lambda: True, audit=AuditEmitter(sent), auth=auth)
    return Api(
        services,
        store,
        sent,
        tokens,
        tokens.create("tenant", tenant="acme", name="acme app"),
        tokens.create("tenant", tenant="globex"),
        tokens.create("admin", name="prometheus"),
    )


@pytest.fixture()
def api(tmp_path: Path) -> Api:
    return build(tmp_path)


@pytest.fixture()
def logs() -> Iterator[Logs]:
    with capture_logs() as captured:
        yield captured


def refusals(route: str, reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("sluice_api_refusals_total", {"route": route, "reason": reason}) or 0.0


def json_of(reply: ApiReply) -> dict[str, Any]:
    assert isinstance(reply.body, dict)
    return reply.body


def the_refusal(api: Api) -> dict[str, Any]:
    [event] = api.sent.events
    assert event["event_type"] == "api.refused" and event["stage"] == "api"
    return event


def never_shown(api: Api, reply: ApiReply, logs: Logs) -> None:
    """No token's secret in the reply, the audit stream or the logs."""
    written = json.dumps(reply.body if isinstance(reply.body, dict) else {}) + json.dumps(api.sent.events)
    written += json.dumps(logs, default=str)
    for issued in (api.acme, api.globex, api.admin):
        assert issued.token not in written
    assert SERVICE_TOKEN not in written


# --- 401: no token, a wrong one, a revoked one -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "route", "body", "query"),
    [
        ("POST", "/search", {"tenant": "acme", "query": "invoice"}, ()),
        ("GET", "/records", None, (("tenant", "acme"),)),
        ("POST", "/forget", {"tenant": "acme", "subject": SUBJECT}, ()),
    ],
)
async def test_no_token_is_401_with_a_bearer_challenge_and_touches_no_data(
    api: Api, logs: Logs, method: str, route: str, body: Any, query: tuple[tuple[str, str], ...]
) -> None:
    before = refusals(route, "missing_token")
    reply = await api.call(method, route, body=body, query=query)
    assert reply.status == 401 and reply.headers == {"WWW-Authenticate": 'Bearer realm="sluice"'}
    assert "sluice tokens create" in json_of(reply)["error"]
    assert not api.store.touched and api.bodies_read == 0
    event = the_refusal(api)
    assert event["details"]["reason"] == "missing_token" and event["details"]["route"] == route
    assert event["details"]["token_id"] is None and event["subject_id"] == "anonymous"
    assert refusals(route, "missing_token") == before + 1
    assert [line["event"] for line in logs] == ["api_refused"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer sluice_0123456789ab_" + "A" * 43,  # well formed, unknown id
        "Bearer nonsense",
        "Bearer " + SERVICE_TOKEN[:-1],
        "Basic YWNtZTpzZWNyZXQ=",  # another scheme is no bearer token
        "Bearer ",
    ],
)
async def test_an_unknown_token_is_401_invalid_token(api: Api, logs: Logs, authorization: str) -> None:
    reply = await api.call("POST", "/search", body={"query": "invoice"}, headers={"Authorization": authorization})
    assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert not api.store.touched
    assert the_refusal(api)["details"]["reason"] in {"unknown_token", "missing_token"}
    never_shown(api, reply, logs)


async def test_a_wrong_secret_under_a_real_token_id_is_401_and_the_audit_names_the_id(api: Api, logs: Logs) -> None:
    forged = api.acme.token[:-1] + ("B" if api.acme.token[-1] != "B" else "C")
    reply = await api.call("GET", "/records", token=forged, query=(("tenant", "acme"),))
    assert reply.status == 401 and 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    event = the_refusal(api)
    assert event["details"]["reason"] == "unknown_token" and event["details"]["token_id"] == api.acme.entry.token_id
    assert not api.store.touched
    never_shown(api, reply, logs)


async def test_a_revoked_token_is_refused_from_the_next_request_on(api: Api, logs: Logs) -> None:
    first = await api.call("POST", "/search", token=api.acme.token, body={"query": "invoice"})
    assert first.status == 200
    TokenStore(api.tokens.path).revoke(api.acme.entry.token_id)  # `sluice tokens revoke`, another process
    reply = await api.call("POST", "/search", token=api.acme.token, body={"query": "invoice"})
    assert reply.status == 401 and reply.body == {"error": "the token is not valid (unknown or revoked)"}
    event = the_refusal(api)
    assert event["details"]["reason"] == "revoked_token" and event["subject_id"] == api.acme.entry.token_id
    assert len(api.store.calls) == 1  # the first search only
    never_shown(api, reply, logs)


# --- 403: another tenant, the wrong kind of token ----------------------------------------------------------------


@pytest.mark.parametrize("named", ["globex", "GLOBEX", "acme ", 'acme" or tenant != "', "*", "", 42, ["acme"]])
async def test_a_tenant_token_naming_another_tenant_in_the_body_is_403_for_search(
    api: Api, logs: Logs, named: Any
) -> None:
    reply = await api.call("POST", "/search", token=api.acme.token, body={"tenant": named, "query": "invoice"})
    assert reply.status == 403 and "another tenant" in json_of(reply)["error"]
    assert not api.store.touched
    event = the_refusal(api)
    assert event["details"]["reason"] == "other_tenant" and event["details"]["token_tenant"] == "acme"
    assert event["details"]["token_id"] == api.acme.entry.token_id
    assert event["tenant"] == (named if named in ("globex", "GLOBEX") else None)  # only well-formed names are kept
    never_shown(api, reply, logs)


async def test_a_tenant_token_naming_another_tenant_is_403_for_forget_and_deletes_nothing(api: Api) -> None:
    reply = await api.call("POST", "/forget", token=api.acme.token, body={"tenant": "globex", "subject": SUBJECT})
    assert reply.status == 403 and api.store.deleted == []
    assert the_refusal(api)["tenant"] == "globex"


@pytest.mark.parametrize("named", ["globex", "acme,globex", "", "%"])
async def test_a_tenant_token_naming_another_tenant_in_the_query_is_403_for_records(api: Api, named: str) -> None:
    reply = await api.call("GET", "/records", token=api.acme.token, query=(("tenant", named),))
    assert reply.status == 403 and api.store.listed == []
    assert the_refusal(api)["details"]["route"] == "/records"


async def test_a_repeated_tenant_parameter_is_400_whichever_comes_first(api: Api) -> None:
    for query in ((("tenant", "acme"), ("tenant", "globex")), (("tenant", "globex"), ("tenant", "acme"))):
        reply = await api.call("GET", "/records", token=api.acme.token, query=query)
        assert reply.status == 400 and "more than once" in json_of(reply)["error"]
    assert api.store.listed == []


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [("POST", "/search", {"tenant": "acme", "query": "x"}), ("GET", "/records", None), ("POST", "/forget", {})],
)
async def test_an_admin_token_reads_no_data(api: Api, method: str, route: str, body: Any) -> None:
    reply = await api.call(method, route, token=api.admin.token, body=body, query=(("tenant", "acme"),))
    assert reply.status == 403 and not api.store.touched and api.bodies_read == 0
    assert the_refusal(api)["details"]["reason"] == "wrong_scope"


# --- 415: a POST that is not JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx"],
)
@pytest.mark.parametrize("route", ["/search", "/forget"])
async def test_a_post_without_json_content_type_is_415_and_its_body_is_not_read(
    api: Api, route: str, content_type: str | None
) -> None:
    body = {"tenant": "acme", "query": "invoice", "subject": SUBJECT}
    reply = await api.call("POST", route, token=api.acme.token, body=body, content_type=content_type)
    assert reply.status == 415 and api.bodies_read == 0 and not api.store.touched
    event = the_refusal(api)
    assert event["details"]["reason"] == "not_json" and event["details"]["token_id"] == api.acme.entry.token_id


async def test_json_with_a_charset_parameter_is_json(api: Api) -> None:
    reply = await api.call(
        "POST",
        "/search",
        token=api.acme.token,
        body={"query": "invoice"},
        content_type="Application/JSON; charset=utf-8",
    )
    assert reply.status == 200


# --- what a token's own tenant sees --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"query": "invoice"}, {"tenant": "acme", "query": "invoice"}])
async def test_a_tenant_token_searches_its_own_tenant_whether_or_not_it_names_it(api: Api, body: Any) -> None:
    reply = await api.call("POST", "/search", token=api.acme.token, body=body)
    assert reply.status == 200 and api.sent.events == []
    assert [hit["record_id"] for hit in json_of(reply)["hits"]] == ["a1"]
    assert [tenant for tenant, _ in api.store.calls] == ["acme"]


@pytest.mark.parametrize("query", [(), (("tenant", "globex"),)])
async def test_records_of_a_tenant_token_are_its_own(api: Api, query: tuple[tuple[str, str], ...]) -> None:
    reply = await api.call("GET", "/records", token=api.globex.token, query=query)
    assert reply.status == 200 and api.store.listed == ["globex"]
    assert [r["record_id"] for r in json_of(reply)["records"]] == ["g1"]


async def test_a_tenant_token_forgets_in_its_own_tenant(api: Api) -> None:
    reply = await api.call("POST", "/forget", token=api.acme.token, body={"subject": SUBJECT})
    assert reply.status == 200 and api.store.deleted == [("acme", SUBJECT)]
    [event] = api.sent.events
    assert event["event_type"] == "subject.forgotten" and event["tenant"] == "acme"


async def test_the_service_credential_names_any_tenant_and_must_name_one(api: Api) -> None:
    reply = await api.call("POST", "/search", token=SERVICE_TOKEN, body={"tenant": "globex", "query": "invoice"})
    assert reply.status == 200 and [tenant for tenant, _ in api.store.calls] == ["globex"]
    unnamed = await api.call("POST", "/search", token=SERVICE_TOKEN, body={"query": "invoice"})
    assert unnamed.status == 400 and "`tenant` is required" in json_of(unnamed)["error"]
    records = await api.call("GET", "/records", token=SERVICE_TOKEN)
    assert records.status == 400 and api.store.listed == []


async def test_a_service_token_from_the_store_works_like_the_configured_one(api: Api) -> None:
    issued = api.tokens.create("service", name="chat backend")
    reply = await api.call("GET", "/records", token=issued.token, query=(("tenant", "acme"),))
    assert reply.status == 200 and api.store.listed == ["acme"]
    assert issued.entry.token_id != SERVICE_TOKEN_ID


async def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    headers = {"authorization": f"bearer {api.acme.token}", "content-type": "application/json"}
    reply = await handle(api.services, ApiRequest("POST", "/search", headers, (), _body({"query": "invoice"})))
    assert reply.status == 200


def _body(body: Any) -> Any:
    async def read() -> bytes:
        return json.dumps(body).encode()

    return read


# --- health and metrics ------------------------------------------------------------------------------------------


async def test_health_is_open_and_says_only_whether_the_worker_is_ready(api: Api) -> None:
    reply = await api.call("GET", "/health")
    assert reply.status == 200 and reply.body == {"status": "ok", "healthy": True}
    api.services.is_ready = lambda: False
    assert (await api.call("GET", "/health")).status == 503
    assert api.sent.events == []


async def test_metrics_on_loopback_need_no_token(api: Api) -> None:
    reply = await api.call("GET", "/metrics")
    assert reply.status == 200 and isinstance(reply.body, bytes) and b"sluice_index_chunks 2.0" in reply.body


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "10.1.2.3", "sluice.internal"])
async def test_metrics_bound_beyond_loopback_need_an_admin_token(tmp_path: Path, bind: str) -> None:
    api = build(tmp_path, bound_to=bind)
    missing = await api.call("GET", "/metrics")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    tenant = await api.call("GET", "/metrics", token=api.acme.token)
    service = await api.call("GET", "/metrics", token=SERVICE_TOKEN)
    assert tenant.status == service.status == 403
    assert [e["details"]["reason"] for e in api.sent.events] == ["missing_token", "wrong_scope", "wrong_scope"]
    admin = await api.call("GET", "/metrics", token=api.admin.token)
    assert admin.status == 200 and isinstance(admin.body, bytes) and b"sluice_api_refusals_total" in admin.body


# --- refusals stand when the audit stream does not answer ------------------------------------------------------


async def test_a_refusal_whose_audit_event_fails_is_still_refused_and_logged(tmp_path: Path, logs: Logs) -> None:
    api = build(tmp_path, audit_fails=True)
    reply = await api.call("POST", "/forget", body={"tenant": "acme", "subject": SUBJECT})
    assert reply.status == 401 and api.store.deleted == []
    assert [line["event"] for line in logs] == ["api_refused", "api_refused_audit_failed"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("sluice.internal", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_an_unreadable_token_store_refuses_store_tokens_but_not_the_service_credential(
    api: Api, logs: Logs
) -> None:
    api.tokens.path.write_text("not json")
    reply = await api.call("GET", "/records", token=api.acme.token)
    assert reply.status == 503 and not api.store.touched
    assert the_refusal(api)["details"]["reason"] == "token_store_unreadable"
    assert "api_token_store_unreadable" in [line["event"] for line in logs]
    service = await api.call("GET", "/records", token=SERVICE_TOKEN, query=(("tenant", "acme"),))
    assert service.status == 200
