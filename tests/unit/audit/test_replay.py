"""Replay selects by time, tenant, request, record and subject, and writes JSONL, CSV and HTML that read back."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from agents.audit_chain.chain import event_hash
from agents.tools.audit.replay import (
    CSV_COLUMNS,
    ReplayFilter,
    SelectedEvent,
    select_events,
    write_csv,
    write_html,
    write_jsonl,
)
from agents.tools.audit.verify import ChainVerifier, verify_records
from tests.unit.audit.chains import KEYS, T0, chain, draft, records


def stream() -> list[dict[str, Any]]:
    """A tenant's record flow (deidentified → indexed), a request, and another tenant's record."""
    drafts = [
        draft(0, subject_id="rec-a", details={"kind": "order", "subjects": ["ps-alice", "ps-bob"]}),
        draft(1, subject_id="rec-b", details={"kind": "order", "subjects": ["ps-bob"]}),
        draft(2, event_type="record.indexed", stage="index", subject_id="rec-a", details={"chunks": 2}),
        draft(3, event_type="request.answered", stage="inference", subject_id="req-1", details={"status": "ok"}),
        draft(4, event_type="record.indexed", stage="index", subject_id="rec-b", details={"chunks": 1}),
        draft(5, tenant="globex", subject_id="rec-c", details={"kind": "ticket", "subjects": ["ps-alice"]}),
        draft(6, event_type="request.answered", stage="inference", subject_id="rec-a", details={"status": "ok"}),
    ]
    return chain(drafts, checkpoints={7: "k1"})


def select(filters: ReplayFilter, events: list[dict[str, Any]] | None = None) -> list[SelectedEvent]:
    return list(select_events(records(events or stream()), filters))


def subjects_of(selected: list[SelectedEvent]) -> list[tuple[str, str]]:
    return [(s.event["event_type"], s.event["subject_id"]) for s in selected]


def test_no_filter_selects_every_event_including_checkpoints() -> None:
    selected = select(ReplayFilter())
    assert [s.offset for s in selected] == list(range(8))
    assert selected[-1].event["event_type"] == "audit.checkpoint"


def test_tenant_filter_and_repeated_values_or_together() -> None:
    assert {s.event["tenant"] for s in select(ReplayFilter(tenants=frozenset({"globex"})))} == {"globex"}
    both = select(ReplayFilter(tenants=frozenset({"globex", "acme"})))
    assert len(both) == 7  # everything but the checkpoint (tenant null)


def test_request_id_matches_only_request_events() -> None:
    assert subjects_of(select(ReplayFilter(request_ids=frozenset({"req-1"})))) == [("request.answered", "req-1")]
    # A request event whose subject happens to equal a record id is not a record event.
    assert ("request.answered", "rec-a") not in subjects_of(select(ReplayFilter(record_ids=frozenset({"rec-a"}))))


def test_record_id_matches_every_record_event_of_that_record() -> None:
    got = subjects_of(select(ReplayFilter(record_ids=frozenset({"rec-a"}))))
    assert got == [("record.deidentified", "rec-a"), ("record.indexed", "rec-a")]


def test_subject_selects_its_records_and_their_later_events() -> None:
    got = subjects_of(select(ReplayFilter(subjects=frozenset({"ps-bob"}))))
    assert got == [
        ("record.deidentified", "rec-a"),
        ("record.deidentified", "rec-b"),
        ("record.indexed", "rec-a"),
        ("record.indexed", "rec-b"),
    ]


def answered(i: int, request_id: str, **details: Any) -> dict[str, Any]:
    return draft(i, event_type="request.answered", stage="inference", subject_id=request_id, details=details)


def test_subject_selects_the_requests_whose_retrieval_returned_its_records() -> None:
    events = chain(
        [
            draft(0, subject_id="rec-a", details={"kind": "order", "subjects": ["ps-bob"]}),
            draft(1, subject_id="rec-b", details={"kind": "order", "subjects": ["ps-carol"]}),
            answered(2, "req-uses-a", status="ok", retrieved=["rec-b", "rec-a"], citations=["rec-b"]),
            answered(3, "req-uses-b", status="ok", retrieved=["rec-b"], citations=[]),
            answered(4, "req-no-context", status="ok", retrieved=[], citations=[]),
            answered(5, "req-cites-a", status="ok", citations=["rec-a"]),  # an event with citations only
            answered(6, "req-rejected", status="rejected"),  # no retrieval at all
            draft(
                7, event_type="subject.forgotten", stage="forget", subject_id="ps-bob", details={"chunks_deleted": 1}
            ),
            answered(8, "req-after-forget", status="ok", retrieved=["rec-b"]),
            # The subject's event re-sent after the erasure: dead-lettered by de-identification, not indexed.
            draft(
                9,
                event_type="record.subject_suppressed",
                subject_id="rec-a",
                details={"subjects": ["ps-bob"], "forgotten": ["ps-bob"], "action": "dead_lettered"},
            ),
        ]
    )
    got = subjects_of(select(ReplayFilter(subjects=frozenset({"ps-bob"})), events))
    assert got == [
        ("record.deidentified", "rec-a"),
        ("request.answered", "req-uses-a"),
        ("request.answered", "req-cites-a"),
        ("subject.forgotten", "ps-bob"),
        ("record.subject_suppressed", "rec-a"),
    ]
    carol = subjects_of(select(ReplayFilter(subjects=frozenset({"ps-carol"})), events))
    assert [r for t, r in carol if t == "request.answered"] == ["req-uses-a", "req-uses-b", "req-after-forget"]
    # Combined with --request-id (AND): only that request, and only because it retrieved the subject's record.
    one = ReplayFilter(subjects=frozenset({"ps-bob"}), request_ids=frozenset({"req-uses-a", "req-uses-b"}))
    assert subjects_of(select(one, events)) == [("request.answered", "req-uses-a")]


def test_filters_of_different_kinds_combine_with_and() -> None:
    alice = frozenset({"ps-alice"})
    assert len(select(ReplayFilter(subjects=alice))) == 3  # rec-a twice, rec-c once
    got = subjects_of(select(ReplayFilter(subjects=alice, tenants=frozenset({"globex"}))))
    assert got == [("record.deidentified", "rec-c")]
    # The subject's record is learned before the time filter: its later event still matches.
    later = select(ReplayFilter(subjects=alice, since=T0 + timedelta(seconds=1)))
    assert subjects_of(later) == [("record.indexed", "rec-a"), ("record.deidentified", "rec-c")]


def test_time_window_is_inclusive() -> None:
    window = ReplayFilter(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4))
    assert [s.offset for s in select(window)] == [2, 3, 4]


def test_selection_feeds_the_verifier_every_record() -> None:
    verifier = ChainVerifier(KEYS)
    assert (
        len(list(select_events(records(stream()), ReplayFilter(tenants=frozenset({"none"})), verifier=verifier))) == 0
    )
    report = verifier.report()
    assert report.intact and report.partitions[0].events == 8 and report.partitions[0].checkpoints_verified == 1


def test_jsonl_round_trips_events_whose_hashes_still_verify() -> None:
    selected = select(ReplayFilter())
    out = io.StringIO()
    assert write_jsonl(selected, out) == 8
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [SelectedEvent(x["partition"], x["offset"], x["event"]) for x in lines] == selected
    assert all(event_hash(x["event"]) == x["event"]["hash"] for x in lines)
    rows = [(x["partition"], x["offset"], json.dumps(x["event"]).encode()) for x in lines]
    assert verify_records(rows, KEYS).intact


def test_csv_parses_back_with_flat_columns() -> None:
    selected = select(ReplayFilter())
    out = io.StringIO(newline="")
    assert write_csv(selected, out) == 8
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 8
    first = rows[0]
    assert (first["partition"], first["offset"], first["seq"], first["event_type"]) == (
        "0",
        "0",
        "0",
        "record.deidentified",
    )
    assert (first["source_topic"], first["source_partition"], first["source_offset"]) == ("erp.events.v1", "0", "0")
    assert json.loads(first["details"]) == {"kind": "order", "subjects": ["ps-alice", "ps-bob"]}
    assert json.loads(first["versions"]) == {"rule_pack": "p1", "deid": "d1"}
    assert first["hash"] == selected[0].event["hash"]
    assert rows[-1]["tenant"] == "" and rows[-1]["event_type"] == "audit.checkpoint"


def test_html_is_self_contained_and_escapes_every_value() -> None:
    hostile = '<script>alert("x")</script>&'
    events = chain([draft(0, tenant=hostile, subject_id="rec-<b>"), draft(1)], checkpoints={2: "k1"})
    rows = records(events)
    verifier = ChainVerifier(KEYS)
    selected = list(select_events(rows, ReplayFilter(tenants=frozenset({hostile})), verifier=verifier))
    out = io.StringIO()
    write_html(
        selected,
        out,
        topic="audit.events.v1",
        filters=ReplayFilter(tenants=frozenset({hostile})),
        report=verifier.report(),
    )
    page = out.getvalue()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert "rec-&lt;b&gt;" in page
    for external in ("src=", "href=", "@import", "url(", "http://", "https://"):
        assert external not in page
    table = page.split('<table class="events">', 1)[1]
    assert table.count("<tr>") == 2  # the header and the one selected event
    assert "record.deidentified" in page and "intact" in page


def test_html_shows_chain_problems() -> None:
    events = chain([draft(i) for i in range(4)], checkpoints={4: "k1"})
    del events[1]
    verifier = ChainVerifier(KEYS)
    selected = list(select_events(records(events), ReplayFilter(), verifier=verifier))
    out = io.StringIO()
    write_html(selected, out, topic="t", filters=ReplayFilter(), report=verifier.report())
    page = out.getvalue()
    assert "1 problem(s) found" in page and "deleted" in page and "seq 1 missing" in page
    assert page.split('<table class="events">', 1)[1].count("<tr><td") == 4


def test_subject_also_selects_its_erasure() -> None:
    events = chain(
        [
            draft(0, subject_id="rec-a", details={"kind": "order", "subjects": ["ps-bob"]}),
            draft(
                1, event_type="subject.forgotten", stage="forget", subject_id="ps-bob", details={"chunks_deleted": 1}
            ),
            draft(2, event_type="subject.forgotten", stage="forget", subject_id="ps-alice", details={}),
        ]
    )
    got = subjects_of(select(ReplayFilter(subjects=frozenset({"ps-bob"})), events))
    assert got == [("record.deidentified", "rec-a"), ("subject.forgotten", "ps-bob")]
