"""`sluice bench ingest`: the end-to-end rate through Kafka and each stage alone, measured in one run."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from agents import runtime
from agents.broker import resolve_bootstrap_servers
from agents.dead_letters import SourcePosition
from agents.demo_data import DemoGenerator
from agents.ingest.decode import decode_event
from agents.ingest.normalise import UnifiedRecord, normalise
from agents.kafka_io import TopicFollower, produce_all
from agents.settings import Settings
from topics.specs import RECORDS_INDEXED, SOURCE_BY_TOPIC

T = TypeVar("T")


def _rate(name: str, items: Sequence[T], batch: int, fn: Callable[[Sequence[T]], object]) -> float:
    started = time.perf_counter()
    with tqdm(total=len(items), unit="rec", desc=f"stage {name}", leave=False) as bar:
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            fn(chunk)
            bar.update(len(chunk))
    return len(items) / (time.perf_counter() - started)


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def measure_stages(settings: Settings, records: list[UnifiedRecord]) -> dict[str, float]:
    """Each stage alone, in this process, on the same records the end-to-end run will carry."""
    from models.chunking import chunk_text
    from models.cleaning import RuleEngine, load_bundled_packs
    from models.deid import PresidioDeidentifier
    from models.embedding.encoder import CT2Encoder
    from models.store import ChunkRow, MilvusStore, chunk_key

    batch = settings.batch_size
    engine = RuleEngine(load_bundled_packs())
    texts = [r.free_text for r in records]
    rates = {"clean": _rate("clean", texts, batch, lambda b: [engine.clean(t) for t in b])}
    cleaned = [engine.clean(t).text for t in texts]
    deid = PresidioDeidentifier(
        pseudonym_key=b"bench-pseudonym-key-0123456789",
        operators=settings.deid_operators,
        ner_enabled=settings.ner_enabled,
    )
    deid.deidentify_batch(cleaned[:8])  # warm-up: first spaCy call allocates
    rates["deidentify"] = _rate("deidentify", cleaned, batch, deid.deidentify_batch)
    deidentified = [
        r.text for b in range(0, len(cleaned), batch) for r in deid.deidentify_batch(cleaned[b : b + batch])
    ]
    embedder = CT2Encoder(settings.resolved_embedder_dir, intra_threads=1)
    per_record = [
        chunk_text(t, max_chars=settings.chunk_max_chars, overlap_chars=settings.chunk_overlap_chars) or [""]
        for t in deidentified
    ]
    embedder.embed(["warm-up"])
    rates["embed"] = _rate("embed", per_record, batch, lambda b: embedder.embed([c for chunks in b for c in chunks]))
    vectors = embedder.embed([c for chunks in per_record for c in chunks])
    rows: list[list[ChunkRow]] = []
    cursor = 0
    for record, chunks in zip(records, per_record, strict=True):
        record_rows = []
        for index, chunk in enumerate(chunks):
            record_rows.append(
                ChunkRow(
                    chunk_id=chunk_key(record.tenant, record.record_id, index),
                    record_id=record.record_id,
                    tenant=record.tenant,
                    chunk_index=index,
                    text=chunk,
                    vector=vectors[cursor].tolist(),
                    source=record.lineage.source,
                    topic=record.lineage.topic,
                    partition=0,
                    offset=0,
                    event_id=record.lineage.event_id,
                    occurred_at=record.lineage.occurred_at.isoformat(),
                    rule_pack_version=engine.version,
                    model_version=embedder.version,
                    subjects="",
                )
            )
            cursor += 1
        rows.append(record_rows)
    with tempfile.TemporaryDirectory() as tmp:
        store = MilvusStore(str(Path(tmp) / "bench.db"), collection="bench", dim=embedder.dim)
        rates["upsert"] = _rate("upsert", rows, batch, lambda b: store.upsert([r for rs in b for r in rs]))
        store.close()
    return rates


def run_ingest_bench(settings: Settings, *, records: int) -> dict[str, Any]:
    print("== starting Sluice (broker, topics, worker) ==")
    state = runtime.up(settings)
    bootstrap = resolve_bootstrap_servers(settings)
    run_id = f"b{time.strftime('%H%M%S')}"
    tenant = f"bench-{run_id}"
    stream = DemoGenerator(seed=11, tenants=(tenant,), run_id=run_id).stream(events=records, broken=0)
    unified = []
    for i, m in enumerate(stream.messages):
        position = SourcePosition(m.topic, 0, i, m.key, m.value)
        source = SOURCE_BY_TOPIC[m.topic]
        unified.append(normalise(source, decode_event(source, position, max_bytes=10**6), position))

    print(f"== stages alone on {records} records ==")
    stage_rates = measure_stages(settings, unified)
    for name, rate in stage_rates.items():
        print(f"  {name:<11} {rate:9.1f} records/s")

    print(f"== end to end through Kafka: {records} records ==")
    follower = TopicFollower(bootstrap, [RECORDS_INDEXED.name], settings.kafka_options)
    follower.poll(1.0)  # drain older acks before the clock starts
    started = time.monotonic()
    produce_all(bootstrap, ((m.topic, m.key, m.value) for m in stream.messages), options=settings.kafka_options)
    seen: set[str] = set()
    deadline = started + max(600.0, records)
    with tqdm(total=records, unit="rec", desc="indexed") as bar:
        while len(seen) < records and time.monotonic() < deadline:
            for record in follower.poll(1.0):
                body = json.loads(record.value or b"{}")
                if body.get("tenant") == tenant and body["record_id"] not in seen:
                    seen.add(body["record_id"])
                    bar.update(1)
    elapsed = time.monotonic() - started
    follower.close()
    end_to_end = len(seen) / elapsed
    slowest = min(stage_rates, key=lambda k: stage_rates[k])
    worker_pid = next((p["pid"] for p in state["processes"] if p["role"] == "worker"), None)
    result: dict[str, Any] = {
        "records": records,
        "records_completed": len(seen),
        "end_to_end_records_per_s": round(end_to_end, 2),
        "stage_records_per_s": {k: round(v, 2) for k, v in stage_rates.items()},
        "slowest_stage": slowest,
        "ratio_vs_slowest_stage": round(end_to_end / stage_rates[slowest], 3),
        "worker_peak_rss_mb": _peak_rss_mb(int(worker_pid)) if worker_pid else None,
        "batch_size": settings.batch_size,
        "ner_enabled": settings.ner_enabled,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = settings.var_dir / "bench" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result
