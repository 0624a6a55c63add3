"""The inference bench's client-side figures: light-load chat with retrieval (time to first token, total, prompt
tokens), short multi-turn sessions at once, and how far past its deadline a response becomes visible.

All of them are measured as a client sees them: from the monotonic time a request was produced to the arrival of
its first partial response (time to first token) or of its final response, read `read_committed`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from agents.bench.load import DEADLINE_MS
from agents.core.digests import keyed_digest
from agents.core.kafka_io import TopicFollower, produce_all
from agents.core.settings import Settings
from agents.demo.data import DemoGenerator
from agents.demo.inference_client import InferenceClient
from agents.tools.stats import latency_summary, mean, rate
from topics.specs import INGEST_DLQ, RECORDS_INDEXED

# Questions the seeded records can answer (the demo's data: ERP orders, CRM notes, logs), Chinese and English.
CHAT_QUESTIONS = (
    "客户投诉物流太慢，订单现在到哪里了？",
    "Which invoices mention a declined payment card?",
    "最近有哪些登录失败的告警？",
    "Is there any order with 阿莫西林 on it?",
    "有没有客户要求退款？",
    "Which services logged errors today?",
    "哪些订单还没有发货？",
    "What did the customer say about the delivery?",
)
# Follow-up turns of the multi-turn sessions: short, leaning on the history the worker keeps.
FOLLOW_UPS = (
    "能加急吗？",
    "Why?",
    "还有别的吗？",
    "Summarise that.",
    "谢谢，然后呢？",
    "Which one is the latest?",
    "好的。",
)
LIGHT_MAX_TOKENS = 64
TURN_MAX_TOKENS = 24
SEED_EVENTS = 120  # records for the light-load tenant, so its chat requests retrieve de-identified records
SHORT_DEADLINE_MS = 1500


def seed_tenant(settings: Settings, bootstrap: str, tenant: str, *, events: int, timeout_s: float) -> dict[str, Any]:
    """Produce `events` demo records for `tenant` (and its twin tenant, which the generator needs) and wait until
    they are indexed or dead-lettered, so chat requests of `tenant` retrieve real, de-identified records."""
    options = settings.kafka_client_config()
    tenants = (tenant, f"{tenant}-b")
    generator = DemoGenerator(seed=7, tenants=tenants, run_id=uuid.uuid4().hex[:6])
    messages = generator.stream(events=events, broken=0).messages
    # Dead letters name their source by the key's keyed digest: count only this run's.
    digest_key = settings.digest_secret()
    ours = {keyed_digest(digest_key, m.key) for m in messages if m.key}
    follower = TopicFollower(bootstrap, [RECORDS_INDEXED.name, INGEST_DLQ.name], options)
    while follower.poll(1.0):  # what earlier runs left on the topics is not this run's
        pass
    produce_all(bootstrap, ((m.topic, m.key, m.value) for m in messages), options=options)
    indexed = dead = 0
    deadline = time.monotonic() + timeout_s
    with tqdm(total=len(messages), unit="rec", desc="seeding the bench tenant", leave=False) as bar:
        while indexed + dead < len(messages) and time.monotonic() < deadline:
            for record in follower.poll(1.0):
                body = json.loads(record.value or b"{}")
                if record.topic == RECORDS_INDEXED.name and body.get("tenant") in tenants:
                    indexed += 1
                    bar.update(1)
                elif record.topic == INGEST_DLQ.name and body.get("key_sha256") in ours:
                    dead += 1
                    bar.update(1)
    follower.close()
    return {"produced": len(messages), "indexed": indexed, "dead_lettered": dead}


def light_load(client: InferenceClient, run_id: str, requests: int, timeout_s: float) -> dict[str, Any]:
    """One streamed chat request at a time (retrieval included): client-seen time to first token and total, the
    worker's own time to first token, and prompt tokens per request."""
    first: list[float] = []
    total: list[float] = []
    server_first: list[float] = []
    prompt_tokens: list[int] = []
    statuses: Counter[str] = Counter()
    for i in tqdm(range(requests), unit="req", desc="light load", leave=False):
        request_id = f"{run_id}-light-{i}"
        produced = time.monotonic()
        ms, body = client.ask_one(request_id, CHAT_QUESTIONS[i % len(CHAT_QUESTIONS)], timeout_s)
        statuses[str(body.get("status"))] += 1
        total.append(ms)
        arrived = client.partials.first_at.get(request_id)
        if arrived is not None:
            first.append((arrived - produced) * 1000)
        if isinstance(body.get("time_to_first_token_ms"), int | float):
            server_first.append(float(body["time_to_first_token_ms"]))
        prompt_tokens.append(int((body.get("tokens") or {}).get("prompt", 0)))
    return {
        "requests": requests,
        "max_tokens": client.max_tokens,
        "by_status": dict(statuses),
        "time_to_first_token_ms": latency_summary(first, (50, 95)),
        "total_ms": latency_summary(total, (50, 95)),
        "worker_time_to_first_token_ms": latency_summary(server_first, (50, 95)),
        "requests_with_a_partial": len(first),
        "prompt_tokens_mean": mean(prompt_tokens, places=1),
    }


