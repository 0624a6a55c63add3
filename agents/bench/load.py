"""Load on Sluice's inference flow through Kafka, as the benches apply it: requests produced at once, timed from
the first produce to each response."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from agents.bench.workload import MAX_TOKENS
from agents.core.settings import Settings
from agents.demo.inference_client import InferenceClient
from agents.tools.stats import mean, rate

# Requests are produced all at once; a deadline this long means a slow machine shows up as a low rate, not
# as timeouts (the schema's maximum).
DEADLINE_MS = 600_000
WARMUP_REQUESTS = 4


def bench_client(settings: Settings, bootstrap: str, tenant: str) -> InferenceClient:
    """The benches' client: greedy, MAX_TOKENS new tokens, and a deadline no queue reaches."""
    return InferenceClient(settings, bootstrap, tenant, max_tokens=MAX_TOKENS, temperature=0.0, deadline_ms=DEADLINE_MS)


def saturating_load(client: InferenceClient, prompts: Sequence[str], prefix: str, timeout_s: float) -> dict[str, Any]:
    """All requests produced at once; from the first produce to the last response."""
    return saturating_load_with_latencies(client, prompts, prefix, timeout_s)[0]


def saturating_load_with_latencies(
    client: InferenceClient, prompts: Sequence[str], prefix: str, timeout_s: float, *, partial: bool = False
) -> tuple[dict[str, Any], dict[str, float]]:
    """saturating_load's summary, and per request id answered its latency in ms (the first produce to its
    response). With `partial`, requests still unanswered after timeout_s are left out instead of failing."""
    messages = [client.request(f"{prefix}-{i}", p) for i, p in enumerate(prompts)]
    ids = {f"{prefix}-{i}" for i in range(len(prompts))}
    load = os.getloadavg()[0]
    started = time.monotonic()
    client.send(messages)
    desc = f"sluice {prefix.rsplit('-', 1)[-1]}"
    found = client.collect(ids, timeout_s, desc, partial=partial)
    if not found:  # partial or not, a load without a single response measured nothing
        raise client.timeout_error(desc, 0, len(ids), timeout_s)
    arrivals = sorted(arrived - started for arrived, _ in found.values())
    elapsed = arrivals[-1]
    size = client.settings.max_batch_size
    bodies = [body for _, body in found.values()]
    tokens = sum(int(b.get("tokens", {}).get("completion", 0)) for b in bodies)
    batch_sizes = [int(b.get("batch_size") or 0) for b in bodies]
    summary = {
        "requests": len(prompts),
        "responses": len(bodies),
        "by_status": dict(Counter(str(b.get("status")) for b in bodies)),
        "models": dict(Counter(str(b.get("model")) for b in bodies)),
        "tokens": tokens,
        "seconds": round(elapsed, 2),
        "tokens_per_s": rate(tokens, elapsed),
        "mean_batch_size": mean(batch_sizes),
        "mean_queued_ms": mean([float(b.get("timings_ms", {}).get("queued", 0)) for b in bodies], places=1),
        # When the 1st, max_batch_size-th, 2*max_batch_size-th... response arrived: the batches' cadence.
        "arrivals_s": [round(arrivals[i], 2) for i in range(0, len(arrivals), size)] + [round(arrivals[-1], 2)],
        "load_average_1m_before": round(load, 2),
    }
    return summary, {request_id: (arrived - started) * 1000 for request_id, (arrived, _) in found.items()}
