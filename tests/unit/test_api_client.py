"""IndexApi, the one client of the worker's API: it sends its token as a bearer token and JSON as JSON."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agents.api.client import IndexApi, IndexApiError, IndexApiRetriever
from agents.processes.runtime import reachable_url

TOKEN = "sluice_0123456789ab_" + "S" * 43


class Recorded:
    def __init__(self, status: int = 200, reply: Any = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.reply = reply if reply is not None else {"hits": []}

    def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        request = httpx.Request(
            method, url, json=kwargs.get("json"), params=kwargs.get("params"), headers=kwargs.get("headers")
        )
        self.requests.append(request)
        return httpx.Response(self.status, json=self.reply, request=request)


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    recorded = Recorded()
    monkeypatch.setattr("agents.api.client.httpx.request", recorded)
    return recorded


def test_calls_carry_the_token_as_a_bearer_token_and_posts_are_json(sent: Recorded) -> None:
    IndexApi("http://127.0.0.1:6066", token=TOKEN).search("acme", "invoice", 3)
    [request] = sent.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"


def test_without_a_token_no_authorization_header_is_sent(sent: Recorded) -> None:
    sent.reply = {"total": 0, "chunks": 0, "records": []}
    IndexApi("http://127.0.0.1:6066").records("acme")
    assert "Authorization" not in sent.requests[0].headers


def test_a_refusal_is_an_error_with_its_status_and_the_apis_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agents.api.client.httpx.request", Recorded(403, {"error": "this token belongs to another"}))
    with pytest.raises(IndexApiError, match="another") as raised:
        IndexApi("http://127.0.0.1:6066", token=TOKEN).forget("globex", "<CN_MOBILE_49e582b863>")
    assert raised.value.status == 403


def test_the_token_never_shows_in_the_clients_repr() -> None:
    assert TOKEN not in repr(IndexApi("http://127.0.0.1:6066", token=TOKEN))


def test_retrieval_refused_by_the_api_answers_without_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agents.api.client.httpx.request", Recorded(401, {"error": "the token is not valid"}))
    assert IndexApiRetriever(IndexApi("http://127.0.0.1:6066", token=TOKEN)).retrieve("acme", "q", 3) == []


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:6066"),
        ("0.0.0.0", "http://127.0.0.1:6066"),
        ("::", "http://[::1]:6066"),
        ("::1", "http://[::1]:6066"),
        ("10.0.0.5", "http://10.0.0.5:6066"),
        ("sluice.internal", "http://sluice.internal:6066"),
    ],
)
def test_callers_on_this_machine_reach_the_api_where_it_is_bound(bind: str, url: str) -> None:
    assert reachable_url(bind, 6066) == url
