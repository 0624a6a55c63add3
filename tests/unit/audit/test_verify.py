"""The chain verifier names each kind of tampering once, at the right offset, and passes intact chains."""

from __future__ import annotations

import copy
import json
from typing import Any

from agents.audit_chain.chain import ChainHead, event_hash, seal
from agents.core.audit_keys import CheckpointKeys
from agents.tools.audit.entries import parse_instant
from agents.tools.audit.report import ChainReport, Problem, render_text
from agents.tools.audit.verify import verify_records
from tests.unit.audit.chains import KEYS, SIGNING, T0, chain, draft, records, rehash, signed_checkpoint, simple_chain


def verify(events: list[dict[str, Any]], **kwargs: Any) -> ChainReport:
    return verify_records(records(events), KEYS, **kwargs)


def only_problem(report: ChainReport) -> Problem:
    problems = report.problems
    assert len(problems) == 1, [p.to_json() for p in problems]
    return problems[0]


def test_intact_chain_with_key_rotation_verifies_both_checkpoints() -> None:
    events = simple_chain(12, checkpoints={4: "k1", 9: "k2"})
    report = verify(events)
    assert report.intact
    (part,) = report.partitions
    assert part.checkpoints_verified == 2
    assert (part.events, part.first_offset, part.last_offset, part.first_seq, part.last_seq) == (14, 0, 13, 0, 13)
    # The k2 checkpoint is seq 10 (offset 10); offsets 11..13 follow it.
    assert part.unauthenticated_tail == 3
    assert part.anchor == "genesis"


def test_retired_key_missing_from_the_keys_makes_its_checkpoints_fail() -> None:
    events = simple_chain(6, checkpoints={3: "k1"})
    report = verify_records(records(events), CheckpointKeys({"k2": KEYS.public["k2"]}))
    assert [(p.kind, p.offset) for p in report.problems] == [("no_valid_checkpoint", 0), ("bad_checkpoint", 3)]
    assert "'k1'" in report.problems[1].detail


def test_field_changed_without_rehash_is_modified_at_that_offset_only() -> None:
    events = simple_chain(10)
    events[4]["entity_counts"] = {"PERSON": 0}
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("modified", 4)


def test_seq_changed_without_rehash_is_one_modified_not_a_gap() -> None:
    events = simple_chain(10)
    events[4]["seq"] = 40
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("modified", 4)


def test_field_changed_with_rehash_breaks_the_link_at_the_next_event() -> None:
    events = simple_chain(10)
    events[4] = rehash({**events[4], "tenant": "other"})
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("broken_link", 5)
    assert problem.offsets == (4, 5)


def test_rehashed_checkpoint_head_is_one_broken_link_the_checkpoint_confirms() -> None:
    events = simple_chain(8, checkpoints={5: "k1"})  # checkpoint at offset 5, its head is offset 4
    events[4] = rehash({**events[4], "subject_id": "rec-forged"})
    report = verify(events)
    problem = only_problem(report)
    assert (problem.kind, problem.offset) == ("broken_link", 5)
    assert report.partitions[0].checkpoints_verified == 1


def test_chain_rewritten_with_every_hash_recomputed_is_caught_by_the_checkpoint() -> None:
    events = simple_chain(8, checkpoints={5: "k1"})
    drafts = [{k: v for k, v in e.items() if k not in ("seq", "prev_hash", "hash")} for e in events]
    drafts[2]["tenant"] = "other"
    head = ChainHead()
    rewritten = [seal(d, head) for d in drafts]  # the checkpoint keeps its (authentic) details
    report = verify(rewritten)
    assert [(p.kind, p.offset) for p in report.problems] == [("no_valid_checkpoint", 0), ("bad_checkpoint", 5)]
    assert "seq 4" in report.problems[1].detail


def test_deleted_event_in_the_middle_is_named_once() -> None:
    events = simple_chain(10)
    del events[4]
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("deleted", 4)
    assert "seq 4 missing" in problem.detail


def test_two_deleted_events_in_a_row_are_one_gap() -> None:
    events = simple_chain(10)
    del events[4:6]
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("deleted", 4)
    assert "seqs 4..5" in problem.detail


def test_deleted_first_event_is_detected_from_genesis() -> None:
    events = simple_chain(5)[1:]
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("deleted", 0)


def test_forged_event_inserted_with_a_correct_hash_is_named_not_the_genuine_one() -> None:
    events = simple_chain(10)
    forged = seal(draft(99, subject_id="rec-forged"), ChainHead(next_seq=5, last_hash=events[4]["hash"]))
    events.insert(5, forged)  # offset 5: the forgery; offset 6: the genuine seq 5
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("inserted", 5)
    assert problem.offsets == (5, 6)


def test_forged_event_that_does_not_link_is_inserted() -> None:
    events = simple_chain(10)
    forged = seal(draft(99), ChainHead(next_seq=5, last_hash="f" * 64))
    events.insert(5, forged)
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("inserted", 5)


def test_forged_event_with_a_seq_far_ahead_is_inserted_not_a_gap() -> None:
    events = simple_chain(10)
    events.insert(5, seal(draft(99), ChainHead(next_seq=50, last_hash="f" * 64)))
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("inserted", 5)


def test_forged_event_appended_with_a_duplicated_seq_is_inserted_at_its_offset() -> None:
    events = simple_chain(6, checkpoints={5: "k1"})
    last = events[-1]
    forged = seal(draft(99), ChainHead(next_seq=last["seq"], last_hash=last["prev_hash"]))
    events.append(forged)
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("inserted", 7)  # offsets 0..6 hold seqs 0..6 (checkpoint at 5)
    assert problem.offsets == (6, 7)


