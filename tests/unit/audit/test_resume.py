"""A restarted chainer resumes from its last valid checkpoint and never signs over events it did not write."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.audit_chain.chain import ChainHead, Sealer, seal
from agents.audit_chain.resume import ChainRefusedError, Record, Resumed, as_record, resume_chain
from agents.core.audit_keys import CheckpointKeys
from agents.tools.audit.verify import verify_records
from tests.unit.audit.chains import HMAC_KEYS, KEYS, SEALER, SIGNING, TOPIC, chain, draft, records

SEALERS = {"k1": SEALER}


def rows(events: list[Any]) -> list[Record]:
    return [as_record(offset, e if isinstance(e, dict) else None) for offset, e in enumerate(events)]


def resume(events: list[Any], *, from_start: bool = True, keys: CheckpointKeys = KEYS, **kwargs: Any) -> Resumed:
    resumed = resume_chain(
        0, rows(events), topic=TOPIC, keys=keys, sealers=SEALERS, low_watermark=0, from_start=from_start, **kwargs
    )
    assert resumed is not None
    return resumed


def sealed(n: int, *, checkpoints: dict[int, str] | None = None, head: ChainHead | None = None) -> list[Any]:
    return chain([draft(i) for i in range(n)], checkpoints=checkpoints, sealer=SEALER, head=head)


def test_a_clean_tail_of_our_own_events_is_resumed_without_rejection() -> None:
    events = sealed(7, checkpoints={5: "k1"})  # offsets 0-4 events, 5 checkpoint, 6-7 events
    resumed = resume(events)
    head = resumed.head
    assert (head.next_seq, head.last_hash, head.checkpointed_seq) == (8, events[-1]["hash"], 5)
    assert head.rejection is None and resumed.anchor_offset == 5
    window = resume(events[4:], from_start=False)  # the same from a window reaching back to the checkpoint
    assert (window.head.next_seq, window.head.tree.root()) == (8, head.tree.root())


def test_a_window_without_a_checkpoint_asks_to_read_further_back() -> None:
    events = sealed(7, checkpoints={5: "k1"})
    later = rows(events)[6:]
    assert resume_chain(0, later, topic=TOPIC, keys=KEYS, sealers=SEALERS, low_watermark=0, from_start=False) is None


def test_appended_events_that_link_are_rejected_not_signed_over() -> None:
    head = ChainHead()
    events = sealed(5, checkpoints={5: "k1"}, head=head)
    forged = [seal(draft(90 + i, tenant="mallory"), head) for i in range(2)]  # link, but carry no seal
    resumed = resume([*events, *forged])
    rejection = resumed.head.rejection
    assert rejection is not None
    assert rejection["rejected_seqs"] == [[6, 7]] and rejection["offsets"] == [6, 7]
    assert resumed.head.rejected == [(6, 7)] and resumed.head.next_seq == 8  # the chain goes on after them
    assert resumed.foreign_offsets == [6, 7]


def test_a_forged_seal_is_rejected_too() -> None:
    head = ChainHead()
    events = sealed(3, checkpoints={3: "k1"}, head=head)
    impostor = Sealer("k1", b"guessed")
    resumed = resume([*events, seal(draft(50), head, impostor)])
    assert resumed.head.rejection is not None and resumed.head.rejected == [(4, 4)]


def test_records_that_do_not_link_are_skipped_and_named() -> None:
    events = sealed(3, checkpoints={3: "k1"})
    resumed = resume([*events, "not json", seal(draft(60), ChainHead(next_seq=2, last_hash="f" * 64))])
    rejection = resumed.head.rejection
    assert rejection is not None and rejection["offsets"] == [4, 5] and rejection["rejected_seqs"] == []
    assert resumed.head.next_seq == 4 and resumed.head.rejected == []


def test_our_event_wins_its_place_over_an_append_that_raced_it() -> None:
    head = ChainHead()
    events = sealed(3, checkpoints={3: "k1"}, head=head)
    racing = seal(draft(70), ChainHead(next_seq=head.next_seq, last_hash=head.last_hash))
    ours = seal(draft(3), head, SEALER)
    resumed = resume([*events, racing, ours])
    assert resumed.head.next_seq == 5 and resumed.head.last_hash == ours["hash"]
    assert resumed.head.rejected == [] and resumed.foreign_offsets == [4]


def test_a_copy_of_an_old_checkpoint_appended_is_no_anchor() -> None:
    events = sealed(6, checkpoints={2: "k1", 6: "k1"})
    copied = json.loads(json.dumps(events[2]))
    resumed = resume([*events, copied], from_start=False)
    assert resumed.head.next_seq == 8 and resumed.anchor_offset == 7
    assert resumed.foreign_offsets == [8]


def test_the_chainer_writes_the_rejection_and_verify_flags_each_rejected_event() -> None:
    from tests.unit.test_audit_chainer import Topic, chainer

    head = ChainHead()
    events = sealed(4, checkpoints={4: "k1"}, head=head)
    forged = [seal(draft(90 + i, tenant="mallory", event_type="record.deleted"), head) for i in range(2)]
    topic = Topic()
    topic.write(0, [*events, *forged])
    worker = chainer(every=100, topic=topic, key=SIGNING["k1"])
    resumed = worker.load_head(0)
    written = worker.record_rejection(0, resumed.head)
    assert [e["event_type"] for e in written] == ["audit.tail_rejected", "audit.checkpoint"]
    assert written[1]["details"]["rejected"] == [[5, 6]]
    report = verify_records(records([*events, *forged, *written]), KEYS)
    assert [(p.kind, p.offset, p.event.seq, p.event.tenant) for p in report.problems] == [
        ("rejected", 5, 5, "mallory"),
        ("rejected", 6, 6, "mallory"),
    ]
    assert report.problems[0].event.event_type == "record.deleted"


def test_an_unsealed_legacy_tail_is_refused_unless_accepted() -> None:
    legacy = chain([draft(i) for i in range(5)], legacy={3: "old-1"})  # an earlier version: no seals
    keys = CheckpointKeys(KEYS.public, HMAC_KEYS)
    with pytest.raises(ChainRefusedError, match="SLUICE_AUDIT_ACCEPT_LEGACY_TAIL") as refused:
        resume(legacy, keys=keys)
    assert refused.value.offsets == (4, 5)
    accepted = resume(legacy, keys=keys, accept_legacy_tail=True)
    assert accepted.legacy_tail == [4, 5] and accepted.head.next_seq == 6 and accepted.head.rejection is None


def test_a_legacy_chain_ending_in_a_checkpoint_we_can_check_resumes() -> None:
    legacy = chain([draft(i) for i in range(4)], legacy={4: "old-1"})
    resumed = resume(legacy, keys=CheckpointKeys(KEYS.public, HMAC_KEYS))
    assert resumed.head.next_seq == 5 and resumed.head.checkpointed_seq == 4 and resumed.legacy_tail == []
    with pytest.raises(ChainRefusedError):  # without the HMAC key nothing authenticates those events
        resume(legacy)


def test_a_legacy_mac_after_a_signed_head_is_no_anchor() -> None:
    head = ChainHead()
    events = sealed(3, checkpoints={3: "k1"}, head=head)
    forged = chain([draft(50)], legacy={1: "old-1"}, head=head)  # what anyone with the HMAC key can append
    resumed = resume([*events, *forged], keys=CheckpointKeys(KEYS.public, HMAC_KEYS))
    assert resumed.head.rejected == [(4, 5)] and resumed.anchor_offset == 3


def test_a_tail_sealed_under_a_retired_key_we_no_longer_hold_stops_the_chainer() -> None:
    head = ChainHead()
    events = sealed(3, checkpoints={3: "k1"}, head=head)
    retired = Sealer.of("k2", SIGNING["k2"])
    tail = seal(draft(3), head, retired)
    with pytest.raises(ChainRefusedError, match="'k2'"):
        resume([*events, tail])


def test_a_partition_whose_start_was_deleted_and_holds_no_signed_head_stops_the_chainer() -> None:
    events = sealed(4)
    with pytest.raises(ChainRefusedError, match="genesis"):
        resume(events[2:])


def test_a_log_start_later_than_the_signed_head_recorded_is_reported() -> None:
    events = sealed(3, checkpoints={3: "k1"})
    resumed = resume_chain(
        0, rows(events)[1:], topic=TOPIC, keys=KEYS, sealers=SEALERS, low_watermark=1, from_start=False
    )
    assert resumed is not None and resumed.truncated_from == 0