def multi_turn(client: InferenceClient, run_id: str, sessions: int, turns: int, timeout_s: float) -> dict[str, Any]:
    """`sessions` × `turns` short chat requests produced at once, keyed by session (the worker answers a session's
    turns in order, each with the history before it): from the first produce to the last response."""
    messages = []
    ids = []
    for s in range(sessions):
        session = f"{run_id}-mt-{s}"
        for t in range(turns):
            request_id = f"{session}-{t}"
            question = CHAT_QUESTIONS[s % len(CHAT_QUESTIONS)] if t == 0 else FOLLOW_UPS[(s + t) % len(FOLLOW_UPS)]
            messages.append(client.request(request_id, question, session_id=session, max_tokens=TURN_MAX_TOKENS))
            ids.append(request_id)
    started = time.monotonic()
    client.send(messages)
    found = client.collect(set(ids), timeout_s, "multi-turn", partial=True)
    elapsed = max((arrived - started for arrived, _ in found.values()), default=0.0)
    bodies = [body for _, body in found.values()]
    tokens = sum(int((b.get("tokens") or {}).get("completion", 0)) for b in bodies)
    return {
        "sessions": sessions,
        "turns": turns,
        "requests": len(ids),
        "responses": len(found),
        "by_status": dict(Counter(str(b.get("status")) for b in bodies)),
        "seconds": round(elapsed, 2),
        "tokens_per_s": rate(tokens, elapsed),
        "prompt_tokens_mean": mean([int((b.get("tokens") or {}).get("prompt", 0)) for b in bodies]),
        "mean_batch_size": mean([int(b.get("batch_size") or 0) for b in bodies]),
    }


def past_deadline(
    client: InferenceClient, run_id: str, prompts: Sequence[str], deadline_ms: int, timeout_s: float
) -> dict[str, Any]:
    """All requests at once with a short deadline (saturation: many cannot make it): how long after its deadline
    each response became visible to the client (negative: before it), answers and timeouts alike."""
    messages = []
    for i, prompt in enumerate(prompts):
        key, value = client.request(f"{run_id}-dl-{i}", prompt)
        body = json.loads(value)
        body["deadline_ms"] = deadline_ms
        messages.append((key, json.dumps(body, ensure_ascii=False).encode()))
    ids = {f"{run_id}-dl-{i}" for i in range(len(prompts))}
    produced = time.monotonic()
    client.send(messages)
    found = client.collect(ids, timeout_s, "deadlines", partial=True)
    overshoot = [(arrived - produced) * 1000 - deadline_ms for arrived, _ in found.values()]
    return {
        "requests": len(prompts),
        "responses": len(found),
        "deadline_ms": deadline_ms,
        "by_status": dict(Counter(str(body.get("status")) for _, body in found.values())),
        "visible_after_deadline_ms": latency_summary(overshoot, (50, 99)),
        "max_after_deadline_ms": round(max(overshoot), 1) if overshoot else None,
    }


