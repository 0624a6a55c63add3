"""`sluice search` and `sluice forget` call the worker through IndexApi; its failures read as one line, exit 1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from agents.api.client import IndexApi, IndexApiError, IndexApiUnreachableError
from agents.api.wire import SearchHit
from agents.cli import main

API_URL = "http://127.0.0.1:6066"
TOKEN = "sluice_0123456789ab_" + "T" * 43
# The Authorization header each call carried (None: none).
tokens: list[str | None] = []


@pytest.fixture(autouse=True)
def _fresh_tokens() -> None:
    tokens.clear()


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """A running worker as `sluice status` would report it; IndexApi's calls are recorded, not sent."""
    monkeypatch.setenv("SLUICE_PSEUDONYM_KEY", "cli-unit-test-pseudonym-key-0123456789")
    monkeypatch.setattr("agents.processes.runtime.status", lambda _settings: {"api_url": API_URL})
    monkeypatch.delenv("SLUICE_API_TOKEN", raising=False)
    recorded: list[tuple[str, tuple[Any, ...]]] = []

    def search(self: IndexApi, *args: Any) -> list[SearchHit]:
        recorded.append(("search", (self.url, *args)))
        tokens.append(self._headers.get("Authorization"))
        return [SearchHit("r-1", 0.12345678, "客户<PERSON_1>退货", {"source": "crm"})]

    def forget(self: IndexApi, *args: Any) -> dict[str, Any]:
        recorded.append(("forget", (self.url, *args)))
        tokens.append(self._headers.get("Authorization"))
        return {"tenant": args[0], "subject": args[1], "chunks_deleted": 3, "audit_event_id": "e-1"}

    monkeypatch.setattr(IndexApi, "search", search)
    monkeypatch.setattr(IndexApi, "forget", forget)
    return recorded


def failing(monkeypatch: pytest.MonkeyPatch, method: str, error: Exception) -> None:
    def fail(self: IndexApi, *args: Any) -> Any:
        raise error

    monkeypatch.setattr(IndexApi, method, fail)


def test_search_prints_the_api_reply_unchanged(calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    result = CliRunner().invoke(main, ["search", "退货", "--tenant", "acme", "-k", "3"])
    assert result.exit_code == 0, result.output
    assert calls == [("search", (API_URL, "acme", "退货", 3))]
    hit = {"record_id": "r-1", "score": 0.123457, "text": "客户<PERSON_1>退货", "lineage": {"source": "crm"}}
    assert result.stdout == json.dumps({"hits": [hit]}, indent=2, ensure_ascii=False) + "\n"


def test_forget_prints_what_was_deleted(calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    result = CliRunner().invoke(main, ["forget", "--tenant", "acme", "--subject", "<CN_MOBILE_49e582b863>"])
    assert result.exit_code == 0, result.output
    assert calls == [("forget", (API_URL, "acme", "<CN_MOBILE_49e582b863>"))]
    assert result.stdout == "forgot <CN_MOBILE_49e582b863> in tenant acme: 3 chunks deleted\n"


@pytest.mark.parametrize(
    ("command", "method"),
    [(["search", "q", "--tenant", "acme"], "search"), (["forget", "--tenant", "acme", "--subject", "<X>"], "forget")],
)
def test_an_error_reply_names_the_command_the_status_and_the_api_reason(
    calls: list[Any], monkeypatch: pytest.MonkeyPatch, command: list[str], method: str
) -> None:
    failing(monkeypatch, method, IndexApiError(f"/{method} failed (400): tenant must be 1-64 characters", status=400))
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {method} failed (400): tenant must be 1-64 characters\n"


@pytest.mark.parametrize("command", [["search", "q", "--tenant", "a"], ["forget", "--tenant", "a", "--subject", "<X>"]])
def test_a_worker_that_does_not_answer_says_to_start_sluice(
    calls: list[Any], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    error = IndexApiUnreachableError(f"no worker API at {API_URL} (ConnectError): run `sluice up` first")
    failing(monkeypatch, command[0], error)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1 and result.stderr == f"Error: {error}\n"


def test_no_known_worker_api_says_to_start_sluice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agents.processes.runtime.status", lambda _settings: {"api_url": None})
    result = CliRunner().invoke(main, ["forget", "--tenant", "acme", "--subject", "<X>"])
    assert result.exit_code == 1 and result.stderr == "Error: no worker API known: run `sluice up` first\n"


@pytest.mark.parametrize(
    "command", [["search", "q", "--tenant", "acme"], ["forget", "--tenant", "acme", "--subject", "<X>"]]
)
def test_the_token_comes_from_the_option_or_else_sluice_api_token(
    calls: list[Any], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    assert CliRunner().invoke(main, [*command, "--token", TOKEN]).exit_code == 0
    monkeypatch.setenv("SLUICE_API_TOKEN", "sluice_0123456789ab_" + "E" * 43)
    assert CliRunner().invoke(main, command).exit_code == 0
    assert CliRunner().invoke(main, [*command, "--token", TOKEN]).exit_code == 0
    assert tokens == [f"Bearer {TOKEN}", "Bearer sluice_0123456789ab_" + "E" * 43, f"Bearer {TOKEN}"]


def test_a_refused_token_reads_as_one_line_naming_the_status(calls: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    failing(monkeypatch, "search", IndexApiError("/search failed (401): the token is not valid", status=401))
    result = CliRunner().invoke(main, ["search", "q", "--tenant", "acme", "--token", TOKEN])
    assert result.exit_code == 1 and result.stderr == "Error: search failed (401): the token is not valid\n"
    assert TOKEN not in result.output
