"""`sluice bench eos`: what exactly-once costs against at-least-once, interleaved in one run on one broker.

The machine is shared and noisy, so the two guarantees are measured in alternating rounds (ALO, EOS, ALO, EOS, …)
and compared by their medians. Before each round the workers (not the broker) are stopped and started again with
`SLUICE_PROCESSING_GUARANTEE` set for them, warmed up, and then given the same work as every other round, under a
fresh tenant: the ingest bench's records end to end (produce → acknowledgement on records.indexed.v1 seen by a
read_committed reader) and the inference bench's saturating load.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from agents.bench.inference import (
    MAX_TOKENS,
    WARMUP_REQUESTS,
    Client,
    Versions,
    ensure_models,
    percentile,
    saturating_load_with_latencies,
    switch_to,
    workload,
)
from agents.bench.ingest import cpu_seconds, ingest_end_to_end, write_result
from agents.core.kafka_io import TopicFollower
from agents.core.settings import Settings
from agents.demo.data import DemoGenerator
from agents.processes import runtime
from agents.processes.broker import LocalBroker, resolve_bootstrap_servers
from topics.specs import RECORDS_INDEXED

Guarantee = Literal["at_least_once", "exactly_once"]
MODES: tuple[Guarantee, Guarantee] = ("at_least_once", "exactly_once")
SHORT: dict[Guarantee, str] = {"at_least_once": "ALO", "exactly_once": "EOS"}
WARMUP_RECORDS = 12
# A healthy worker answers the warm-up in seconds and the load within a minute; longer means a lost request.
WARMUP_TIMEOUT_S = 90.0
SEED = 11  # the ingest bench's seed: every round ingests the same events, only ids and tenant differ


# --- pure parts ----------------------------------------------------------------------------------------------------
def interleaved(rounds: int, modes: Sequence[Guarantee] = MODES) -> list[tuple[int, Guarantee]]:
    """(round, mode) in run order: every round runs each mode once, so drift in the machine's load hits all alike."""
    if rounds < 1:
        raise ValueError(f"at least one round, asked for {rounds}")
    return [(number, mode) for number in range(1, rounds + 1) for mode in modes]


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator to 3 places; None where either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 3)


def p50_p95(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1)}


def middle_rate(arrivals_s: Sequence[float], share: float = 0.8) -> float | None:
    """Acknowledgements per second over the middle `share` of them: the rate without the start-up and the tail."""
    ordered = sorted(arrivals_s)
    first, last = round(len(ordered) * (1 - share) / 2), round(len(ordered) * (1 + share) / 2) - 1
    if last <= first or ordered[last] <= ordered[first]:
        return None
    return round((last - first) / (ordered[last] - ordered[first]), 2)


@dataclass(frozen=True)
class RoundResult:
    """One mode in one round. `ingest` and `inference` hold JSON-ready figures (see `run_round`)."""

    round: int
    mode: Guarantee
    ingest: dict[str, Any]
    inference: dict[str, Any]
    restart_seconds: float
    warmup_seconds: float
    cpu_seconds: dict[str, dict[str, float]]
    worker_restarts: dict[str, int]  # restarts by the keep-alive supervisor during the round, by worker slot
    warmup_missing: list[str]  # warm-up requests never answered


def _per_mode(rounds: Sequence[RoundResult], mode: Guarantee) -> dict[str, Any]:
    mine = [r for r in rounds if r.mode == mode]

    def series(part: str, key: str) -> dict[str, Any]:
        values = [getattr(r, part)[key] for r in mine]
        return {"rounds": values, "median": median([v for v in values if v is not None])}

    def latency(part: str) -> dict[str, float | None]:
        return {
            q: median([v for r in mine if (v := getattr(r, part)["latency_ms"][q]) is not None]) for q in ("p50", "p95")
        }

    return {
        "ingest_records_per_s": series("ingest", "records_per_s"),
        "ingest_steady_records_per_s": series("ingest", "steady_records_per_s"),
        "ingest_latency_ms": latency("ingest"),
        "inference_tokens_per_s": series("inference", "tokens_per_s"),
        "inference_requests_per_s": series("inference", "requests_per_s"),
        "inference_latency_ms": latency("inference"),
        "acks": [r.ingest["acks"] for r in mine],
        "ack_messages": [r.ingest["ack_messages"] for r in mine],
        "responses": [r.inference["responses"] for r in mine],
        "tokens": [r.inference["tokens"] for r in mine],
    }


