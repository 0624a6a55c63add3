"""32K-token inputs (#12) on the real broker with the tiny model: a document answered map-reduce over windows, and
a record of that length de-identified and indexed in many chunks, with no dead letter."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tokenizers import Tokenizer

from tests.integration.conftest import TEST_MODELS, wait_for
from tests.integration.helpers import event, key_digest, produce, values
from tests.integration.test_inference_flow import ask, responses

TARGET_TOKENS = 32_000
ENGLISH = (
    "Customer Zhang Wei called about order SO-{i}; the parcel left the Wuhan depot late.",
    "Follow up with Mary Johnson at mary.johnson{i}@example.com before Friday.",
    "The road near the warehouse was closed for repairs, so delivery {i} slipped a day.",
)
CHINESE = ("客户张伟于{i}日来电投诉物流太慢，订单SO-{i}仍未送达。", "仓库附近道路维修，第{i}批货物延迟一天发出。")


def tiny_tokens(text: str) -> int:
    """Tokens as the session's tiny model counts them (the tokenizer its generator loads)."""
    tokenizer = Tokenizer.from_file(str(TEST_MODELS / "registry" / "tiny-llama" / "v1" / "tokenizer.json"))
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def long_text(sentences: tuple[str, ...], separator: str, tokens: int = TARGET_TOKENS) -> str:
    parts: list[str] = []
    while not parts or len(parts) % 50 or tiny_tokens(separator.join(parts)) < tokens:
        parts.append(sentences[len(parts) % len(sentences)].format(i=len(parts)))
    return separator.join(parts)


def test_a_32k_token_document_is_answered_over_windows_that_cover_it(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    document = long_text(ENGLISH, " ")
    assert TARGET_TOKENS <= tiny_tokens(document) <= 32_768  # SLUICE_MAX_INPUT_TOKENS: the default limit
    request_id = f"{tenant}-long"
    ask(
        bootstrap,
        [
            {
                "request_id": request_id,
                "tenant": tenant,
                "prompt": "Which orders left the Wuhan depot late?",
                "document": document,
                "task": "complete",
                "max_tokens": 8,
                # The tiny model has random weights: greedy, it writes only newlines, which count as no notes.
                "temperature": 1.0,
                "deadline_ms": 240_000,  # 2 shared cores: de-identifying the document alone takes seconds
            }
        ],
    )
    found = responses(bootstrap, request_id, 1, timeout_s=240)
    (answer,) = found[request_id]
    assert answer["status"] == "ok", answer["reason"]
    windows = answer["windows"]
    # The tiny model's context is 2,048 tokens: a 32K-token document takes well over a dozen windows.
    assert len(windows) >= 16 and [w["index"] for w in windows] == list(range(len(windows)))
    assert windows[0]["start_char"] == 0
    assert all(a["start_char"] < b["start_char"] <= a["end_char"] for a, b in itertools.pairwise(windows))
    assert any(w["used"] for w in windows)
    # One map job per window plus at least one reduce, each counted.
    assert answer["tokens"]["completion"] > 8 and answer["tokens"]["prompt"] > TARGET_TOKENS
    assert answer["batch_size"] > 1, "windows are batched together"
    # The document is de-identified before the model reads it, so the last window ends at the scrubbed length,
    # which the kept context holds.
    contexts = [c for c in values(bootstrap, "inference.context.v1", tenant=tenant) if c["request_id"] == request_id]
    assert contexts, "the request's context is kept"
    kept_document = contexts[-1]["messages"][-1]["content"]
    assert windows[-1]["end_char"] == len(kept_document)
    assert "mary.johnson1@example.com" not in json.dumps(contexts) and "Mary Johnson" not in kept_document


def test_32k_token_records_in_english_and_chinese_are_indexed_in_many_chunks_without_a_dead_letter(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    english = long_text(ENGLISH, " ")
    chinese = long_text(CHINESE, "")
    assert tiny_tokens(english) >= TARGET_TOKENS and tiny_tokens(chinese) >= TARGET_TOKENS
    produce(
        bootstrap,
        [
            (
                "crm.events.v1",
                b"long-en",
                event("long-en", tenant, {"customer_id": "C-1", "channel": "phone", "notes": english}),
            ),
            (
                "logs.events.v1",
                b"long-zh",
                event("long-zh", tenant, {"level": "INFO", "service": "delivery", "message": chinese}),
            ),
        ],
    )
    acks = wait_for(lambda: len(a := values(bootstrap, "records.indexed.v1", tenant=tenant)) >= 2 and a, timeout_s=180)
    assert {a["action"] for a in acks} == {"indexed"}
    # 480-character chunks (SLUICE_CHUNK_MAX_CHARS): over 100 for the English note, over 30 for the Chinese line.
    chunks = {a["lineage"]["event_id"]: a["chunks"] for a in acks}
    assert chunks["long-en"] > 100 and chunks["long-zh"] > 30, chunks
    letters = {key_digest(b"long-en"), key_digest(b"long-zh")}
    assert not [d for d in values(bootstrap, "ingest.dlq.v1") if d.get("key_sha256") in letters]
    deidentified = values(bootstrap, "records.deidentified.v1", tenant=tenant)
    assert len(deidentified) == 2 and all("mary.johnson1@example.com" not in r["text"] for r in deidentified)
