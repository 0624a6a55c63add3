"""What signed tree heads let the verifier see: forgeries by anyone without the private key, tails nothing signed,
truncation at either end, rejected events, legacy HMAC checkpoints; and each problem names its event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.audit_chain.chain import ChainHead, seal
from agents.audit_chain.checkpoints import parse_signed_head, verify_signed_head
from agents.audit_chain.merkle import leaf_hash
from agents.core.audit_keys import CheckpointKeys
from agents.tools.audit.commands import load_expected_heads
from agents.tools.audit.report import ChainReport, render_text
from agents.tools.audit.verify import Bounds, verify_records
from schemas.errors import ConfigurationError
from tests.unit.audit.chains import (
    HMAC_KEYS,
    KEYS,
    ROGUE,
    SIGNING,
    T0,
    chain,
    draft,
    records,
    signed_checkpoint,
    simple_chain,
)


def verify(events: list[dict[str, Any]], keys: CheckpointKeys = KEYS, **kwargs: Any) -> ChainReport:
    return verify_records(records(events), keys, **kwargs)


def kinds(report: ChainReport) -> list[tuple[str, int | None]]:
    return [(p.kind, p.offset) for p in report.problems]


def test_an_intact_signed_chain_reports_its_last_signed_head() -> None:
    events = simple_chain(9, checkpoints={4: "k1", 9: "k2"})
    report = verify(events, max_unauthenticated=0)
    assert report.intact, kinds(report)
    (part,) = report.partitions
    assert part.checkpoints_verified == 2 and part.unauthenticated_tail == 0
    assert part.signed_head is not None and part.signed_head_checkpoint == {"offset": 10, "seq": 10}
    assert (part.signed_head["tree_size"], part.signed_head["key_id"]) == (10, "k2")
    assert "k1, k2" in render_text(report, "audit.events.v1")[-2]


def test_no_checkpoint_at_all_fails_naming_the_first_event() -> None:
    report = verify(simple_chain(3, checkpoints={}))
    (problem,) = report.problems
    assert (problem.kind, problem.offset, problem.event.seq) == ("no_valid_checkpoint", 0, 0)
    assert (problem.event.event_type, problem.event.tenant) == ("record.deidentified", "acme")
    assert problem.to_json()["event_type"] == "record.deidentified" and problem.to_json()["seq"] == 0
    until = T0.replace(second=59)
    assert verify(simple_chain(3, checkpoints={}), until=until).intact, "a window that stops early is not held to it"


def test_a_tail_longer_than_allowed_fails_at_its_first_event() -> None:
    events = simple_chain(8, checkpoints={3: "k1"})  # offset 3: the checkpoint; 4..8 five events after it
    assert verify(events, max_unauthenticated=5).intact
    report = verify(events, max_unauthenticated=4)
    (problem,) = report.problems
    assert (problem.kind, problem.offset, problem.event.seq) == ("unauthenticated_tail", 4, 4)
    assert "5 event(s)" in problem.detail


def test_a_tail_re_signed_by_someone_without_the_private_key_is_a_bad_checkpoint() -> None:
    head = ChainHead()
    events = chain([draft(i) for i in range(4)], checkpoints={4: "k1"}, head=head)
    forged = [seal(draft(50 + i, tenant="mallory"), head) for i in range(3)]  # they link: anyone can compute SHA-256
    forged.append(seal(signed_checkpoint(0, head, "k1", ROGUE, at=forged[-1]["emitted_at"]), head))
    report = verify([*events, *forged], max_unauthenticated=3)
    assert kinds(report) == [("unauthenticated_tail", 5), ("bad_checkpoint", 8)]
    assert report.problems[0].event.tenant == "mallory"
    assert report.problems[1].event.event_type == "audit.checkpoint"
    assert report.partitions[0].checkpoints_verified == 1


def test_a_legacy_hmac_checkpoint_after_a_signed_head_is_refused() -> None:
    head = ChainHead()
    events = chain([draft(i) for i in range(3)], checkpoints={3: "k1"}, head=head)
    forged = chain([draft(60)], legacy={1: "old-1"}, head=head)
    report = verify([*events, *forged], CheckpointKeys(KEYS.public, HMAC_KEYS), max_unauthenticated=10)
    assert kinds(report) == [("bad_checkpoint", 5)]
    assert "after a signed tree head" in report.problems[0].detail


def test_legacy_checkpoints_verify_with_their_key_and_are_only_noted_without_it() -> None:
    events = chain([draft(i) for i in range(6)], legacy={2: "old-1"}, checkpoints={6: "k1"})
    with_key = verify(events, CheckpointKeys(KEYS.public, HMAC_KEYS), max_unauthenticated=0)
    assert with_key.intact and with_key.partitions[0].checkpoints_verified == 2
    without = verify(events, max_unauthenticated=0)
    assert without.intact and without.partitions[0].checkpoints_verified == 1
    (notice,) = without.partitions[0].notices
    assert (notice.kind, notice.offset) == ("unverifiable_checkpoint", 2)
    only_legacy = chain([draft(i) for i in range(3)], legacy={3: "old-1"})
    assert kinds(verify(only_legacy)) == [("no_valid_checkpoint", 0)]
    assert verify(only_legacy, CheckpointKeys(KEYS.public, HMAC_KEYS)).intact
    wrong = verify(only_legacy, CheckpointKeys(KEYS.public, {"old-1": b"guess"}))
    assert ("bad_checkpoint", 3) in kinds(wrong)


def test_a_signed_root_that_is_not_the_root_of_the_events_is_a_bad_checkpoint() -> None:
    head = ChainHead()
    events = [seal(draft(i), head) for i in range(4)]
    honest = head.tree.copy()
    head.tree.nodes[-1] = leaf_hash(b"not what was read")  # a signer whose tree went wrong
    events.append(seal(signed_checkpoint(0, head, "k1", SIGNING["k1"], at=draft(4)["emitted_at"]), head))
    assert honest.root() != parse_signed_head(events[-1]["details"]).frontier.root()
    report = verify(events)
    assert ("bad_checkpoint", 4) in kinds(report) and "Merkle root" in report.problems[-1].detail


def test_records_deleted_from_the_start_show_against_the_signed_low_watermark() -> None:
    events = simple_chain(6, checkpoints={2: "k1", 6: "k1"})
    rows = records(events)[3:]  # offsets 0..2 deleted (DeleteRecords): the log now starts at 3
    report = verify_records(rows, KEYS, bounds={0: Bounds(3, 8)})
    assert kinds(report) == [("deleted", 3), ("truncated", 3)]
    truncated = report.problems[1]
    assert "offsets 0..2 were deleted" in truncated.detail and truncated.event.seq == 3
    assert report.partitions[0].low_watermark == 3


def test_a_partition_emptied_by_deletion_still_fails() -> None:
    report = verify_records([], KEYS, bounds={0: Bounds(0, 0), 1: Bounds(12, 12)})
    assert [(p.partition, p.kind, p.offset) for p in report.problems] == [(1, "truncated", None)]


def test_events_removed_from_the_end_show_against_a_head_recorded_earlier() -> None:
    events = simple_chain(8, checkpoints={3: "k1", 8: "k1"})
    full = verify(events)
    assert verify_signed_head(full.to_json()["partitions"][0]["signed_head"], KEYS.public).valid, "kept verbatim"
    recorded = parse_signed_head(full.partitions[0].signed_head or {})
    truncated = events[:5]  # the last signed head and the events before it are gone: what is left still links
    assert verify(truncated, max_unauthenticated=10).intact
    report = verify(truncated, max_unauthenticated=10, expected_heads={0: recorded})
    (problem,) = report.problems
    assert (problem.kind, problem.offset) == ("truncated", 4)
    assert "removed from the end" in problem.detail
    assert verify(events, expected_heads={0: recorded}).intact


def test_a_chain_rewritten_after_a_head_was_recorded_is_named() -> None:
    events = simple_chain(4)
    recorded = parse_signed_head(verify(events).partitions[0].signed_head or {})
    rewritten = chain([draft(i, tenant="other") for i in range(4)], checkpoints={4: "k1"})
    report = verify(rewritten, expected_heads={0: recorded})
    assert kinds(report) == [("rewritten", 3)]


def test_a_window_checks_roots_from_its_first_signed_head_on() -> None:
    events = simple_chain(12, checkpoints={3: "k1", 7: "k1", 12: "k2"})
    report = verify(events, since=T0.replace(second=5))
    assert report.intact and report.partitions[0].checkpoints_verified == 2
    head = ChainHead()
    events = chain([draft(i) for i in range(10)], checkpoints={7: "k1"}, head=head)
    head.tree.nodes[0] = leaf_hash(b"a tree that went wrong before the window")
    events.append(seal(signed_checkpoint(0, head, "k1", SIGNING["k1"], at=draft(10)["emitted_at"]), head))
    report = verify(events, since=T0.replace(second=5))  # the window starts after the events that differ
    assert kinds(report) == [("bad_checkpoint", 11)]


def test_heads_recorded_by_an_earlier_verify_are_read_back_only_when_their_signature_holds(tmp_path: Path) -> None:
    events = simple_chain(4)
    recorded = tmp_path / "heads.json"
    recorded.write_text(json.dumps(verify(events).to_json()))
    heads = load_expected_heads(recorded, KEYS)
    assert list(heads) == [0] and heads[0].tree_size == 4
    body = json.loads(recorded.read_text())
    body["partitions"][0]["signed_head"]["tree_size"] = 3
    recorded.write_text(json.dumps(body))
    with pytest.raises(ConfigurationError, match="does not verify"):
        load_expected_heads(recorded, KEYS)