def summarise(rounds: Sequence[RoundResult], *, records: int, requests: int) -> dict[str, Any]:
    """The bench's result: each round, per mode the rounds and their median, EOS/ALO of the medians, and whether
    every round did the same work (all records acknowledged once, every request answered ok)."""
    modes = {mode: _per_mode(rounds, mode) for mode in MODES}
    alo, eos = modes["at_least_once"], modes["exactly_once"]

    def eos_vs_alo(key: str) -> float | None:
        return ratio(eos[key]["median"], alo[key]["median"])

    token_counts = {r.inference["tokens"] for r in rounds}
    return {
        "records": records,
        "requests": requests,
        "rounds": max((r.round for r in rounds), default=0),
        "order": [f"{r.round}:{r.mode}" for r in rounds],
        "eos_vs_alo": {
            "ingest_records_per_s": eos_vs_alo("ingest_records_per_s"),
            "ingest_steady_records_per_s": eos_vs_alo("ingest_steady_records_per_s"),
            "inference_tokens_per_s": eos_vs_alo("inference_tokens_per_s"),
            "inference_requests_per_s": eos_vs_alo("inference_requests_per_s"),
        },
        "modes": modes,
        "same_work": {
            "ingest": bool(rounds) and all(r.ingest["acks"] == r.ingest["ack_messages"] == records for r in rounds),
            "inference": bool(rounds)
            and all(r.inference["by_status"] == {"ok": requests} for r in rounds)
            and all(r.inference["responses"] == requests for r in rounds),
            "inference_tokens_identical": len(token_counts) == 1,
        },
        "per_round": [asdict(r) for r in rounds],
    }


def _cell(value: float | None, width: int) -> str:
    return f"{'-' if value is None else value:>{width}}"


def _seconds(milliseconds: float | None, width: int) -> str:
    return _cell(None if milliseconds is None else round(milliseconds / 1000, 2), width)


def format_table(result: Mapping[str, Any]) -> str:
    """A compact table: one line per round, then the medians per mode and the EOS/ALO ratios."""
    head = (
        f"{'round':<7}{'mode':<5}{'ingest rec/s':>13}{'steady':>8}{'p50 s':>8}{'p95 s':>8}{'acks':>6}"
        f"{'tok/s':>9}{'req/s':>7}{'p50 s':>8}{'p95 s':>8}{'ok':>5}{'restarts':>10}"
    )
    lines = [head]

    def line(
        label: str, mode: Guarantee, ingest: Mapping[str, Any], inference: Mapping[str, Any], restarts: int | None
    ) -> str:
        return (
            f"{label:<7}{SHORT[mode]:<5}{_cell(ingest['rate'], 13)}{_cell(ingest['steady'], 8)}"
            f"{_seconds(ingest['p50'], 8)}{_seconds(ingest['p95'], 8)}{_cell(ingest['count'], 6)}"
            f"{_cell(inference['rate'], 9)}{_cell(inference['requests'], 7)}{_seconds(inference['p50'], 8)}"
            f"{_seconds(inference['p95'], 8)}{_cell(inference['count'], 5)}{_cell(restarts, 10)}"
        )

    for r in result["per_round"]:
        ingest, inference = r["ingest"], r["inference"]
        lines.append(
            line(
                str(r["round"]),
                r["mode"],
                {
                    "rate": ingest["records_per_s"],
                    "steady": ingest["steady_records_per_s"],
                    **ingest["latency_ms"],
                    "count": ingest["acks"],
                },
                {
                    "rate": inference["tokens_per_s"],
                    "requests": inference["requests_per_s"],
                    **inference["latency_ms"],
                    "count": inference["by_status"].get("ok", 0),
                },
                sum(r["worker_restarts"].values()),
            )
        )
    for mode in MODES:
        m = result["modes"][mode]
        lines.append(
            line(
                "median",
                mode,
                {
                    "rate": m["ingest_records_per_s"]["median"],
                    "steady": m["ingest_steady_records_per_s"]["median"],
                    **m["ingest_latency_ms"],
                    "count": None,
                },
                {
                    "rate": m["inference_tokens_per_s"]["median"],
                    "requests": m["inference_requests_per_s"]["median"],
                    **m["inference_latency_ms"],
                    "count": None,
                },
                None,
            )
        )
    ratios = result["eos_vs_alo"]
    lines.append(
        f"eos_vs_alo  ingest {ratios['ingest_records_per_s']} (steady {ratios['ingest_steady_records_per_s']})  "
        f"inference {ratios['inference_tokens_per_s']} tokens/s, {ratios['inference_requests_per_s']} requests/s"
    )
    lines.append(f"same work   {result['same_work']}")
    return "\n".join(lines)


