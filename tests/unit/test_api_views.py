"""The Faust views hand aiohttp's requests to the API unchanged: headers, repeated query parameters and the body,
and write its replies back with their status and headers (requests built in memory; no socket)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest import mock

import faust
import pytest
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from agents.api.auth import Authenticator
from agents.api.server import ApiServices, register_api
from agents.api.tokens import TokenStore
from tests.unit.embedding.fakes import MemoryStore, WordEmbedder, add


class Views:
    def __init__(self, tmp_path: Path) -> None:
        store, embedder = MemoryStore(), WordEmbedder()
        add(store, embedder, "acme", "a1", "acme invoice")
        tokens = TokenStore(tmp_path / "api-tokens.json")
        self.token = tokens.create("tenant", tenant="acme").token
        app = faust.App("api-views-unit", web_enabled=True, web_router_enabled=False, web_tables_enabled=False)
        auth = Authenticator(tokens, service_token=None, metrics_open=True)
        register_api(app, ApiServices(store, embedder, lambda: True, auth=auth))
        web: Any = app.web  # faust's aiohttp driver, which holds the aiohttp application
        web.init_server()
        self.web_app = web.web_app

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Any:
        payload = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
        payload.feed_data(body)
        payload.feed_eof()
        request = make_mocked_request(method, path, headers=headers, payload=payload, app=self.web_app)
        match = await self.web_app.router.resolve(request)
        request._match_info = match
        return await match.handler(request)


@pytest.fixture()
def views(tmp_path: Path) -> Views:
    return Views(tmp_path)


async def test_a_post_reaches_the_api_with_its_token_and_body(views: Views) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {views.token}"}
    response = await views.send("POST", "/search", headers, b'{"query": "invoice"}')
    assert response.status == 200 and b'"record_id":"a1"' in response.body


async def test_a_refusal_keeps_its_status_and_bearer_challenge(views: Views) -> None:
    response = await views.send("POST", "/search", {"Content-Type": "application/json"}, b'{"query": "invoice"}')
    assert response.status == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="sluice"'


async def test_repeated_query_parameters_reach_the_api_as_repeated(views: Views) -> None:
    headers = {"Authorization": f"Bearer {views.token}"}
    response = await views.send("GET", "/records?tenant=acme&tenant=globex", headers)
    assert response.status == 400 and b"more than once" in response.body


async def test_metrics_are_prometheus_text_and_health_is_open(views: Views) -> None:
    metrics = await views.send("GET", "/metrics", {})
    assert metrics.status == 200 and metrics.content_type == "text/plain"
    health = await views.send("GET", "/health", {})
    assert health.status == 200 and health.body == b'{"status":"ok","healthy":true}'
