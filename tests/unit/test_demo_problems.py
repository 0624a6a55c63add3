"""A demo run that lost events or leaked PII fails, saying which."""

from __future__ import annotations

from agents.demo.run import demo_problems


def test_a_clean_run_has_no_problems() -> None:
    assert demo_problems({"produced": 630, "indexed": 600, "dead_lettered": 30, "missing": 0, "pii_leaked": 0}) == []


def test_missing_events_and_leaks_are_each_named() -> None:
    problems = demo_problems({"produced": 630, "missing": 600, "pii_leaked": 3})
    assert len(problems) == 2
    assert problems[0].startswith("600 of 630 events were neither indexed nor dead-lettered")
    assert "3 planted PII values" in problems[1]


def test_a_reviewed_request_without_its_final_response_is_a_problem() -> None:
    clean = {"produced": 1, "missing": 0, "pii_leaked": 0}
    assert demo_problems({**clean, "review": {"first_status": "pending_review", "final_status": "ok"}}) == []
    (problem,) = demo_problems({**clean, "review": {"error": "TimeoutError: not queued"}})
    assert "did not get its final response" in problem and "not queued" in problem
