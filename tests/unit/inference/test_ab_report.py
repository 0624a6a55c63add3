"""The A/B report groups audit events by model and variant and summarises them."""

from __future__ import annotations

import json

from agents.core.messages import SourcePosition
from agents.tools.ab_report import compare_variants, first_response_times
from agents.tools.stats import latency_summary


def answered(model: str | None, variant: str | None, status: str, total: float, completion: int, tenant: str = "a"):  # type: ignore[no-untyped-def]
    return {
        "event_type": "request.answered",
        "tenant": tenant,
        "versions": {"model": model} if model else {},
        "timings_ms": {"total": total},
        "details": {"variant": variant, "status": status, "tokens": {"completion": completion}},
    }


def test_latency_percentiles_are_the_benches_and_the_demos() -> None:
    totals = [120.0, 80.0, 400.0, 95.0, 101.0]
    events = [answered("m@1", "A", "ok", total, 10) for total in totals]

    latency = compare_variants(events)["m@1 [A]"]["latency_ms"]

    assert latency == {int(key[1:]): value for key, value in latency_summary(totals).items()}
    assert latency[95] == 344.0  # interpolated between 120 and 400; nearest rank would say 400


def test_variants_are_compared_on_latency_tokens_and_statuses() -> None:
    events = [
        answered("m@1", "A", "ok", 100, 10),
        answered("m@1", "A", "ok", 300, 20),
        answered("m@2", "B", "ok", 50, 8),
        answered("m@2", "B", "timeout", 900, 0),
        answered(None, None, "pending_review", 5, 0),
        answered("m@1", "A", "ok", 1, 1, tenant="other"),
        {"event_type": "record.indexed", "details": {}},
    ]
    report = compare_variants(events, tenant="a")
    assert report["m@1 [A]"]["requests"] == 2 and report["m@1 [A]"]["mean_completion_tokens"] == 15
    assert report["m@1 [A]"]["latency_ms"] == {50: 200.0, 95: 290.0, 99: 298.0}
    assert report["m@2 [B]"]["latency_ms"][50] == 475.0
    assert report["m@2 [B]"]["statuses"] == {"ok": 1, "timeout": 1}
    assert report["m@2 [B]"]["mean_completion_tokens"] == 8  # only ok answers count
    assert report["(no model) [-]"]["pending_review"] == 1
    assert "m@1 [A]" in compare_variants(events) and compare_variants(events)["m@1 [A]"]["requests"] == 3


def reviewed(event_type: str, model: str, variant: str, tenant: str = "a") -> dict[str, object]:
    return {"event_type": event_type, "tenant": tenant, "details": {"model": model, "variant": variant}}


def test_reviews_are_counted_per_variant_that_drafted_the_answer() -> None:
    events = [
        answered("m@1", "A", "pending_review", 5, 8),
        answered("m@1", "A", "pending_review", 5, 8),
        answered("m@1", "A", "pending_review", 5, 8),
        answered("m@2", "B", "pending_review", 5, 8),
        reviewed("review.approved", "m@1", "A"),
        reviewed("review.edited", "m@1", "A"),
        reviewed("review.rejected", "m@2", "B"),
        reviewed("review.approved", "m@2", "B", tenant="other"),
        reviewed("review.expired", "m@1", "A"),
    ]
    report = compare_variants(events, tenant="a")
    assert report["m@1 [A]"]["reviews"] == {
        "sent": 3,
        "approved_unchanged": 1,
        "edited": 1,
        "rejected": 0,
        "expired": 1,
    }
    assert report["m@2 [B]"]["reviews"]["rejected"] == 1 and report["m@2 [B]"]["reviews"]["approved_unchanged"] == 0


def test_client_latency_runs_from_the_request_record_to_the_first_response_record_that_is_not_partial() -> None:
    def event(request_id: str, produced_ms: int | None, total: float) -> dict[str, object]:
        details = {"variant": "A", "status": "ok", "tokens": {"completion": 1}, "request_produced_at_ms": produced_ms}
        return {
            "event_type": "request.answered",
            "tenant": "a",
            "subject_id": request_id,
            "versions": {"model": "m@1"},
            "timings_ms": {"total": total},
            "details": details,
        }

    def response(request_id: str, status: str, at_ms: int, tenant: str = "a") -> SourcePosition:
        body = {"request_id": request_id, "tenant": tenant, "status": status}
        return SourcePosition("inference.responses.v1", 0, at_ms, b"k", json.dumps(body).encode(), at_ms)

    times = first_response_times(
        [
            response("r1", "partial", 1_100),  # a streamed partial is not what the latency is measured to
            response("r1", "ok", 1_900),
            response("r2", "pending_review", 5_000),
            response("r2", "ok", 9_000),  # the review's final comes later; the client first saw pending_review
            response("r3", "ok", 7_000, tenant="b"),  # same id, another tenant: not this request's response
            SourcePosition("inference.responses.v1", 0, 9, b"k", b"not json", 10),
        ]
    )
    events = [event("r1", 1_000, 300.0), event("r2", 2_000, 100.0), event("r3", 3_000, 50.0), event("r4", None, 9.0)]
    row = compare_variants(events, response_times=times)["m@1 [A]"]
    assert row["latency_ms"][50] == 75.0  # the worker's own figures: all four requests
    assert row["client_latency_ms"] == {50: 1_950.0, 95: 2_895.0, 99: 2_979.0}  # only r1 (900 ms) and r2 (3 s)
