"""Validation of an answer: syntax, lint and the tests' outcome, with a fake sandbox (no process is started)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from models.codegen.limits import RunLimits
from models.codegen.sandbox import SandboxResult
from models.codegen.validate import (
    NO_TESTS,
    SANDBOX_UNAVAILABLE,
    checks_unavailable,
    ruff_lint,
    syntax_error,
    validate_code,
)
from schemas.inference import CodeValidation

LIMITS = RunLimits()
CODE = "def add(a, b):\n    return a + b\n"
TESTS = "def test_add():\n    assert add(1, 2) == 3\n"
ANSWER = f"```python\n{CODE}```\n```python\n{TESTS}```"
PASSING = SandboxResult(passed=1, failed=0, tests=("test_add",), complete=True)


@dataclass
class FakeSandbox:
    result: SandboxResult = PASSING
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, code: str, tests: str, limits: RunLimits) -> SandboxResult:
        self.calls.append((code, tests))
        return self.result


def check(
    answer: str, sandbox: FakeSandbox, *, request_tests: str | None = None, lint: list[str] | None = None
) -> CodeValidation:
    validation, _ = validate_code(
        answer,
        language="python",
        request_tests=request_tests,
        limits=LIMITS,
        sandbox=sandbox,
        linter=lambda code: list(lint or []),
    )
    return validation


def test_an_answer_whose_own_tests_pass_is_valid() -> None:
    sandbox = FakeSandbox()
    validation = check(ANSWER, sandbox)
    assert validation.passed and validation.tests_source == "generated" and validation.tests_passed == 1
    assert sandbox.calls == [(CODE, TESTS)]
    assert validation.attempts == 1 and validation.limits.network is False and validation.limits.processes == 0


def test_the_request_s_tests_win_over_the_model_s() -> None:
    sandbox = FakeSandbox()
    request_tests = "def test_add_zero():\n    assert add(0, 0) == 0\n"
    validation = check(ANSWER, sandbox, request_tests=request_tests)
    assert validation.tests_source == "request"
    assert sandbox.calls == [(CODE, request_tests)]


def test_a_syntax_error_fails_with_its_position_and_runs_no_test() -> None:
    sandbox = FakeSandbox()
    validation = check("```python\ndef add(a, b)\n    return a + b\n```", sandbox, request_tests=TESTS)
    assert not validation.passed and not validation.syntax_ok
    assert validation.syntax_error is not None and validation.syntax_error.startswith("1:")
    assert sandbox.calls == []


def test_without_any_tests_the_answer_does_not_pass() -> None:
    sandbox = FakeSandbox()
    validation = check(f"```python\n{CODE}```", sandbox)
    assert not validation.passed and validation.tests_source == "none"
    assert validation.test_errors == [NO_TESTS] and sandbox.calls == []


def test_a_lint_error_fails_even_when_the_tests_pass() -> None:
    validation = check(ANSWER, FakeSandbox(), lint=["F821 2:12 Undefined name `y`"])
    assert not validation.passed and validation.lint_errors == ["F821 2:12 Undefined name `y`"]
    assert validation.tests_passed == 1


@pytest.mark.parametrize(
    "result",
    [
        SandboxResult(passed=1, failed=1, errors=("test_b: AssertionError",), tests=("a", "b"), complete=True),
        SandboxResult(passed=1, failed=0, violation="write", tests=("a",), complete=True),
        SandboxResult(passed=0, failed=0, errors=("no test_ functions found in the tests",), complete=True),
        SandboxResult(passed=1, failed=0, tests=("a",), complete=False),
    ],
    ids=["a-test-failed", "a-violation", "no-test-collected", "run-ended-early"],
)
def test_the_answer_fails_unless_every_test_ran_and_passed_cleanly(result: SandboxResult) -> None:
    validation = check(ANSWER, FakeSandbox(result))
    assert not validation.passed
    assert validation.sandbox_violation == result.violation


def test_a_sandbox_without_network_isolation_fails_closed_and_says_so() -> None:
    unisolated = SandboxResult(0, 0, ("unshare failed",), network_isolated=False, unavailable="unshare failed")
    validation = check(ANSWER, FakeSandbox(unisolated))
    assert not validation.passed and validation.limits.network is True
    assert validation.test_errors == [f"{SANDBOX_UNAVAILABLE}unshare failed"]
    assert checks_unavailable(validation)


def test_a_failure_of_the_code_is_not_a_failure_of_the_checks() -> None:
    failing = SandboxResult(passed=0, failed=1, errors=("test_add: boom",), tests=("test_add",), complete=True)
    assert not checks_unavailable(check(ANSWER, FakeSandbox(failing)))


def test_only_python_is_validated() -> None:
    with pytest.raises(ValueError, match="python"):
        validate_code(ANSWER, language="rust", request_tests=None, limits=LIMITS)  # type: ignore[arg-type]


def test_syntax_errors_read_line_colon_column_message() -> None:
    assert syntax_error(CODE) is None
    assert syntax_error("x = (1,\n") == "1:5 '(' was never closed"


def test_ruff_reports_bugs_but_not_style() -> None:
    findings = ruff_lint("import os\n\n\ndef f():\n    return y\n")
    assert [finding.split()[0] for finding in findings] == ["F821"]  # F401 (unused import) is not an error here
    assert findings[0].startswith("F821 5:12")