# --- measuring ---------------------------------------------------------------------------------------------------
def restart_workers(settings: Settings, bootstrap: str, mode: Guarantee) -> dict[str, Any]:
    """Restart the workers under `mode`, their log lines indented under the round's heading."""
    return runtime.restart_workers(settings, bootstrap, mode, log=lambda line: print(f"  {line}", flush=True))


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (`sluice up` runs each worker under a keep-alive parent)."""
    total = cpu_seconds(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_cpu_seconds(int(child)) for child in children)


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


def _cpu_now(pids: Mapping[str, Sequence[int]]) -> dict[str, float]:
    # The workers are children of this process (runtime.up spawned them): the bench client counts only itself.
    by_role = {role: sum(tree_cpu_seconds(pid) for pid in role_pids) for role, role_pids in pids.items()}
    return {**by_role, "bench-client": cpu_seconds(os.getpid())}


def _cpu_since(pids: Mapping[str, Sequence[int]], before: Mapping[str, float]) -> dict[str, float]:
    return {role: round(now - before[role], 2) for role, now in _cpu_now(pids).items()}


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

    restarts_before = worker_restarts(settings)
    follower = TopicFollower(bootstrap, [RECORDS_INDEXED.name], settings.kafka_options)
    client = Client(settings, bootstrap, asking_tenant)
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
        cpu_before = _cpu_now(pids)
        run = ingest_end_to_end(settings, bootstrap, follower, stream.messages, tenant)
        ingest_cpu = _cpu_since(pids, cpu_before)
        ingest = {
            "records": records,
            "acks": len(run.acknowledged),
            "ack_messages": run.ack_messages,
            "seconds": round(run.seconds, 2),
            "records_per_s": round(len(run.acknowledged) / run.seconds, 2),
            "steady_records_per_s": middle_rate(run.arrivals_s),
            "latency_ms": p50_p95([s * 1000 for s in run.latencies_s]),
        }
        print(f"  {ingest['records_per_s']} records/s, {ingest['acks']} acknowledged", flush=True)

        print(f"== round {number}, {mode}: inference, {len(prompts)} requests at once ==", flush=True)
        cpu_before = _cpu_now(pids)
        # partial: a request left unanswered is reported (responses < requests), not a failed bench.
        load, answered = saturating_load_with_latencies(client, prompts, f"{tag}-load", timeout_s, partial=True)
        inference_cpu = _cpu_since(pids, cpu_before)
        inference = {
            "requests": load["requests"],
            "responses": load["responses"],
            "by_status": load["by_status"],
            "tokens": load["tokens"],
            "seconds": load["seconds"],
            "tokens_per_s": load["tokens_per_s"],
            "requests_per_s": round(load["responses"] / load["seconds"], 3) if load["seconds"] > 0 else None,
            "mean_batch_size": load["mean_batch_size"],
            "latency_ms": p50_p95(list(answered.values())),
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
