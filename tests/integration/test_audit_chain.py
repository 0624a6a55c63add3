"""The audit stream on the broker: kept forever, never compacted; foreign drafts are dead-lettered, not sealed;
the chainer's signed checkpoints verify with its public key alone, and its events prove offline.

Nothing here writes to audit.events.v1 itself: a record that is not the chainer's would stay there for the rest
of the session and fail every later verification (forgeries are tested on topics of their own, in
test_audit_verify.py, and against the chainer in tests/unit/audit/test_resume.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from agents.core.kafka_io import produce_all
from agents.core.settings import Settings
from agents.tools.audit.commands import verify_topic
from agents.tools.audit.report import ChainReport
from schemas.records import AuditEvent
from tests.integration.conftest import wait_for
from tests.integration.helpers import key_digest, values


def test_audit_topic_keeps_everything_and_is_never_compacted(sluice_up: dict[str, Any], bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, "audit.events.v1")
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert config["cleanup.policy"].value == "delete"
    assert config["retention.ms"].value == "-1" and config["retention.bytes"].value == "-1"


def test_drafts_that_are_not_audit_events_are_dead_lettered_and_the_chain_stays_intact(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    forged = [
        b"not json",
        b'{"event_type": "record.indexed"}',
        b'{"event_id": "x", "event_type": "record.indexed", "stage": "index", "subject_id": "r", "tenant": null, '
        b'"emitted_at": "2026-11-29T00:00:00Z", "seq": 0, "prev_hash": "00", "hash": "forged"}',
    ]
    keys = [f"{tenant}-{i}".encode() for i in range(len(forged))]
    produce_all(bootstrap, [("audit.pending.v1", k, v) for k, v in zip(keys, forged, strict=True)])
    wanted = {key_digest(k) for k in keys}
    letters = wait_for(
        lambda: len(d := [x for x in values(bootstrap, "ingest.dlq.v1") if x.get("key_sha256") in wanted]) == 3 and d,
        timeout_s=60,
    )
    assert {letter["stage"] for letter in letters} == {"audit"}
    assert {letter["source_topic"] for letter in letters} == {"audit.pending.v1"}
    sealed = [e for e in values(bootstrap, "audit.events.v1") if e.get("subject_id") == "r"]
    assert sealed == [], "a draft carrying its own chain fields was sealed"
    wait_until_authenticated(settings)


# Until the chainer's next checkpoint, the newest events of a partition are not authenticated yet: verify says so
# (a partition without any checkpoint, or a tail above the bound), and that passes within the checkpoint interval.
PASSING = {"no_valid_checkpoint", "unauthenticated_tail"}


def wait_until_authenticated(settings: Settings) -> ChainReport:
    """Verifies until every partition's tail is covered by a checkpoint; any other problem fails at once."""

    def authenticated() -> ChainReport | None:
        report = verify_topic(settings, "audit.events.v1")
        lasting = [p.to_json() for p in report.problems if p.kind not in PASSING]
        assert not lasting, lasting
        done = report.intact and all(p.unauthenticated_tail == 0 for p in report.partitions)
        return report if done else None

    report: ChainReport = wait_for(authenticated, timeout_s=4 * settings.audit_checkpoint_interval_s + 30, interval_s=2)
    return report


def test_an_idle_chain_ends_in_a_checkpoint_within_the_interval(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    interval_s = settings.audit_checkpoint_interval_s
    assert interval_s <= 10, "the integration session sets a short checkpoint interval (conftest)"
    draft = AuditEvent(
        event_id=f"{tenant}-idle",
        event_type="record.indexed",
        stage="index",
        subject_id=f"{tenant}-r",
        tenant=tenant,
        emitted_at=datetime.now(UTC),
    )
    produce_all(bootstrap, [("audit.pending.v1", tenant.encode(), draft.model_dump_json().encode())])
    wait_for(lambda: [e for e in values(bootstrap, "audit.events.v1", tenant=tenant)], timeout_s=60)
    # Nothing else is audited now: only the chainer's own ticks can add the checkpoints that cover the tail.
    wait_until_authenticated(settings)


def sluice_audit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", "audit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_the_real_stream_verifies_and_proves_with_the_public_key_alone(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str, tmp_path: Path
) -> None:
    draft = AuditEvent(
        event_id=f"{tenant}-proved",
        event_type="record.indexed",
        stage="index",
        subject_id=f"{tenant}-r",
        tenant=tenant,
        emitted_at=datetime.now(UTC),
    )
    produce_all(bootstrap, [("audit.pending.v1", tenant.encode(), draft.model_dump_json().encode())])
    wait_for(lambda: [e for e in values(bootstrap, "audit.events.v1", tenant=tenant)], timeout_s=60)
    wait_until_authenticated(settings)

    printed = sluice_audit("public-key")
    assert printed.returncode == 0, printed.stderr
    public_keys = [line for line in printed.stdout.splitlines() if "=" in line]
    assert public_keys and public_keys[0].startswith("local-1=")
    # An auditor's machine: the cluster's address, the public key, nothing else (no var dir, no secret).
    auditor = {"SLUICE_VAR_DIR": str(tmp_path / "auditor"), "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    key_args = [arg for key in public_keys for arg in ("--public-key", key)]
    verified = sluice_audit("verify", "--json", *key_args, env=auditor)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr
    body = json.loads(verified.stdout)
    assert body["intact"] and sum(p["checkpoints_verified"] for p in body["partitions"]) > 0
    assert all(p["signed_head"]["key_id"] == "local-1" for p in body["partitions"] if p["events"])

    proof = tmp_path / "proof.json"
    proved = sluice_audit("prove", f"{tenant}-proved", "--output", str(proof), *key_args, env=auditor)
    assert proved.returncode == 0, proved.stderr
    checked = sluice_audit("check-proof", str(proof), *key_args, env=auditor)
    assert checked.returncode == 0 and checked.stdout.startswith(f"VALID: event {tenant}-proved"), checked.stdout
    assert not (tmp_path / "auditor").exists(), "the auditor's commands created something"
