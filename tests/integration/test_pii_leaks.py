"""Plant known PII in upstream events and in requests, then find none of it in anything Sluice wrote.

"Anything Sluice wrote" is every topic its workers write (agents/leaks.written_topics), the index, every worker
log and the compliance reports (`sluice audit replay` as HTML and CSV). The same scan over the upstream topics
finds every planted value, so a scan that finds nothing downstream is evidence, not a blind spot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.api.client import IndexApi
from agents.core.kafka_io import end_offsets, produce_all, read_topic
from agents.core.settings import Settings
from agents.demo.data import DemoGenerator
from agents.demo.run import stored_texts
from agents.tools.leaks import scan_for_leaks, worker_logs, written_topics
from tests.integration.conftest import wait_for
from tests.integration.helpers import key_digest, values
from tests.integration.test_cli import sluice


def test_no_planted_pii_appears_in_any_topic_index_log_or_report(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str, tmp_path: Path
) -> None:
    stream = DemoGenerator(seed=23, tenants=(tenant,), run_id=tenant).stream(events=45, broken=5)
    phone, person, id_number, email = (
        sorted(stream.pii[kind])[0] for kind in ("CN_MOBILE", "PERSON", "CN_RESIDENT_ID", "EMAIL_ADDRESS")
    )
    prompts = [
        f"我是{person}，手机{phone}，身份证{id_number}，我的订单到哪了？",
        f"Please e-mail {email} the invoice for customer {person}.",
        f"Call me back on {phone}.",
    ]
    requests = [
        {"request_id": f"{tenant}-p{i}", "tenant": tenant, "session_id": f"{tenant}-s", "prompt": p, "max_tokens": 8}
        for i, p in enumerate(prompts)
    ]
    starts = {topic: end_offsets(bootstrap, topic) for topic in written_topics(settings)}
    upstream = [(m.topic, m.key, m.value) for m in stream.messages]
    upstream += [("inference.requests.v1", f"{tenant}-s".encode(), json.dumps(r).encode()) for r in requests]
    produce_all(bootstrap, upstream)

    broken = {key_digest(m.key) for m in stream.messages if m.broken and m.key}
    valid = sum(not m.broken for m in stream.messages)

    def done() -> bool:
        acks = [a for a in values(bootstrap, "records.indexed.v1", tenant=tenant)]
        letters = [d for d in values(bootstrap, "ingest.dlq.v1") if d.get("key_sha256") in broken]
        answers = values(bootstrap, "inference.responses.v1", tenant=tenant)
        answered = [e for e in values(bootstrap, "audit.events.v1", tenant=tenant) if e["stage"] == "inference"]
        return len(acks) >= valid and len(letters) >= len(broken) and len(answers) >= 3 and len(answered) >= 3

    wait_for(done, timeout_s=240, interval_s=2)

    html_report, csv_report = tmp_path / "audit.html", tmp_path / "audit.csv"
    sluice("audit", "replay", "--tenant", tenant, "--format", "html", "--output", str(html_report))
    sluice("audit", "replay", "--tenant", tenant, "--format", "csv", "--output", str(csv_report))

    corpus: list[str] = []
    for topic, start in starts.items():
        corpus += [(r.value or b"").decode("utf-8", "replace") for r in read_topic(bootstrap, topic, start=start)]
        corpus += [(r.key or b"").decode("utf-8", "replace") for r in read_topic(bootstrap, topic, start=start)]
    corpus += stored_texts(IndexApi(sluice_up["api_url"], token=sluice_up["api_token"]), tenant)
    corpus += [path.read_text(errors="replace") for path in worker_logs(settings)]
    corpus += [html_report.read_text(encoding="utf-8"), csv_report.read_text(encoding="utf-8")]

    # Only values that really went in count as planted (the generator draws some it does not use); the same
    # scanner finds each of them upstream, so it cannot be blind to them downstream.
    upstream_text = [(value or b"").decode("utf-8", "replace") for _, _, value in upstream]
    planted = scan_for_leaks(upstream_text, {kind: sorted(found) for kind, found in stream.pii.items()})
    assert sum(map(len, planted.values())) > 100 and {"CN_MOBILE", "PERSON", "CN_RESIDENT_ID"} <= set(planted)
    assert len(corpus) > 100
    assert scan_for_leaks(corpus, planted) == {}, "planted PII found in what Sluice wrote"
