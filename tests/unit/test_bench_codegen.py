"""The codegen bench's pure parts: figures from task runs, and the alternating task order."""

from __future__ import annotations

from agents.bench.codegen import TaskRun, figures, round_order, severe
from models.codegen.bench_tasks import BENCH_TASKS
from models.codegen.limits import RunLimits
from schemas.inference import CodeValidation


def validation(
    attempt: int, *, passed: bool = False, syntax: bool = True, violation: str | None = None
) -> CodeValidation:
    return CodeValidation(
        language="python",
        passed=passed,
        syntax_ok=syntax,
        syntax_error=None if syntax else "1:1 invalid syntax",
        tests_source="request",
        tests_passed=int(passed),
        tests_failed=int(not passed and syntax),
        sandbox_violation=violation,
        attempts=attempt,
        limits=RunLimits().reported(network_reachable=False),
    )


def run(task: str, round_: int, seconds: float, *history: CodeValidation) -> TaskRun:
    return TaskRun(task, round_, seconds, tuple(0.05 for _ in history), tuple(history))


RUNS = [
    run("a", 0, 1.0, validation(1, passed=True)),
    run("b", 0, 3.0, validation(1, syntax=False), validation(2, passed=True)),
    run("c", 0, 5.0, validation(1, violation="network"), validation(2), validation(3)),
    run("d", 0, 2.0, validation(1), validation(2, passed=True)),
    run("a", 1, 1.5, validation(1, passed=True)),
    run("b", 1, 3.5, validation(1, syntax=False), validation(2, syntax=False), validation(3, syntax=False)),
    run("c", 1, 4.0, validation(1, violation="cpu_time"), validation(2, passed=True)),
    run("d", 1, 2.5, validation(1), validation(2), validation(3)),
]


def test_pass_rates_count_first_attempts_and_final_outcomes() -> None:
    result = figures(RUNS)
    assert result["runs"] == 8
    assert result["pass_at_1"] == 0.25  # a, twice
    assert result["pass_after_repair"] == 0.625  # a twice, b0, d0, c1
    assert result["by_round"] == [
        {"round": 0, "pass_at_1": 0.25, "pass_after_repair": 0.75},
        {"round": 1, "pass_at_1": 0.25, "pass_after_repair": 0.5},
    ]
    assert result["pass_after_repair_by_round"]["median"] == 0.625


def test_severe_errors_are_syntax_errors_and_violations_of_first_answers_and_of_returned_answers() -> None:
    result = figures(RUNS)
    assert result["severe_error_rate_before_validation"] == 0.5  # b0, c0, b1, c1
    assert result["severe_error_rate_after_validation"] == 0.0
    assert result["violations"] == {"network": 1, "cpu_time": 1}
    assert result["syntax_errors_first_answer"] == 2


def test_a_returned_answer_with_a_severe_error_would_show_after_validation() -> None:
    # Not possible with the real validator (passed implies no syntax error and no violation): if one ever let such
    # an answer through, the figure must say so instead of reading 0.
    leaked = run("x", 0, 1.0, validation(1, passed=True, violation="write"))
    assert figures([leaked, *RUNS[:3]])["severe_error_rate_after_validation"] == 0.25


def test_attempts_times_and_tasks_are_summarised() -> None:
    result = figures(RUNS)
    assert result["attempts_histogram"] == {"1": 2, "2": 3, "3": 3}
    assert result["passed_by_attempts"] == {"1": 2, "2": 3, "3": 0}
    assert result["seconds_per_task"]["median"] == 2.75
    assert result["seconds_per_task"]["p10"] < result["seconds_per_task"]["p90"]
    assert result["by_task"]["b"]["passed_after_repair"] == 1 and result["by_task"]["b"]["attempts"] == [2, 3]


def test_no_runs_give_no_rates_rather_than_zero() -> None:
    result = figures([])
    assert result["pass_at_1"] is None and result["seconds_per_task"]["median"] is None


def test_severe_means_a_syntax_error_or_a_violation() -> None:
    assert severe(validation(1, syntax=False)) and severe(validation(1, violation="fork"))
    assert not severe(validation(1))


def test_rounds_alternate_the_task_order() -> None:
    assert round_order(BENCH_TASKS, 0) == list(BENCH_TASKS)
    assert round_order(BENCH_TASKS, 1) == list(reversed(BENCH_TASKS))
    assert len(BENCH_TASKS) == 12 and len({task.name for task in BENCH_TASKS}) == 12
