"""The requests the demo and the benches put on the inference requests topic (no Kafka: the message alone)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from agents.demo.inference_client import request_message
from schemas.inference import InferenceRequest


def test_a_request_is_keyed_by_its_session_and_sends_only_what_was_given() -> None:
    key, value = request_message("r-1", "acme", "加急？", max_tokens=64, session_id="s-7")

    assert key == b"s-7"
    body = json.loads(value)
    assert body == {"request_id": "r-1", "tenant": "acme", "session_id": "s-7", "prompt": "加急？", "max_tokens": 64}
    assert InferenceRequest.model_validate(body).deadline_ms == 30_000  # the worker's default applies


def test_without_a_session_each_request_is_a_session_of_its_own() -> None:
    key, value = request_message("r-2", "bench-x", "When?", max_tokens=48, temperature=0.0, deadline_ms=600_000)

    assert key == b"r-2-s"
    body = json.loads(value)
    assert body["session_id"] == "r-2-s"
    assert body["temperature"] == 0.0 and body["deadline_ms"] == 600_000


@pytest.mark.parametrize(
    "changes",
    [{"tenant": "acme@corp"}, {"max_tokens": 0}, {"deadline_ms": 600_001}, {"prompt": ""}],
)
def test_a_request_the_contract_refuses_is_never_sent(changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"request_id": "r-3", "tenant": "acme", "prompt": "Hi", "max_tokens": 4, **changes}

    with pytest.raises(ValidationError):
        request_message(**arguments)


def test_partials_are_deduplicated_by_seq_and_a_gap_or_late_one_is_noticed() -> None:
    from agents.demo.inference_client import Partials

    partials = Partials()
    for arrived, seq, text in [(1.0, 0, "a "), (2.0, 1, "b "), (3.0, 1, "b "), (4.0, 3, "d ")]:
        partials.add(arrived, {"request_id": "r", "status": "partial", "seq": seq, "text": text})
    assert partials.text("r") == "a b " and partials.first_at["r"] == 1.0
    assert partials.out_of_order == {"r"}  # seq 3 came before 2
    ordered = Partials()
    for seq in range(3):
        ordered.add(float(seq), {"request_id": "q", "seq": seq, "text": f"{seq} "})
    assert ordered.text("q") == "0 1 2 " and not ordered.out_of_order