def client_side_figures(
    settings: Settings,
    bootstrap: str,
    run_id: str,
    prompts: Sequence[str],
    *,
    light_requests: int,
    seed_events: int,
    sessions: int,
    turns: int,
    timeout_s: float,
) -> dict[str, Any]:
    """Seed a tenant with records, then light load, multi-turn sessions and deadlines through a streaming client
    (Sluice must be up); {"light_load", "multi_turn", "multi_turn_without_records", "deadlines"}."""
    tenant = f"bench-{run_id}-rag"  # a tenant of its own, seeded with records: its chat requests retrieve
    print(f"== light load with retrieval: seeding {tenant} with {seed_events} records ==", flush=True)
    seeded = seed_tenant(settings, bootstrap, tenant, events=seed_events, timeout_s=timeout_s)
    print(f"  {seeded}", flush=True)
    client = InferenceClient(
        settings, bootstrap, tenant, max_tokens=LIGHT_MAX_TOKENS, temperature=0.0, stream=True, deadline_ms=DEADLINE_MS
    )
    try:
        print(f"== light load: {light_requests} streamed chat requests one at a time ==", flush=True)
        light = light_load(client, run_id, light_requests, timeout_s)
        print(f"  first token {light['time_to_first_token_ms']}, total {light['total_ms']}", flush=True)
        print(f"== multi-turn: {sessions} sessions x {turns} turns at once ==", flush=True)
        turns_result = multi_turn(client, run_id, sessions, turns, timeout_s)
        print(f"  {turns_result['seconds']} s, {turns_result['by_status']}", flush=True)
        # The same sessions for a tenant with no records: prompts are the chat turns alone (system prompt, history,
        # question), which shows what retrieval's records cost in prefill.
        print(f"== multi-turn without records: {sessions} sessions x {turns} turns at once ==", flush=True)
        bare = InferenceClient(
            settings, bootstrap, f"bench-{run_id}-bare", max_tokens=LIGHT_MAX_TOKENS, temperature=0.0, stream=True,
            deadline_ms=DEADLINE_MS,
        )  # fmt: skip
        try:
            bare_turns = multi_turn(bare, f"{run_id}-bare", sessions, turns, timeout_s)
        finally:
            bare.close()
        print(f"  {bare_turns['seconds']} s, {bare_turns['by_status']}", flush=True)
        print(f"== deadlines: {len(prompts)} requests at once with deadline_ms {SHORT_DEADLINE_MS} ==", flush=True)
        deadlines = past_deadline(client, run_id, prompts, SHORT_DEADLINE_MS, timeout_s)
        print(f"  visible after the deadline: {deadlines['visible_after_deadline_ms']}", flush=True)
    finally:
        client.close()
    return {
        "light_load": {**light, "seeded": seeded},
        "multi_turn": turns_result,
        "multi_turn_without_records": bare_turns,
        "deadlines": deadlines,
    }


def run_chat_bench(
    settings: Settings, *, requests: int, light_requests: int, sessions: int, turns: int
) -> dict[str, Any]:
    """`sluice bench chat`: the client-side figures alone (no engine, naive or float32 runs); var/bench/chat.json."""
    from agents.bench.common import write_result
    from agents.bench.load import WARMUP_REQUESTS, bench_client, saturating_load
    from agents.bench.workload import workload
    from agents.processes import runtime
    from agents.processes.broker import resolve_bootstrap_servers

    started = time.monotonic()
    prompts = workload(requests)
    timeout_s = max(600.0, requests * 10.0)
    print("== starting Sluice (broker, topics, workers) ==", flush=True)
    runtime.up(settings)
    bootstrap = resolve_bootstrap_servers(settings)
    run_id = f"cb{time.strftime('%H%M%S')}{uuid.uuid4().hex[:4]}"
    warm = bench_client(settings, bootstrap, f"bench-{run_id}")
    try:
        print(f"== warming up the worker ({WARMUP_REQUESTS} requests) ==", flush=True)
        saturating_load(warm, prompts[:WARMUP_REQUESTS], f"{run_id}-warm", timeout_s)
    finally:
        warm.close()
    result = client_side_figures(
        settings, bootstrap, run_id, prompts, light_requests=light_requests, seed_events=SEED_EVENTS,
        sessions=sessions, turns=turns, timeout_s=timeout_s,
    )  # fmt: skip
    result.update(
        requests=requests,
        max_batch_size=settings.max_batch_size,
        cpu_cores=os.cpu_count(),
        bench_seconds=round(time.monotonic() - started, 1),
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    write_result(settings, "chat", result)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result
