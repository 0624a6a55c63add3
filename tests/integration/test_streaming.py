"""Streamed answers on the real broker: partials in order and exactly once, also across a SIGKILLed worker."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from agents.core.settings import Settings
from agents.processes import runtime
from agents.processes.broker import pid_alive
from tests.integration.conftest import wait_for
from tests.integration.helpers import worker_child

PHONE = "13812345678"
EMAIL = "zhang.wei@example.com"


def ask(bootstrap: str, requests: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for request in requests:
        key = (request.get("session_id") or request["request_id"]).encode()
        producer.produce("inference.requests.v1", key=key, value=json.dumps(request, ensure_ascii=False).encode())
    assert producer.flush(30) == 0


class Replies:
    """A read_committed consumer of inference.responses.v1 keeping every record of the test's requests, in order."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"t-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        self.consumer.subscribe(["inference.responses.v1"])
        self.seen: dict[str, list[dict[str, Any]]] = {}

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is None or message.error():
                continue
            body = json.loads(message.value())
            if body["request_id"].startswith(self.prefix):
                self.seen.setdefault(body["request_id"], []).append(body)

    def partials(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.seen.get(request_id, []) if r["status"] == "partial"]

    def finals(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.seen.get(request_id, []) if r["status"] != "partial"]

    def until_final(self, ids: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(self.finals(i) for i in ids):
            self.poll(0.5)
        self.poll(2.0)  # a duplicate, if there were one, would show up now
        assert all(self.finals(i) for i in ids), {i: len(self.finals(i)) for i in ids}

    def close(self) -> None:
        self.consumer.close()


def assert_streamed_once(replies: Replies, request_id: str) -> None:
    """Partials numbered 0..n in order, none twice; one final that their text begins; no raw PII anywhere."""
    records = replies.seen[request_id]
    finals = replies.finals(request_id)
    assert len(finals) == 1, f"{len(finals)} final responses for {request_id}"
    (final,) = finals
    assert records[-1] is final, "a partial arrived after the final response"
    seqs = [p["seq"] for p in replies.partials(request_id)]
    assert seqs == list(range(len(seqs))), f"partials of {request_id} out of order, repeated or missing: {seqs}"
    text = "".join(p["text"] for p in replies.partials(request_id))
    assert final["text"].startswith(text), (text, final["text"])
    assert final["status"] == "ok" and final["time_to_first_token_ms"] is not None
    assert final["time_to_first_token_ms"] <= final["timings_ms"]["total"]
    dumped = json.dumps(records, ensure_ascii=False)
    assert PHONE not in dumped and EMAIL not in dumped


def test_streamed_request_gets_ordered_partials_then_one_final_and_plain_one_gets_none(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    prefix = f"{tenant}-"
    streamed, plain = f"{prefix}stream", f"{prefix}plain"
    replies = Replies(bootstrap, prefix)
    try:
        ask(
            bootstrap,
            [
                {
                    "request_id": streamed,
                    "tenant": tenant,
                    "prompt": f"call me on {PHONE}",
                    "max_tokens": 400,
                    "stream": True,
                },
                {"request_id": plain, "tenant": tenant, "prompt": "hello there", "max_tokens": 60},
            ],
        )
        replies.until_final([streamed, plain], timeout_s=60)
    finally:
        replies.close()
    assert replies.partials(streamed), replies.seen[streamed]  # how many depends on speed, not on the contract
    assert_streamed_once(replies, streamed)
    assert replies.partials(plain) == [] and len(replies.finals(plain)) == 1
    assert replies.finals(plain)[0]["time_to_first_token_ms"] is not None


def inference_worker(settings: Settings) -> int:
    supervisor = next(p["pid"] for p in runtime.status(settings)["processes"] if p["role"] == "inference")
    pid: int = wait_for(lambda: worker_child(supervisor), timeout_s=30)
    return pid


@pytest.mark.resilience  # SIGKILLs the inference worker: `make test-resilience`
def test_streamed_partials_in_order_and_exactly_once_under_a_worker_kill(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    prefix = f"{tenant}-"
    # One session: its turns are answered one after another, so several long streams keep the worker generating.
    ids = [f"{prefix}r{i}" for i in range(6)]
    requests = [
        {
            "request_id": request_id,
            "tenant": tenant,
            "session_id": f"{tenant}-s",
            "prompt": f"question {i}: write to {EMAIL} or call {PHONE}",
            "max_tokens": 400,
            "stream": True,
            "deadline_ms": 120_000,
        }
        for i, request_id in enumerate(ids)
    ]
    replies = Replies(bootstrap, prefix)
    try:
        ask(bootstrap, requests)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(replies.partials(i) for i in ids):
            replies.poll(0.2)
        assert any(replies.partials(i) for i in ids), "no partial before the kill"
        pid = inference_worker(settings)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), timeout_s=20)
        wait_for(lambda: inference_worker(settings) != pid, timeout_s=30)
        replies.until_final(ids, timeout_s=120)
    finally:
        replies.close()
    for request_id in ids:
        assert_streamed_once(replies, request_id)
