"""`sluice bench eos`: what exactly-once costs against at-least-once, interleaved in one run on one broker.

The machine is shared and noisy, so the two guarantees are measured in alternating rounds (ALO, EOS, ALO, EOS, …)
and compared by their medians. Before each round the workers (not the broker) are stopped and started again with
`SLUICE_PROCESSING_GUARANTEE` set for them, warmed up, and then given the same work as every other round, under a
fresh tenant: the ingest bench's records end to end (produce → acknowledgement on records.indexed.v1 seen by a
read_committed reader) and the inference bench's saturating load.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from agents.bench.common import cpu_reading, cpu_used, write_result
from agents.bench.eos_summary import SHORT, Guarantee, RoundResult, format_table, interleaved, summarise
from agents.bench.ingest import ingest_end_to_end
from agents.bench.load import WARMUP_REQUESTS, bench_client, saturating_load_with_latencies
from agents.bench.versions import Versions, ensure_models, switch_to
from agents.bench.workload import MAX_TOKENS, workload
from agents.core.kafka_io import TopicFollower
from agents.core.settings import Settings
from agents.demo.data import DemoGenerator
from agents.processes import runtime
from agents.processes.broker import LocalBroker, resolve_bootstrap_servers
from agents.tools.stats import latency_summary, middle_rate, rate, ratio
from topics.specs import RECORDS_INDEXED

WARMUP_RECORDS = 12
# A healthy worker answers the warm-up in seconds and the load within a minute; longer means a lost request.
WARMUP_TIMEOUT_S = 90.0
SEED = 11  # the ingest bench's seed: every round ingests the same events, only ids and tenant differ


def restart_workers(settings: Settings, bootstrap: str, mode: Guarantee) -> dict[str, Any]:
    """Restart the workers under `mode`, their log lines indented under the round's heading."""
    return runtime.restart_workers(settings, bootstrap, mode, log=lambda line: print(f"  {line}", flush=True))


def worker_restarts(settings: Settings) -> dict[str, int]:
    """How often the keep-alive supervisor has restarted each worker slot, from its log (grows across runs)."""
    counts: dict[str, int] = {}
    for slot in runtime.planned_workers(settings):
        try:
            text = (settings.run_dir / f"{slot}.log").read_text(errors="replace")
        except OSError:
            continue
        counts[slot] = text.count('"worker_restarting"')
    return counts


