"""The A/B report groups audit events by model and variant and summarises them."""

from __future__ import annotations

from agents.tools.ab_report import compare_variants, percentile


def answered(model: str | None, variant: str | None, status: str, total: float, completion: int, tenant: str = "a"):  # type: ignore[no-untyped-def]
    return {
        "event_type": "request.answered",
        "tenant": tenant,
        "versions": {"model": model} if model else {},
        "timings_ms": {"total": total},
        "details": {"variant": variant, "status": status, "tokens": {"completion": completion}},
    }


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([1, 2, 3, 4], 99) == 4
    assert percentile([], 50) is None


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
    assert report["m@1 [A]"]["latency_ms"][50] == 100
    assert report["m@2 [B]"]["statuses"] == {"ok": 1, "timeout": 1}
    assert report["m@2 [B]"]["mean_completion_tokens"] == 8  # only ok answers count
    assert report["(no model) [-]"]["pending_review"] == 1
    assert "m@1 [A]" in compare_variants(events) and compare_variants(events)["m@1 [A]"]["requests"] == 3
