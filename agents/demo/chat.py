"""The chat part of the demo: multi-turn sessions through Kafka, answers with citations, latency figures."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

from tqdm import tqdm

from agents.core.settings import Settings
from agents.demo.inference_client import InferenceClient
from agents.tools.stats import latency_summary, mean

# Turns per session: the later ones lean on the history the inference worker keeps in its table.
CONVERSATIONS = (
    ("客户投诉物流太慢，订单现在到哪里了？", "能加急吗？"),
    ("Which invoices mention a declined payment card?", "Summarise the latest one."),
    ("最近有哪些登录失败的告警？", "来自哪些地址？"),
    ("What are your office hours?",),
    ("Is there any order with 阿莫西林 on it?", "What dosage was noted?"),
    ("我们要起诉你们",),
)
MAX_TOKENS = 64


def run_chat_demo(
    settings: Settings, bootstrap: str, tenants: tuple[str, ...], *, timeout_s: float = 600.0
) -> dict[str, Any]:
    """Send every conversation (one turn per round, so a session's turns arrive in order), collect responses.
    Whatever is not answered within timeout_s in all is left out of the figures, not a failure of the demo."""
    run = uuid.uuid4().hex[:6]
    deadline = time.monotonic() + timeout_s
    # Streamed, as a chat UI would ask: the first words show while the rest is generated.
    client = InferenceClient(settings, bootstrap, tenants[0], max_tokens=MAX_TOKENS, stream=True)
    first_token: list[float] = []
    answers: dict[str, dict[str, Any]] = {}
    latencies: list[float] = []
    requests = 0
    try:
        # The inference worker may still be loading its model or restoring its tables when ingest is done: one
        # warm-up request first, so that the latencies below are the answers', not the start-up's.
        warmup_id = f"demo-{run}-warmup"
        with tqdm(total=1, unit="req", desc="inference worker ready") as ready:
            started = time.monotonic()
            client.send([client.request(warmup_id, "Hello", session_id=warmup_id, max_tokens=4)])
            client.collect({warmup_id}, deadline - time.monotonic(), "warm-up", partial=True, bar=ready)
        warmup_s = time.monotonic() - started

        rounds = max(len(c) for c in CONVERSATIONS)
        total = sum(len(c) for c in CONVERSATIONS) * len(tenants)
        with tqdm(total=total, unit="req", desc="chat responses") as bar:
            for turn in range(rounds):
                messages = {}
                for t_index, tenant in enumerate(tenants):
                    for c_index, conversation in enumerate(CONVERSATIONS):
                        if turn < len(conversation):
                            request_id = f"demo-{run}-{t_index}-{c_index}-{turn}"
                            session = f"demo-{run}-{t_index}-{c_index}"
                            messages[request_id] = client.request(
                                request_id, conversation[turn], tenant=tenant, session_id=session
                            )
                started = time.monotonic()
                client.send(list(messages.values()))
                requests += len(messages)
                found = client.collect(messages, deadline - time.monotonic(), "chat", partial=True, bar=bar)
                for request_id, (arrived, body) in found.items():
                    answers[request_id] = body
                    latencies.append((arrived - started) * 1000)
                    if (first := client.partials.first_at.get(request_id)) is not None:
                        first_token.append((first - started) * 1000)
    finally:
        client.close()
    show_answers(list(answers.values()))
    latency = latency_summary(latencies, (50, 99))
    return {
        "requests": requests,
        "warmup_s": round(warmup_s, 1),
        "responses": len(answers),
        "responses_by_status": dict(Counter(str(a["status"]) for a in answers.values())),
        "p50_ms": latency["p50"] or 0.0,
        "p99_ms": latency["p99"] or 0.0,
        # Client-seen, over the answers that streamed (policy answers, reviews and timeouts send no partial).
        "first_token_p50_ms": latency_summary(first_token, (50,))["p50"] or 0.0,
        "streamed": len(first_token),
        "mean_batch_size": mean([a["batch_size"] for a in answers.values() if a["batch_size"]]) or 0.0,
    }


def show_answers(answers: list[dict[str, Any]]) -> None:
    """A few answers from the model, and one that is not an ok answer, if any."""
    print("\n== a few answers ==")
    shown = [a for a in answers if a["status"] == "ok" and a.get("model") != "policy"][:3]
    shown += [a for a in answers if a["status"] != "ok"][:1]
    for answer in shown:
        text = answer["text"].replace("\n", " ")[:160]
        print(
            f"  [{answer['status']}] {answer['model']} {answer.get('variant') or ''} "
            f"batch={answer['batch_size']} citations={answer['citations']}\n     {text}"
        )