def run_round(
    settings: Settings,
    bootstrap: str,
    number: int,
    mode: Guarantee,
    *,
    records: int,
    prompts: Sequence[str],
    versions: Versions,
    run_id: str,
    timeout_s: float,
) -> RoundResult:
    """Restart the workers under `mode`, warm them up, then time the ingest and the inference workload."""
    print(f"== round {number}, {mode}: restarting the workers ==", flush=True)
    started = time.monotonic()
    state = restart_workers(settings, bootstrap, mode)
    restart_s = time.monotonic() - started
    tag = f"{run_id}-{number}{SHORT[mode].lower()}"
    # Fresh tenants per round and mode, so no output of one round counts for another. Requests ask as a tenant
    # with no records, as in the inference bench: retrieval finds nothing and every round renders the same
    # prompts (asking as the ingest tenant would put its just-indexed records into the prompts).
    tenant = f"bench-{tag}"
    asking_tenant = f"bench-{tag}-ask"
    pids: dict[str, list[int]] = {}  # by role: several de-identification workers count as one role
    for process in state["processes"]:
        pids.setdefault(str(process["role"]), []).append(int(process["pid"]))
    broker = None if settings.kafka_bootstrap_servers else LocalBroker(settings).state()
    if broker is not None:
        pids["broker"] = [broker.pid]
    pids["bench-client"] = [os.getpid()]

    restarts_before = worker_restarts(settings)
    follower = TopicFollower(bootstrap, [RECORDS_INDEXED.name], settings.kafka_client_config())
    client = bench_client(settings, bootstrap, asking_tenant)
    probes = (f"{tag}-probe-{i}" for i in range(10_000))
    try:
        print(f"== round {number}, {mode}: warming up ==", flush=True)
        warm_started = time.monotonic()
        follower.poll(1.0)
        warm_tenant = f"{tenant}-warm"
        warm = DemoGenerator(seed=SEED, tenants=(warm_tenant,), run_id=f"{tag}w").stream(
            events=WARMUP_RECORDS, broken=0
        )
        ingest_end_to_end(settings, bootstrap, follower, warm.messages, warm_tenant, desc="warm-up")
        # The inference worker answers once it has read the registry and loaded the model.
        switch_to(settings, bootstrap, client, versions.name, versions.int8, lambda: next(probes))
        _, warm_answered = saturating_load_with_latencies(
            client, prompts[:WARMUP_REQUESTS], f"{tag}-warm", WARMUP_TIMEOUT_S, partial=True
        )
        warm_ids = {f"{tag}-warm-{i}" for i in range(min(WARMUP_REQUESTS, len(prompts)))}
        warmup_missing = sorted(warm_ids - set(warm_answered))
        warmup_s = time.monotonic() - warm_started

        print(f"== round {number}, {mode}: ingest, {records} records end to end ==", flush=True)
        stream = DemoGenerator(seed=SEED, tenants=(tenant,), run_id=tag).stream(events=records, broken=0)
        cpu_before = cpu_reading(pids)
        run = ingest_end_to_end(settings, bootstrap, follower, stream.messages, tenant)
        ingest_cpu = cpu_used(pids, cpu_before)
        ingest = {
            "records": records,
            "acks": len(run.acknowledged),
            "ack_messages": run.ack_messages,
            "seconds": round(run.seconds, 2),
            "records_per_s": rate(len(run.acknowledged), run.seconds),
            "steady_records_per_s": middle_rate(run.arrivals_s),
            "latency_ms": latency_summary([s * 1000 for s in run.latencies_s], (50, 95)),
        }
        print(f"  {ingest['records_per_s']} records/s, {ingest['acks']} acknowledged", flush=True)

        print(f"== round {number}, {mode}: inference, {len(prompts)} requests at once ==", flush=True)
        cpu_before = cpu_reading(pids)
        # partial: a request left unanswered is reported (responses < requests), not a failed bench.
        load, answered = saturating_load_with_latencies(client, prompts, f"{tag}-load", timeout_s, partial=True)
        inference_cpu = cpu_used(pids, cpu_before)
        inference = {
            "requests": load["requests"],
            "responses": load["responses"],
            "by_status": load["by_status"],
            "tokens": load["tokens"],
            "seconds": load["seconds"],
            "tokens_per_s": load["tokens_per_s"],
            "requests_per_s": ratio(load["responses"], load["seconds"]),  # 3 places, None without time
            "mean_batch_size": load["mean_batch_size"],
            "latency_ms": latency_summary(list(answered.values()), (50, 95)),
            "missing": sorted({f"{tag}-load-{i}" for i in range(len(prompts))} - set(answered)),
        }
        print(f"  {inference['tokens_per_s']} tokens/s, {inference['by_status']}", flush=True)
    finally:
        follower.close()
        client.close()
    return RoundResult(
        round=number,
        mode=mode,
        ingest=ingest,
        inference=inference,
        restart_seconds=round(restart_s, 1),
        warmup_seconds=round(warmup_s, 1),
        cpu_seconds={"ingest": ingest_cpu, "inference": inference_cpu},
        worker_restarts={
            slot: count - restarts_before.get(slot, 0)
            for slot, count in worker_restarts(settings).items()
            if count > restarts_before.get(slot, 0)
        },
        warmup_missing=warmup_missing,
    )


def run_eos_bench(settings: Settings, *, records: int = 600, requests: int = 32, rounds: int = 2) -> dict[str, Any]:
    """Every round of both guarantees, interleaved; writes var/bench/eos.json, prints a table and returns it."""
    bench_started = time.monotonic()
    order = interleaved(rounds)
    prompts = workload(requests)
    versions = ensure_models(settings)
    runtime.ensure_models(settings)
    if not settings.kafka_bootstrap_servers:
        LocalBroker(settings).up()
    bootstrap = resolve_bootstrap_servers(settings)
    run_id = f"eb{time.strftime('%H%M%S')}{uuid.uuid4().hex[:4]}"
    timeout_s = max(120.0, requests * 5.0)
    results: list[RoundResult] = []
    try:
        for number, mode in order:
            results.append(
                run_round(
                    settings,
                    bootstrap,
                    number,
                    mode,
                    records=records,
                    prompts=prompts,
                    versions=versions,
                    run_id=run_id,
                    timeout_s=timeout_s,
                )
            )
    finally:
        if order[-1][1] != settings.processing_guarantee or len(results) < len(order):
            # Leave the workers as `sluice up` would run them: under the configured guarantee.
            print(f"== restarting the workers under the configured {settings.processing_guarantee} ==", flush=True)
            restart_workers(settings, bootstrap, settings.processing_guarantee)

    result = summarise(results, records=records, requests=requests)
    result.update(
        {
            "max_tokens": MAX_TOKENS,
            "max_batch_size": settings.max_batch_size,
            "batch_size": settings.batch_size,
            "model": f"{versions.name}@{versions.int8}",
            "cpu_cores": os.cpu_count(),
            "bench_seconds": round(time.monotonic() - bench_started, 1),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    out = write_result(settings, "eos", result)
    print(format_table(result), flush=True)
    print(f"written to {out}", flush=True)
    return result
