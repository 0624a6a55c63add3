"""`sluice bench ingest`: the end-to-end rate through Kafka and each stage alone, measured in one run."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from agents.bench.common import cpu_reading, cpu_used, each_process, peak_rss_mb, write_result
from agents.core.kafka_io import TopicFollower, produce_all
from agents.core.messages import SourcePosition
from agents.core.settings import Settings
from agents.demo.data import DemoGenerator, DemoMessage
from agents.processes import runtime
from agents.processes.broker import resolve_bootstrap_servers
from agents.processes.supervise import worker_process
from agents.tools.stats import rate, ratio
from schemas.records import DeidentifiedRecord
from topics.specs import RECORDS_INDEXED

T = TypeVar("T")


def _stage_rate(name: str, items: Sequence[T], batch: int, fn: Callable[[Sequence[T]], object]) -> float:
    started = time.perf_counter()
    with tqdm(total=len(items), unit="rec", desc=f"stage {name}", leave=False) as bar:
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            fn(chunk)
            bar.update(len(chunk))
    return len(items) / (time.perf_counter() - started)


def measure_stages(settings: Settings, positions: list[SourcePosition]) -> dict[str, float]:
    """Each stage alone, in this process, with the workers' own stage code on the same messages."""
    from agents.ingest.deidentify import RuleEngineRef
    from agents.processes.roles import build_deidentify_stage, build_index_stage
    from models.cleaning import RuleEngine, load_bundled_packs

    batch = settings.batch_size
    deidentify = build_deidentify_stage(settings, RuleEngineRef(RuleEngine(load_bundled_packs())))
    warm = deidentify.run(positions[:8])  # first calls allocate (spaCy, jiagu dictionaries)
    assert not warm.failures, "bench input must be valid"
    engine = deidentify.rules.engine
    # Cleaning alone: the free texts the stage would clean (decode and normalise are not timed here).
    from agents.ingest.decode import decode_event
    from agents.ingest.normalise import normalise
    from topics.specs import source_topic

    free_texts = []
    for position in positions:
        topic = source_topic(position.topic)
        event = decode_event(topic, position, max_bytes=settings.max_message_bytes)
        free_texts.append(normalise(topic.source or "", event, position).free_text)
    rates = {"clean": _stage_rate("clean", free_texts, batch, lambda b: [engine.clean(t) for t in b])}
    # De-identification: the whole stage as a worker runs it (decode, normalise, clean, recognizers, NER).
    records: list[DeidentifiedRecord] = []
    rates["deidentify"] = _stage_rate(
        "deidentify", positions, batch, lambda b: records.extend(r.record for r in deidentify.run(b).results)
    )
    with tempfile.TemporaryDirectory() as tmp:
        index = build_index_stage(settings.model_copy(update={"milvus_uri": str(Path(tmp) / "bench.db")}))
        with_chunks = [(record, index.chunks_of(record)) for record in records]
        index.embed_rows(with_chunks[:4])
        rows: list[Any] = []
        rates["embed"] = _stage_rate("embed", with_chunks, batch, lambda b: rows.append(index.embed_rows(b)))
        started = time.perf_counter()
        for batch_rows in tqdm(rows, desc="stage upsert", leave=False):
            index.store.upsert(batch_rows)
        rates["upsert"] = len(records) / (time.perf_counter() - started)  # records/s, like the other stages
        index.store.close()
    return rates


@dataclass(frozen=True)
class IngestRun:
    """What one end-to-end ingest run saw on records.indexed.v1 (through a read_committed follower)."""

    acknowledged: set[str]  # distinct record ids acknowledged for the run's tenant
    ack_messages: int  # acknowledgements for the tenant, repeats included
    seconds: float  # first produce to the last acknowledgement (or to the deadline)
    latencies_s: list[float]  # per acknowledged record: its event's produce call to its acknowledgement seen
    arrivals_s: list[float]  # per acknowledged record, in order: first produce to its acknowledgement seen


