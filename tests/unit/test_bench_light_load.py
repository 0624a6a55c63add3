"""The client-side figures of the inference bench, computed from what a fake client saw and when."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any

from agents.bench.light_load import light_load, multi_turn, past_deadline
from agents.demo.inference_client import Partials


class FakeClient:
    """Answers every request after a fixed delay; a partial arrives `first_s` after the produce."""

    max_tokens = 64

    def __init__(self, *, first_s: float, total_s: float, status: str = "ok") -> None:
        self.first_s, self.total_s, self.status = first_s, total_s, status
        self.partials = Partials()
        self.sent: list[tuple[bytes, bytes]] = []

    def ask_one(self, request_id: str, prompt: str, timeout_s: float) -> tuple[float, dict[str, Any]]:
        now = time.monotonic()
        self.partials.add(now + self.first_s, {"request_id": request_id, "seq": 0, "text": "Hi"})
        body = {"status": self.status, "tokens": {"prompt": 300, "completion": 10}, "time_to_first_token_ms": 120.0}
        return self.total_s * 1000, body

    def request(
        self, request_id: str, prompt: str, *, session_id: str | None = None, max_tokens: int | None = None
    ) -> tuple[bytes, bytes]:
        body = {"request_id": request_id, "session_id": session_id, "prompt": prompt, "deadline_ms": 600_000}
        return (session_id or request_id).encode(), json.dumps(body).encode()

    def send(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        self.sent.extend(messages)

    def collect(self, ids: Collection[str], timeout_s: float, desc: str, *, partial: bool = False) -> dict[str, Any]:
        arrived = time.monotonic() + self.total_s
        body = {"status": self.status, "tokens": {"prompt": 200, "completion": 24}, "batch_size": 4}
        return {request_id: (arrived, body) for request_id in ids}


def test_light_load_reports_first_token_and_total_as_the_client_saw_them() -> None:
    result = light_load(FakeClient(first_s=0.5, total_s=2.0), "run", 4, 10.0)  # type: ignore[arg-type]
    assert result["by_status"] == {"ok": 4} and result["requests_with_a_partial"] == 4
    assert 500 <= result["time_to_first_token_ms"]["p50"] < 600
    assert result["total_ms"] == {"p50": 2000.0, "p95": 2000.0}
    assert result["worker_time_to_first_token_ms"]["p50"] == 120.0 and result["prompt_tokens_mean"] == 300


def test_multi_turn_sends_every_turn_keyed_by_its_session_at_once() -> None:
    client = FakeClient(first_s=0.1, total_s=3.0)
    result = multi_turn(client, "run", 3, 4, 10.0)  # type: ignore[arg-type]
    assert result["requests"] == result["responses"] == 12 and len(client.sent) == 12
    assert {key for key, _ in client.sent} == {b"run-mt-0", b"run-mt-1", b"run-mt-2"}
    assert 3.0 <= result["seconds"] < 3.5 and result["by_status"] == {"ok": 12}
    assert result["prompt_tokens_mean"] == 200


def test_responses_are_measured_against_the_deadline_the_requests_carried() -> None:
    client = FakeClient(first_s=0.1, total_s=2.0, status="timeout")
    result = past_deadline(client, "run", ["a", "b"], 1500, 10.0)  # type: ignore[arg-type]
    assert all(json.loads(value)["deadline_ms"] == 1500 for _, value in client.sent)
    assert 500 <= result["visible_after_deadline_ms"]["p99"] < 700  # 2 s after the produce, 1.5 s deadline
    assert result["by_status"] == {"timeout": 2}
