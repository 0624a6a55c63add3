"""The chat part of the demo: multi-turn sessions through Kafka, answers with citations, latency figures."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer
from tqdm import tqdm

from agents.tools.ab_report import percentile

# Turns per session: the later ones lean on the history the inference worker keeps in its table.
CONVERSATIONS = (
    ("客户投诉物流太慢，订单现在到哪里了？", "能加急吗？"),
    ("Which invoices mention a declined payment card?", "Summarise the latest one."),
    ("最近有哪些登录失败的告警？", "来自哪些地址？"),
    ("What are your office hours?",),
    ("Is there any order with 阿莫西林 on it?", "What dosage was noted?"),
    ("我们要起诉你们",),
)


def run_chat_demo(bootstrap: str, tenants: tuple[str, ...], *, timeout_s: float = 600.0) -> dict[str, Any]:
    """Send every conversation (one turn per round, so a session's turns arrive in order), collect responses."""
    run = uuid.uuid4().hex[:6]
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sluice-demo-{run}",
            "auto.offset.reset": "latest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe(["inference.responses.v1"])
    consumer.poll(1.0)  # join the group before producing, so "latest" is before our requests
    producer = Producer({"bootstrap.servers": bootstrap})
    sent: dict[str, float] = {}
    answers: dict[str, dict[str, Any]] = {}
    latencies: list[float] = []
    rounds = max(len(c) for c in CONVERSATIONS)
    total = sum(len(c) for c in CONVERSATIONS) * len(tenants)
    deadline = time.monotonic() + timeout_s

    def ask(request_id: str, tenant: str, session: str, prompt: str, max_tokens: int) -> None:
        body = {"request_id": request_id, "tenant": tenant, "session_id": session, "prompt": prompt}
        producer.produce(
            "inference.requests.v1",
            key=session.encode(),
            value=json.dumps({**body, "max_tokens": max_tokens}, ensure_ascii=False).encode(),
        )
        sent[request_id] = time.monotonic()

    def collect(waiting: set[str], on_answer: Callable[[dict[str, Any]], object]) -> None:
        producer.flush(30)
        while waiting and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            body = json.loads(message.value() or b"{}")
            if body.get("request_id") in waiting:
                waiting.discard(body["request_id"])
                on_answer(body)

    # The inference worker may still be loading its model or restoring its tables when ingest is done: one
    # warm-up request first, so that the latencies below are the answers', not the start-up's.
    warmup_id = f"demo-{run}-warmup"
    with tqdm(total=1, unit="req", desc="inference worker ready") as ready:
        ask(warmup_id, tenants[0], f"demo-{run}-warmup", "Hello", 4)
        collect({warmup_id}, lambda _body: ready.update(1))
    warmup_s = time.monotonic() - sent.pop(warmup_id)

    def answered(body: dict[str, Any]) -> None:
        answers[body["request_id"]] = body
        latencies.append((time.monotonic() - sent[body["request_id"]]) * 1000)
        bar.update(1)

    with tqdm(total=total, unit="req", desc="chat responses") as bar:
        for turn in range(rounds):
            waiting = set()
            for t_index, tenant in enumerate(tenants):
                for c_index, conversation in enumerate(CONVERSATIONS):
                    if turn < len(conversation):
                        request_id = f"demo-{run}-{t_index}-{c_index}-{turn}"
                        ask(request_id, tenant, f"demo-{run}-{t_index}-{c_index}", conversation[turn], 64)
                        waiting.add(request_id)
            collect(waiting, answered)
    consumer.close()
    statuses: dict[str, int] = {}
    for answer in answers.values():
        statuses[answer["status"]] = statuses.get(answer["status"], 0) + 1
    batch_sizes = [a["batch_size"] for a in answers.values() if a["batch_size"]]
    print("\n== a few answers ==")
    shown = [a for a in answers.values() if a["status"] == "ok" and a.get("model") != "policy"][:3]
    shown += [a for a in answers.values() if a["status"] != "ok"][:1]
    for answer in shown:
        text = answer["text"].replace("\n", " ")[:160]
        print(
            f"  [{answer['status']}] {answer['model']} {answer.get('variant') or ''} "
            f"batch={answer['batch_size']} citations={answer['citations']}\n     {text}"
        )
    return {
        "requests": len(sent),
        "warmup_s": round(warmup_s, 1),
        "responses": len(answers),
        "responses_by_status": statuses,
        "p50_ms": round(percentile(latencies, 50) or 0, 1),
        "p99_ms": round(percentile(latencies, 99) or 0, 1),
        "mean_batch_size": round(sum(batch_sizes) / len(batch_sizes), 2) if batch_sizes else 0.0,
    }