def ingest_end_to_end(
    settings: Settings,
    bootstrap: str,
    follower: TopicFollower,
    messages: Sequence[DemoMessage],
    tenant: str,
    *,
    desc: str = "indexed",
) -> IngestRun:
    """Produce `messages` (all of `tenant`, keyed by event id) at once and wait for every acknowledgement."""
    records = len(messages)
    produced_at: dict[str, float] = {}

    def timed() -> Iterator[tuple[str, bytes | None, bytes | None]]:
        for m in messages:
            produced_at[(m.key or b"").decode()] = time.monotonic()
            yield m.topic, m.key, m.value

    started = time.monotonic()
    produce_all(bootstrap, timed(), options=settings.kafka_client_config())
    seen: set[str] = set()
    ack_messages = 0
    latencies: list[float] = []
    arrivals: list[float] = []
    deadline = started + max(600.0, records)
    with tqdm(total=records, unit="rec", desc=desc) as bar:
        while len(seen) < records and time.monotonic() < deadline:
            for record in follower.poll(1.0):
                arrived = time.monotonic()
                body = json.loads(record.value or b"{}")
                if body.get("tenant") != tenant:
                    continue
                ack_messages += 1
                if body["record_id"] not in seen:
                    seen.add(body["record_id"])
                    bar.update(1)
                    arrivals.append(arrived - started)
                    sent = produced_at.get(str((body.get("lineage") or {}).get("event_id")))
                    if sent is not None:
                        latencies.append(arrived - sent)
    return IngestRun(seen, ack_messages, time.monotonic() - started, latencies, arrivals)


def run_ingest_bench(settings: Settings, *, records: int) -> dict[str, Any]:
    print("== starting Sluice (broker, topics, workers) ==")
    state = runtime.up(settings)
    bootstrap = resolve_bootstrap_servers(settings)
    run_id = f"b{time.strftime('%H%M%S')}"
    tenant = f"bench-{run_id}"
    stream = DemoGenerator(seed=11, tenants=(tenant,), run_id=run_id).stream(events=records, broken=0)
    positions = [SourcePosition(m.topic, 0, i, m.key, m.value) for i, m in enumerate(stream.messages)]

    print(f"== stages alone on {records} records (workers idle) ==")
    stage_rates = measure_stages(settings, positions)
    for name, per_s in stage_rates.items():
        print(f"  {name:<11} {per_s:9.1f} records/s")

    print(f"== end to end through Kafka: {records} records ==")
    follower = TopicFollower(bootstrap, [RECORDS_INDEXED.name], settings.kafka_client_config())
    follower.poll(1.0)  # drain older acks before the clock starts
    # Where the CPU goes end to end: on a small machine the stages, the broker and the clients share it.
    # Workers run under keep-alive supervisors: each counts with its worker (see cpu_reading).
    processes = each_process(state)
    cpu_before = cpu_reading(processes)
    run = ingest_end_to_end(settings, bootstrap, follower, stream.messages, tenant)
    elapsed = run.seconds
    cpu_by_process = cpu_used(processes, cpu_before)
    follower.close()
    seen = run.acknowledged
    end_to_end = len(seen) / elapsed
    slowest = min(stage_rates, key=lambda k: stage_rates[k])
    rss = {
        f"{p['role']}-{p['pid']}": peak_rss_mb(worker_process(int(p["pid"])))
        for p in state["processes"]
        if p["role"] != "broker"
    }
    result: dict[str, Any] = {
        "records": records,
        "records_completed": len(seen),
        "end_to_end_records_per_s": rate(len(seen), elapsed),
        "stage_records_per_s": {k: round(v, 2) for k, v in stage_rates.items()},
        "slowest_stage": slowest,
        "ratio_vs_slowest_stage": ratio(end_to_end, stage_rates[slowest]),
        "worker_peak_rss_mb": round(sum(v for v in rss.values() if v), 1),
        "worker_peak_rss_mb_by_process": rss,
        "end_to_end_seconds": round(elapsed, 2),
        "end_to_end_cpu_seconds_by_process": cpu_by_process,
        "cpu_cores": os.cpu_count(),
        "batch_size": settings.batch_size,
        "embed_threads": settings.embed_threads,
        "deidentify_workers": settings.deidentify_workers,
        "ner_enabled": settings.ner_enabled,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_result(settings, "ingest", result)
    print(json.dumps(result, indent=2))
    return result