def test_exact_copy_of_an_event_is_inserted() -> None:
    events = simple_chain(6)  # offset 6: the checkpoint
    events.append(copy.deepcopy(events[2]))
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("inserted", 7)


def test_two_swapped_events_are_one_reordered() -> None:
    events = simple_chain(10)
    events[4], events[5] = events[5], events[4]
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("reordered", 4)
    assert problem.offsets == (4, 5)


def test_swapped_last_two_events_are_one_reordered() -> None:
    events = simple_chain(6)
    events[4], events[5] = events[5], events[4]
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("reordered", 4)


def test_event_moved_later_is_reordered_where_it_now_stands() -> None:
    events = simple_chain(10)
    moved = events.pop(3)
    events.insert(7, moved)
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("reordered", 7)


def test_event_moved_earlier_is_reordered_where_it_now_stands() -> None:
    events = simple_chain(10)
    moved = events.pop(7)
    events.insert(3, moved)
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("reordered", 3)


def test_checkpoint_signed_with_the_wrong_key_under_a_real_id_is_a_bad_checkpoint() -> None:
    from tests.unit.audit.chains import ROGUE

    events = chain([draft(i) for i in range(8)], checkpoints={5: "k1"}, keys={"k1": ROGUE})
    report = verify(events)
    assert [(p.kind, p.offset) for p in report.problems] == [("no_valid_checkpoint", 0), ("bad_checkpoint", 5)]
    assert "signature is not valid under public key 'k1'" in report.problems[1].detail
    assert report.partitions[0].checkpoints_verified == 0
    assert report.partitions[0].unauthenticated_tail == 9


def test_checkpoint_signed_with_an_unknown_key_id_is_a_bad_checkpoint() -> None:
    events = simple_chain(8, checkpoints={5: "rogue", 8: "k1"})
    problem = only_problem(verify(events))
    assert (problem.kind, problem.offset) == ("bad_checkpoint", 5)
    assert "key id 'rogue'" in problem.detail


def test_checkpoint_copied_from_another_partition_is_a_bad_checkpoint() -> None:
    head = ChainHead()
    events = [seal(draft(i), head) for i in range(4)]
    events.append(seal(signed_checkpoint(1, head, "k1", SIGNING["k1"], at=draft(4)["emitted_at"]), head))
    events += simple_chain(0)  # nothing
    report = verify(events)
    assert [(p.kind, p.offset) for p in report.problems] == [("no_valid_checkpoint", 0), ("bad_checkpoint", 4)]
    assert "partition 1" in report.problems[1].detail


def test_unparseable_record_is_named_and_the_chain_resumes_after_it() -> None:
    rows = records(simple_chain(8))
    rows[3] = (0, 3, b"\xff not json")
    report = verify_records(rows, KEYS)
    problem = only_problem(report)
    assert (problem.kind, problem.offset) == ("unparseable", 3)
    rows[3] = (0, 3, json.dumps({"seq": "3"}).encode())
    assert only_problem(verify_records(rows, KEYS)).kind == "unparseable"


def test_window_anchors_on_its_first_event_and_verifies_the_rest() -> None:
    events = simple_chain(10, checkpoints={6: "k1"})
    report = verify(events, since=T0.replace(second=3))
    assert report.intact
    (part,) = report.partitions
    assert part.anchor == "window"
    assert (part.first_offset, part.first_seq, part.events) == (3, 3, 8)
    assert part.checkpoints_verified == 1
    assert any("anchor" in line for line in render_text(report, "audit.events.v1"))


def test_window_until_stops_at_the_first_later_event() -> None:
    events = simple_chain(10)
    report = verify(events, until=parse_instant("2026-11-20T09:00:04"))
    assert report.intact
    assert (report.partitions[0].last_offset, report.partitions[0].anchor) == (4, "genesis")


def test_tampering_inside_a_window_is_still_found() -> None:
    events = simple_chain(10)
    del events[6]
    problem = only_problem(verify(events, since=T0.replace(second=3)))
    assert (problem.kind, problem.offset) == ("deleted", 6)


def test_partitions_are_independent_chains() -> None:
    p0 = records(simple_chain(5, partition=0), partition=0)
    p1_events = chain([draft(i) for i in range(5)], partition=1, checkpoints={3: "k1"})
    p1_events[1] = {**p1_events[1], "tenant": "changed"}
    p1 = records(p1_events, partition=1)
    interleaved = [row for pair in zip(p0, p1, strict=False) for row in pair] + p1[len(p0) :]
    report = verify_records(interleaved, KEYS)
    assert [p.partition for p in report.partitions] == [0, 1]
    assert report.partitions[0].intact
    problem = only_problem(report)
    assert (problem.partition, problem.offset, problem.kind) == (1, 1, "modified")
    assert report.partitions[1].checkpoints_verified == 1


def test_report_json_and_text_say_what_hashes_cannot_show() -> None:
    report = verify(simple_chain(3, checkpoints={1: "k1"}), max_unauthenticated=5)
    body = report.to_json()
    assert body["intact"] is True and body["partitions"][0]["unauthenticated_tail"] == 2
    assert any("end of a partition" in note for note in body["notes"])
    assert any("end of a partition" in line for line in render_text(report, "audit.events.v1"))


def test_event_hash_is_what_seal_stores() -> None:
    event = simple_chain(1)[0]
    assert event_hash(event) == event["hash"]
