"""The pure parts of `sluice bench eos`: round order, the per-mode medians and ratios, the result's shape and table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.bench.eos_summary import RoundResult, format_table, interleaved, summarise

RECORDS, REQUESTS = 100, 8


def a_round(number: int, mode: Any, ingest_rate: float, tokens_rate: float, **changes: Any) -> RoundResult:
    ingest = {
        "records": RECORDS,
        "acks": RECORDS,
        "ack_messages": RECORDS,
        "seconds": round(RECORDS / ingest_rate, 2),
        "records_per_s": ingest_rate,
        "steady_records_per_s": ingest_rate * 1.1,
        "latency_ms": {"p50": 900.0 + number, "p95": 1500.0 + number},
    }
    inference = {
        "requests": REQUESTS,
        "responses": REQUESTS,
        "by_status": {"ok": REQUESTS},
        "tokens": 384,
        "seconds": round(384 / tokens_rate, 2),
        "tokens_per_s": tokens_rate,
        "requests_per_s": round(REQUESTS / (384 / tokens_rate), 3),
        "mean_batch_size": 8.0,
        "latency_ms": {"p50": 4000.0, "p95": 4800.0},
        "missing": [],
    }
    ingest.update(changes.pop("ingest", {}))
    inference.update(changes.pop("inference", {}))
    restarts = changes.pop("worker_restarts", {})
    return RoundResult(number, mode, ingest, inference, 20.0, 5.0, {"ingest": {}, "inference": {}}, restarts, [])


def two_rounds(**eos_round_2: Any) -> list[RoundResult]:
    return [
        a_round(1, "at_least_once", 80.0, 70.0),
        a_round(1, "exactly_once", 70.0, 68.0),
        a_round(2, "at_least_once", 100.0, 90.0),
        a_round(2, "exactly_once", 90.0, 72.0, **eos_round_2),
    ]


def test_rounds_alternate_the_guarantees_alo_first() -> None:
    assert interleaved(3) == [
        (1, "at_least_once"),
        (1, "exactly_once"),
        (2, "at_least_once"),
        (2, "exactly_once"),
        (3, "at_least_once"),
        (3, "exactly_once"),
    ]


def test_no_rounds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one round"):
        interleaved(0)


def test_summary_reports_each_round_the_medians_and_eos_over_alo_of_the_medians() -> None:
    result = summarise(two_rounds(), records=RECORDS, requests=REQUESTS)

    alo, eos = result["modes"]["at_least_once"], result["modes"]["exactly_once"]
    assert alo["ingest_records_per_s"] == {"rounds": [80.0, 100.0], "median": 90.0}
    assert eos["ingest_records_per_s"] == {"rounds": [70.0, 90.0], "median": 80.0}
    assert eos["inference_tokens_per_s"] == {"rounds": [68.0, 72.0], "median": 70.0}
    assert eos["ingest_latency_ms"] == {"p50": 901.5, "p95": 1501.5}
    assert result["eos_vs_alo"]["ingest_records_per_s"] == round(80.0 / 90.0, 3)
    assert result["eos_vs_alo"]["inference_tokens_per_s"] == round(70.0 / 80.0, 3)
    assert result["order"] == ["1:at_least_once", "1:exactly_once", "2:at_least_once", "2:exactly_once"]
    assert result["rounds"] == 2
    assert [r["mode"] for r in result["per_round"]] == ["at_least_once", "exactly_once"] * 2
    assert result["same_work"] == {"ingest": True, "inference": True, "inference_tokens_identical": True}


def test_summary_is_plain_json_with_the_documented_keys() -> None:
    result = summarise(two_rounds(), records=RECORDS, requests=REQUESTS)

    assert json.loads(json.dumps(result)) == result
    assert set(result) == {"records", "requests", "rounds", "order", "eos_vs_alo", "modes", "same_work", "per_round"}
    assert set(result["eos_vs_alo"]) == {
        "ingest_records_per_s",
        "ingest_steady_records_per_s",
        "inference_tokens_per_s",
        "inference_requests_per_s",
    }
    assert set(result["per_round"][0]) == {
        "round",
        "mode",
        "ingest",
        "inference",
        "restart_seconds",
        "warmup_seconds",
        "cpu_seconds",
        "worker_restarts",
        "warmup_missing",
    }


@pytest.mark.parametrize(
    ("eos_round_2", "broken"),
    [
        ({"ingest": {"acks": RECORDS - 1}}, "ingest"),
        ({"ingest": {"ack_messages": RECORDS + 3}}, "ingest"),  # repeats: not the same work either
        ({"inference": {"by_status": {"ok": REQUESTS - 1, "timeout": 1}}}, "inference"),
        ({"inference": {"responses": REQUESTS - 1, "by_status": {"ok": REQUESTS - 1}}}, "inference"),
    ],
)
def test_a_round_that_did_other_work_is_flagged(eos_round_2: dict[str, Any], broken: str) -> None:
    result = summarise(two_rounds(**eos_round_2), records=RECORDS, requests=REQUESTS)

    assert result["same_work"][broken] is False
    assert all(ok for key, ok in result["same_work"].items() if key not in (broken, "inference_tokens_identical"))


def test_different_token_counts_are_reported_not_hidden() -> None:
    result = summarise(two_rounds(inference={"tokens": 383}), records=RECORDS, requests=REQUESTS)

    assert result["same_work"]["inference_tokens_identical"] is False
    assert result["modes"]["exactly_once"]["tokens"] == [384, 383]


def test_the_table_has_a_line_per_round_a_median_per_mode_and_the_ratios() -> None:
    result = summarise(two_rounds(), records=RECORDS, requests=REQUESTS)

    lines = format_table(result).splitlines()

    assert [line.split()[:2] for line in lines[1:7]] == [
        ["1", "ALO"],
        ["1", "EOS"],
        ["2", "ALO"],
        ["2", "EOS"],
        ["median", "ALO"],
        ["median", "EOS"],
    ]
    assert lines[6].split()[2] == "80.0"  # EOS median ingest records/s
    assert "eos_vs_alo  ingest 0.889" in lines[7]
    assert "inference 0.875 tokens/s" in lines[7]


def test_the_table_shows_worker_restarts_of_a_round() -> None:
    rounds = two_rounds(worker_restarts={"audit-0": 3, "inference-0": 1})

    lines = format_table(summarise(rounds, records=RECORDS, requests=REQUESTS)).splitlines()

    assert lines[0].split()[-1] == "restarts"
    assert lines[4].split()[-1] == "4"  # round 2, EOS
    assert lines[3].split()[-1] == "0"
