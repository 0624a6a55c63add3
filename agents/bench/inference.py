"""`sluice bench inference`: Sluice's generation path against the raw engine and a naive loop, measured in one run.

Every figure comes from the same run on the same machine, on one fixed workload of chat prompts:

- the raw engine alone (CTranslate2 int8 `generate_batch` in batches of `max_batch_size`): the limit;
- Sluice end to end through Kafka at saturating load, with the int8 and then the float32 version (hot switch);
- what a user would otherwise write (one prompt at a time through transformers float32 `generate`);
- client-measured latency at light load (one request at a time), without retrieval, and streamed with retrieval
  (time to first token, total, prompt tokens: agents/bench/light_load.py);
- short multi-turn sessions all at once, and how long after its deadline a response becomes visible.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from typing import Any

from tqdm import tqdm

from agents.bench.common import cpu_reading, cpu_used, each_process, peak_rss_mb, reset_peak_rss, rss_mb, write_result
from agents.bench.engines import measure_naive, measure_raw_engine
from agents.bench.light_load import SEED_EVENTS, client_side_figures
from agents.bench.load import WARMUP_REQUESTS, bench_client, saturating_load
from agents.bench.versions import ensure_models, model_bytes, switch_to
from agents.bench.workload import MAX_TOKENS, render_prompts, workload
from agents.core.settings import Settings
from agents.processes import runtime
from agents.processes.broker import resolve_bootstrap_servers
from agents.processes.supervise import worker_process
from agents.tools.stats import latency_summary, median, ratio
from schemas.errors import SluiceError

NAIVE_PROMPTS = 16
LATENCY_REQUESTS = 20


def run_inference_bench(
    settings: Settings,
    *,
    requests: int = 64,
    naive_prompts: int = NAIVE_PROMPTS,
    latency_requests: int = LATENCY_REQUESTS,
    light_requests: int = LATENCY_REQUESTS,
    seed_events: int = SEED_EVENTS,
    sessions: int = 15,
    turns: int = 8,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Run every measurement side by side, write var/bench/inference.json, print it and return it."""
    bench_started = time.monotonic()
    prompts = workload(requests)
    naive_prompts = min(naive_prompts, requests)
    versions = ensure_models(settings)
    sizes = model_bytes(settings, versions)
    load_timeout = timeout_s or max(600.0, requests * 10.0)

    print("== starting Sluice (broker, topics, workers) ==", flush=True)
    state = runtime.up(settings)
    inference_pids = [int(p["pid"]) for p in state["processes"] if p["role"] == "inference"]
    if not inference_pids:
        raise SluiceError(f"no inference worker is running for {versions.name}; see {settings.run_dir}")
    worker_pid = worker_process(inference_pids[0])  # the worker, not its keep-alive supervisor
    bootstrap = resolve_bootstrap_servers(settings)
    run_id = f"ib{time.strftime('%H%M%S')}{uuid.uuid4().hex[:4]}"
    tenant = f"bench-{run_id}"  # a fresh tenant: retrieval finds nothing, the prompt is the bare chat turn
    client = bench_client(settings, bootstrap, tenant)
    probes = (f"{run_id}-probe-{i}" for i in range(10_000))
    try:
        # The worker may still be consuming the registry topic or allocating on its first batch.
        switch_to(settings, bootstrap, client, versions.name, versions.int8, lambda: next(probes))
        # Loaded versions stay loaded: a worker that served float32 before still holds it (see rss at start).
        worker_rss_at_start = rss_mb(worker_pid)
        peak_reset = reset_peak_rss(worker_pid)
        print(f"== warming up the worker ({WARMUP_REQUESTS} requests) ==", flush=True)
        saturating_load(client, prompts[:WARMUP_REQUESTS], f"{run_id}-warm", load_timeout)

        print(
            f"== raw engine: CTranslate2 int8 generate_batch, {requests} prompts in batches of "
            f"{settings.max_batch_size} (workers idle) ==",
            flush=True,
        )
        from models.registry import open_generator

        renderer = open_generator(settings.resolved_registry_dir, versions.name, versions.int8, intra_threads=1)
        rendered = render_prompts(renderer, tenant, prompts)
        del renderer
        raw = measure_raw_engine(settings, versions, rendered)
        print(f"  {raw['tokens_per_s']} tokens/s", flush=True)

        print(f"== Sluice end to end, int8, {requests} requests at once ==", flush=True)
        processes = each_process(state)
        cpu_before = cpu_reading(processes)
        sluice = saturating_load(client, prompts, f"{run_id}-int8", load_timeout)
        cpu_by_process = cpu_used(processes, cpu_before)
        print(f"  {sluice['tokens_per_s']} tokens/s, {sluice['by_status']}", flush=True)

        print(f"== latency at light load: {latency_requests} requests one at a time ==", flush=True)
        latencies: list[float] = []
        server: dict[str, list[float]] = {"total": [], "queued": [], "generated": [], "outside_service": []}
        latency_status: Counter[str] = Counter()
        for i in tqdm(range(latency_requests), unit="req", desc="latency", leave=False):
            ms, body = client.ask_one(f"{run_id}-lat-{i}", prompts[i % len(prompts)], load_timeout)
            latencies.append(ms)
            latency_status[str(body.get("status"))] += 1
            timings = body.get("timings_ms") or {}
            for key in ("total", "queued", "generated"):
                server[key].append(float(timings.get(key, 0.0)))
            # Kafka both ways, Faust's micro-batching and the worker's consumption, as the client sees it.
            server["outside_service"].append(ms - float(timings.get("total", 0.0)))
        rss_int8 = peak_rss_mb(worker_pid)

        client_side = client_side_figures(
            settings, bootstrap, run_id, prompts, light_requests=light_requests, seed_events=seed_events,
            sessions=sessions, turns=turns, timeout_s=load_timeout,
        )  # fmt: skip

        print(f"== naive: transformers float32 generate, one prompt at a time, {naive_prompts} prompts ==", flush=True)
        naive = measure_naive(settings, rendered[:naive_prompts])
        print(f"  {naive['tokens_per_s']} tokens/s", flush=True)

        print(f"== Sluice end to end, float32 (hot switch to {versions.float32}) ==", flush=True)
        switch_s = switch_to(settings, bootstrap, client, versions.name, versions.float32, lambda: next(probes))
        print(f"  worker answers with float32 after {switch_s}s", flush=True)
        sluice_f32 = saturating_load(client, prompts, f"{run_id}-f32", load_timeout)
        print(f"  {sluice_f32['tokens_per_s']} tokens/s, {sluice_f32['by_status']}", flush=True)
    finally:
        try:
            switch_to(settings, bootstrap, client, versions.name, versions.int8, lambda: next(probes))
            print(f"  {versions.name}@{versions.int8} serves again", flush=True)
        except Exception as exc:  # do not hide what failed in the bench itself
            print(f"  WARNING: could not confirm that {versions.name}@{versions.int8} serves again: {exc}", flush=True)
        finally:
            client.close()

    result: dict[str, Any] = {
        "requests": requests,
        "responses": sluice["responses"],
        "responses_by_status": sluice["by_status"],
        "raw_engine_tokens_per_s": raw["tokens_per_s"],
        "sluice_tokens_per_s": sluice["tokens_per_s"],
        "naive_tokens_per_s": naive["tokens_per_s"],
        "sluice_float32_tokens_per_s": sluice_f32["tokens_per_s"],
        "ratio_vs_engine": ratio(sluice["tokens_per_s"], raw["tokens_per_s"]),
        "speedup_vs_naive": ratio(sluice["tokens_per_s"], naive["tokens_per_s"], places=2),
        "int8_vs_float32_tokens_per_s": ratio(sluice["tokens_per_s"], sluice_f32["tokens_per_s"], places=2),
        "mean_batch_fill": ratio(sluice["mean_batch_size"], settings.max_batch_size),
        "latency_ms": latency_summary(latencies),
        "latency_requests": latency_requests,
        "latency_by_status": dict(latency_status),
        "latency_server_ms_p50": {k: median(v, places=1) for k, v in server.items()},
        **client_side,
        "model_bytes": sizes,
        "int8_vs_float32_bytes": ratio(sizes["int8"], sizes["float32"]),
        "worker_peak_rss_mb": rss_int8,
        "worker_peak_rss_mb_after_float32": peak_rss_mb(worker_pid),
        "worker_rss_mb_at_start": worker_rss_at_start,
        "worker_peak_rss_reset_at_start": peak_reset,
        "end_to_end_cpu_seconds_by_process": cpu_by_process,
        "detail": {
            "raw_engine": raw,
            "sluice_int8": sluice,
            "sluice_float32": {**sluice_f32, "switch_seconds": switch_s},
            "naive": naive,
        },
        "models": {"int8": f"{versions.name}@{versions.int8}", "float32": f"{versions.name}@{versions.float32}"},
        "max_tokens": MAX_TOKENS,
        "max_batch_size": settings.max_batch_size,
        "max_wait_ms": settings.max_wait_ms,
        "generate_threads": settings.generate_threads,
        "cpu_cores": os.cpu_count(),
        "bench_seconds": round(time.monotonic() - bench_started, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_result(settings, "inference", result)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result
