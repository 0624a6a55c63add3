"""The real index worker's API with tokens: 401 without one, 403 across tenants on every data route, a token's own
tenant works, a revocation holds from the next request on without a restart, and refusals reach the audit chain."""

from __future__ import annotations

from typing import Any

from agents.api.tokens import IssuedToken, TokenStore
from agents.core.settings import Settings
from tests.integration.conftest import api, api_call, wait_for
from tests.integration.helpers import event, produce, raw_values, values
from tests.integration.test_cli import sluice

SUBJECT = "<CN_MOBILE_49e582b863>"


def tenant_token(settings: Settings, tenant: str) -> IssuedToken:
    """A token of one tenant, made as `sluice tokens create --tenant` makes it, in the store the worker reads."""
    return TokenStore(settings.resolved_api_tokens_file).create("tenant", tenant=tenant, name="integration test")


def indexed(sluice_up: dict[str, Any], bootstrap: str, *tenants: str) -> None:
    """One CRM record per tenant, indexed (checked with the session's service credential)."""
    note = {"customer_id": "C-1", "channel": "phone", "notes": "invoice disputed"}
    produce(bootstrap, [("crm.events.v1", f"{t}-1".encode(), event(f"{t}-1", t, note)) for t in tenants])

    def all_indexed() -> bool:
        totals = [api(sluice_up["api_url"], f"/records?tenant={t}", token=sluice_up["api_token"]) for t in tenants]
        return all(page.get("total") == 1 for page in totals)

    wait_for(all_indexed, timeout_s=90)


def test_without_a_token_every_data_route_is_401_with_a_bearer_challenge_and_health_stays_open(
    sluice_up: dict[str, Any], tenant: str
) -> None:
    url = sluice_up["api_url"]
    for path, body in (
        ("/search", {"tenant": tenant, "query": "invoice"}),
        (f"/records?tenant={tenant}", None),
        ("/forget", {"tenant": tenant, "subject": SUBJECT}),
    ):
        status, headers, reply = api_call(url, path, body, token=None)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Bearer"), path
        assert "token" in reply["error"]
        status, headers, _ = api_call(url, path, body, token="sluice_0123456789ab_" + "A" * 43)
        assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    status, _, health = api_call(url, "/health", token=None)
    assert status == 200 and health == {"status": "ok", "healthy": True}


def test_a_tenant_token_sees_its_own_tenant_and_every_route_refuses_another(
    sluice_up: dict[str, Any], bootstrap: str, settings: Settings, tenant: str
) -> None:
    other = f"{tenant}x"
    indexed(sluice_up, bootstrap, tenant, other)
    mine = tenant_token(settings, tenant)
    url = sluice_up["api_url"]

    # Its own tenant, named or not.
    status, _, page = api_call(url, "/records", token=mine.token)
    assert status == 200 and page["total"] == 1
    own = {r["record_id"] for r in page["records"]}
    for body in ({"query": "invoice disputed"}, {"query": "invoice disputed", "tenant": tenant}):
        status, _, reply = api_call(url, "/search", body, token=mine.token)
        assert status == 200 and {h["record_id"] for h in reply["hits"]} == own

    # Another tenant, on every route: 403, and nothing of the other tenant is read or deleted.
    assert api_call(url, "/search", {"query": "invoice", "tenant": other}, token=mine.token)[0] == 403
    assert api_call(url, f"/records?tenant={other}", token=mine.token)[0] == 403
    assert api_call(url, "/forget", {"tenant": other, "subject": SUBJECT}, token=mine.token)[0] == 403
    theirs = api(url, f"/records?tenant={other}", token=sluice_up["api_token"])
    assert theirs["total"] == 1

    # Its own tenant's erasure works (nothing there names this subject).
    status, _, forgot = api_call(url, "/forget", {"subject": SUBJECT}, token=mine.token)
    assert status == 200 and forgot["tenant"] == tenant and forgot["chunks_deleted"] == 0

    # A POST that is not JSON is refused before it is read.
    assert api_call(url, "/search", {"query": "invoice"}, token=mine.token, content_type="text/plain")[0] == 415


def test_refusals_are_audited_in_the_chain_with_the_token_id_and_never_the_token(
    sluice_up: dict[str, Any], bootstrap: str, settings: Settings, tenant: str
) -> None:
    intruder = tenant_token(settings, f"{tenant}i")
    status, _, _ = api_call(
        sluice_up["api_url"], "/forget", {"tenant": tenant, "subject": SUBJECT}, token=intruder.token
    )
    assert status == 403

    def refused() -> list[dict[str, Any]]:
        return [e for e in values(bootstrap, "audit.events.v1", tenant=tenant) if e["event_type"] == "api.refused"]

    [event_] = wait_for(refused, timeout_s=60)
    assert event_["details"]["reason"] == "other_tenant" and event_["details"]["route"] == "/forget"
    assert event_["details"]["token_id"] == intruder.entry.token_id == event_["subject_id"]
    assert event_["details"]["token_tenant"] == f"{tenant}i"
    assert intruder.token not in "\n".join(raw_values(bootstrap, "audit.events.v1"))


def test_a_revoked_token_is_refused_without_restarting_the_worker(
    sluice_up: dict[str, Any], settings: Settings, tenant: str
) -> None:
    token = tenant_token(settings, tenant)
    url = sluice_up["api_url"]
    assert api_call(url, "/records", token=token.token)[0] == 200
    revoked = sluice("tokens", "revoke", token.entry.token_id)
    assert f"revoked API token {token.entry.token_id}" in revoked.stdout
    status, headers, _ = api_call(url, "/records", token=token.token)
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]


def test_the_cli_sends_sluice_api_token_and_without_one_is_told_401(
    sluice_up: dict[str, Any], settings: Settings, tenant: str
) -> None:
    created = sluice("tokens", "create", "--tenant", tenant, "--name", "cli test")
    token = created.stdout.strip()
    assert token and token not in created.stderr
    refused = sluice("search", "invoice", "--tenant", tenant, check=False, env={"SLUICE_API_TOKEN": ""})
    assert refused.returncode == 1 and "search failed (401)" in refused.stderr
    found = sluice("search", "invoice", "--tenant", tenant, env={"SLUICE_API_TOKEN": token})
    assert found.returncode == 0 and '"hits"' in found.stdout
    other = sluice("search", "invoice", "--tenant", f"{tenant}x", check=False, env={"SLUICE_API_TOKEN": token})
    assert other.returncode == 1 and "search failed (403)" in other.stderr
