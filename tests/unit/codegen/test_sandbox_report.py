"""The sandbox's report, read from the runner's events and how its process ended (no process is started here)."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from models.codegen.limits import RunLimits
from models.codegen.sandbox import summarise

CONFINED: dict[str, Any] = {"event": "confined", "network_isolated": True, "problem": None, "uid": 65534}


def ended(name: str, ok: bool, error: str | None = None, violation: str | None = None) -> list[dict[str, Any]]:
    return [
        {"event": "start", "test": name},
        {"event": "end", "test": name, "ok": ok, "error": error, "violation": violation},
    ]


def test_passed_and_failed_tests_are_counted_with_their_errors() -> None:
    events = [
        CONFINED,
        {"event": "collected", "tests": ["test_a", "test_b"], "more": 0},
        *ended("test_a", True),
        *ended("test_b", False, "AssertionError: assert 1 == 2"),
        {"event": "done"},
    ]
    result = summarise(events, returncode=0, timed_out=False, stderr_tail="")
    assert (result.passed, result.failed, result.violation, result.complete) == (1, 1, None, True)
    assert result.errors == ("test_b: AssertionError: assert 1 == 2",)


def test_a_cpu_kill_is_charged_to_the_running_test_and_the_rest_count_as_failed() -> None:
    events = [
        CONFINED,
        {"event": "collected", "tests": ["test_a", "test_b", "test_c"], "more": 0},
        *ended("test_a", True),
    ]
    events.append({"event": "start", "test": "test_b"})
    result = summarise(events, returncode=-signal.SIGXCPU, timed_out=False, stderr_tail="")
    assert (result.passed, result.failed, result.violation) == (1, 2, "cpu_time")
    assert result.errors == ("test_b: stopped by the sandbox (cpu_time)",)


def test_the_wall_clock_kill_is_a_wall_time_violation() -> None:
    events = [CONFINED, {"event": "collected", "tests": ["test_a"], "more": 0}, {"event": "start", "test": "test_a"}]
    result = summarise(events, returncode=-signal.SIGKILL, timed_out=True, stderr_tail="")
    assert (result.passed, result.failed, result.violation) == (0, 1, "wall_time")


def test_the_first_violation_a_test_reported_is_the_result_s() -> None:
    events = [
        CONFINED,
        {"event": "collected", "tests": ["test_a", "test_b"], "more": 0},
        *ended("test_a", False, "refused socket.connect", "network"),
        *ended("test_b", False, "refused os.fork", "fork"),
        {"event": "done"},
    ]
    assert summarise(events, returncode=0, timed_out=False, stderr_tail="").violation == "network"


def test_a_network_that_could_not_be_isolated_runs_nothing_and_says_so() -> None:
    events = [{"event": "confined", "network_isolated": False, "problem": "unshare failed: EPERM", "uid": 1000}]
    result = summarise(events, returncode=3, timed_out=False, stderr_tail="")
    assert not result.network_isolated
    assert result.unavailable is not None and "unshare failed" in result.unavailable
    assert (result.passed, result.failed) == (0, 0)


def test_a_runner_that_never_reported_is_unavailable() -> None:
    result = summarise([], returncode=1, timed_out=False, stderr_tail="Traceback\nImportError: boom\n")
    assert result.unavailable is not None and "ImportError: boom" in result.unavailable


def test_a_run_that_ended_without_done_is_an_error_even_when_every_test_passed() -> None:
    events = [CONFINED, {"event": "collected", "tests": ["test_a"], "more": 0}, *ended("test_a", True)]
    result = summarise(events, returncode=0, timed_out=False, stderr_tail="")
    assert result.passed == 1 and not result.complete
    assert any("ended early" in error for error in result.errors)


def test_tests_beyond_what_the_sandbox_runs_count_as_failed() -> None:
    events = [
        CONFINED,
        {"event": "collected", "tests": ["test_a"], "more": 5},
        *ended("test_a", True),
        {"event": "done"},
    ]
    result = summarise(events, returncode=0, timed_out=False, stderr_tail="")
    assert (result.passed, result.failed) == (1, 5)


def test_no_tests_found_is_an_error() -> None:
    events = [CONFINED, {"event": "collected", "tests": [], "more": 0}, {"event": "done"}]
    result = summarise(events, returncode=0, timed_out=False, stderr_tail="")
    assert (result.passed, result.failed) == (0, 0) and result.errors == ("no test_ functions found in the tests",)


@pytest.mark.parametrize("field", ["cpu_seconds", "wall_seconds", "memory_mb", "file_size_kb", "open_files"])
def test_a_limit_that_is_not_positive_is_refused_by_name(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RunLimits(**{field: 0})


def test_the_reported_limits_say_no_processes_and_whether_the_network_was_reachable() -> None:
    reported = RunLimits(cpu_seconds=3).reported(network_reachable=False)
    assert (reported.cpu_seconds, reported.processes, reported.network) == (3, 0, False)
