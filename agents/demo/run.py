"""`make demo`: start everything, stream PII-laden events through, search, scan for leaks, summarise."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from agents.api.client import IndexApi
from agents.api.tokens import TokenStore
from agents.core.digests import keyed_digest
from agents.core.kafka_io import TopicFollower, end_offsets, produce_all, read_topic
from agents.core.settings import Settings
from agents.demo.chat import run_chat_demo
from agents.demo.data import DemoGenerator
from agents.demo.review import run_review_demo
from agents.processes import runtime
from agents.processes.broker import resolve_bootstrap_servers
from agents.tools.leaks import count_by_kind, scan_for_leaks, worker_logs, written_topics
from topics.specs import INFERENCE_REQUESTS, INGEST_DLQ, RECORDS_DEIDENTIFIED, RECORDS_INDEXED

DEMO_SEARCHES = (
    ("客户投诉物流太慢", 0),
    ("invoice payment card declined", 0),
    ("login failed from suspicious address", 1),
)
API_TIMEOUT_S = 60.0


def stored_texts(api: IndexApi, tenant: str) -> list[str]:
    """Everything the index holds for a tenant, through the public API (Milvus Lite is owned by the worker)."""
    return [json.dumps(r, ensure_ascii=False) for r in api.all_records(tenant)]


@contextmanager
def tenant_apis(settings: Settings, api_url: str, tenants: Sequence[str]) -> Iterator[dict[str, IndexApi]]:
    """One API client per demo tenant, each with a token of that tenant only, as a tenant's own front end would
    hold; the tokens are revoked when the demo ends."""
    store = TokenStore(settings.resolved_api_tokens_file)
    issued = {tenant: store.create("tenant", tenant=tenant, name="make demo") for tenant in tenants}
    try:
        yield {tenant: IndexApi(api_url, token=i.token, timeout_s=API_TIMEOUT_S) for tenant, i in issued.items()}
    finally:
        for i in issued.values():
            store.revoke(i.entry.token_id)


def run_demo(settings: Settings, *, events: int, broken: int, seed: int) -> dict[str, Any]:
    print("== starting Sluice (broker, topics, worker) ==")
    started = time.monotonic()
    state = runtime.up(settings)
    api_url = str(state["api_url"])
    run_id = time.strftime("%H%M%S")
    tenants = (f"acme-{run_id}", f"globex-{run_id}")
    with tenant_apis(settings, api_url, tenants) as apis:
        return _run_demo(settings, api_url, apis, tenants, run_id, started, events=events, broken=broken, seed=seed)


def _run_demo(
    settings: Settings,
    api_url: str,
    apis: dict[str, IndexApi],
    tenants: tuple[str, str],
    run_id: str,
    started: float,
    *,
    events: int,
    broken: int,
    seed: int,
) -> dict[str, Any]:
    bootstrap = resolve_bootstrap_servers(settings)
    options = settings.kafka_client_config()
    generator = DemoGenerator(seed=seed, tenants=tenants, run_id=run_id)
    stream = generator.stream(events=events, broken=broken)
    valid = [m for m in stream.messages if not m.broken]
    # Dead letters name their source key by its keyed digest (agents.core.digests), computed here the same way.
    digest_key = settings.digest_secret()
    broken_keys = {keyed_digest(digest_key, m.key) for m in stream.messages if m.broken and m.key}

    print(f"== producing {len(stream.messages)} events ({len(valid)} valid, {broken} deliberately broken) ==")
    # The leak scan reads what this run wrote: earlier runs are not this run's evidence.
    starts = {topic: end_offsets(bootstrap, topic, options) for topic in written_topics(settings)}
    follower = TopicFollower(bootstrap, [RECORDS_INDEXED.name, INGEST_DLQ.name, RECORDS_DEIDENTIFIED.name], options)
    produce_started = time.monotonic()
    with tqdm(total=len(stream.messages), unit="ev", desc="produce") as bar:
        produce_all(
            bootstrap,
            ((m.topic, m.key, m.value) for m in stream.messages),
            options=options,
            on_sent=lambda: bar.update(1),
        )

    indexed: set[str] = set()
    dead: set[str] = set()
    pii_found: Counter[str] = Counter()
    deidentified: set[str] = set()
    deadline = time.monotonic() + max(300.0, events * 0.5)
    last_ack = produce_started
    with tqdm(total=len(stream.messages), unit="rec", desc="indexed + dead-lettered") as bar:
        while len(indexed) + len(dead) < len(stream.messages) and time.monotonic() < deadline:
            for record in follower.poll(1.0):
                body = json.loads(record.value or b"{}")
                if record.topic == RECORDS_DEIDENTIFIED.name:
                    if body.get("tenant") in tenants and body["record_id"] not in deidentified:
                        deidentified.add(body["record_id"])
                        pii_found.update(body.get("entity_counts", {}))
                    continue
                if record.topic == RECORDS_INDEXED.name and body.get("tenant") in tenants:
                    done, done_key = indexed, body["record_id"]
                elif record.topic == INGEST_DLQ.name and body.get("key_sha256") in broken_keys:
                    done, done_key = dead, body["key_sha256"]
                else:
                    continue
                if done_key not in done:
                    done.add(done_key)
                    last_ack = time.monotonic()
                    bar.update(1)
    follower.close()
    processing_s = max(1e-6, last_ack - produce_started)

    print("== searching (tenant-scoped) ==")
    searches = []
    for query, tenant_index in DEMO_SEARCHES:
        tenant = tenants[tenant_index]
        hits = apis[tenant].search(tenant, query, 3)
        searches.append({"query": query, "tenant": tenant, "hits": len(hits)})
        print(f"\n  {query!r} in {tenant}:")
        for hit in hits:
            snippet = hit.text.replace("\n", " ")[:110]
            print(f"    {hit.score:.3f}  {hit.record_id[:16]}…  {snippet}")

    chat: dict[str, Any] = {}
    if any(p["role"] == "inference" for p in runtime.status(settings)["processes"]):
        print(f"\n== chat: multi-turn sessions through {INFERENCE_REQUESTS.name} ==")
        chat = run_chat_demo(settings, bootstrap, tenants)
        print(f"\n== human review: a legal threat goes to a person (console: {api_url}/review) ==")
        try:
            chat.update(run_review_demo(settings, bootstrap, api_url, tenants[0]))
        except Exception as exc:  # reported as a problem of the run below, with what went wrong
            print(f"  review demo failed: {type(exc).__name__}: {exc}")
            chat["review"] = {"error": f"{type(exc).__name__}: {exc}"}
    else:
        print("\n(no model promoted: skipping chat; `sluice models import smollm2 --promote` adds one)")

    print("\n== scanning everything Sluice wrote for the planted PII ==")
    corpus: list[str] = []
    for topic in written_topics(settings):
        records = read_topic(bootstrap, topic, options=settings.kafka_client_config(), start=starts[topic])
        corpus.extend((r.value or b"").decode("utf-8", "replace") for r in records)
    for tenant in tenants:
        corpus.extend(stored_texts(apis[tenant], tenant))
    corpus.extend(path.read_text(errors="replace") for path in worker_logs(settings))
    # Planted = values that really went into an event (the generator draws a few it does not use).
    sent = [(m.value or b"").decode("utf-8", "replace") for m in stream.messages]
    present = scan_for_leaks(sent, {kind: sorted(values) for kind, values in stream.pii.items()})
    leaked_by_type = count_by_kind(scan_for_leaks(corpus, present))
    planted = sum(len(values) for values in present.values())

    summary: dict[str, Any] = {
        "produced": len(stream.messages),
        "valid_events": len(valid),
        "broken_events": broken,
        "indexed": len(indexed),
        "dead_lettered": len(dead),
        "missing": len(stream.messages) - len(indexed) - len(dead),
        "pii_found": dict(sorted(pii_found.items())),
        "pii_planted": planted,
        "pii_leaked": sum(leaked_by_type.values()),
        "pii_leaked_by_type": leaked_by_type,
        "records_per_second": round((len(indexed) + len(dead)) / processing_s, 2),
        "processing_seconds": round(processing_s, 2),
        "elapsed_seconds": round(time.monotonic() - started, 2),
        **chat,
        "tenants": list(tenants),
        "searches": searches,
        "api_url": api_url,
    }
    out = settings.var_dir / "demo" / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"\n== summary ({out}) ==")
    for key in (
        "produced",
        "indexed",
        "dead_lettered",
        "missing",
        "pii_planted",
        "pii_leaked",
        "records_per_second",
        "requests",
        "responses",
        "responses_by_status",
        "p50_ms",
        "p99_ms",
        "first_token_p50_ms",
        "mean_batch_size",
        "review",
        "elapsed_seconds",
    ):
        if key in summary:
            print(f"  {key:<20} {summary[key]}")
    print(f"  {'pii_found':<20} {summary['pii_found']}")
    print(
        f"\nReview console: {api_url}/review (sign in with "
        f"`sluice tokens create --tenant {tenants[0]} --reviewer`); `sluice review list` does the same from scripts."
    )
    print(
        f"\nSluice keeps running: try `export SLUICE_API_TOKEN=$(sluice tokens create --tenant {tenants[0]})` and "
        f'`sluice search "物流" --tenant {tenants[0]}`; `sluice down` stops it.'
    )
    return summary


def demo_problems(summary: dict[str, Any]) -> list[str]:
    """What makes a demo run a failure, each said plainly: an event with no outcome, or PII that got out."""
    problems = []
    if summary.get("missing"):
        problems.append(
            f"{summary['missing']} of {summary['produced']} events were neither indexed nor dead-lettered "
            "(is an old worker holding the index? `sluice status`, then `sluice down` and `make demo` again)"
        )
    review = summary.get("review")
    if review is not None and review.get("final_status") not in ("ok", "rejected"):
        problems.append(f"the reviewed request did not get its final response: {review.get('error') or review}")
    if summary.get("pii_leaked"):
        problems.append(f"{summary['pii_leaked']} planted PII values were found in what Sluice wrote")
    return problems
