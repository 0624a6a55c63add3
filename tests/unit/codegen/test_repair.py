"""The repair loop and its prompts, with a fake generator and a fake sandbox (no model, no process)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pytest

from models.codegen.extract import Extracted
from models.codegen.limits import RunLimits
from models.codegen.prompts import first_prompt, repair_prompt
from models.codegen.repair import generate_validated
from models.codegen.sandbox import SandboxResult
from models.codegen.validate import validate_code
from schemas.inference import CodeValidation

LIMITS = RunLimits()
INSTRUCTION = "Write add(a, b) that returns the sum."
TESTS = "def test_add():\n    assert add(1, 2) == 3\n"
BROKEN = "```python\ndef add(a, b)\n    return a + b\n```"
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
GOOD = "```python\ndef add(a, b):\n    return a + b\n```"


class FakeGenerator:
    """Answers in turn (the last one again when they run out), and keeps the prompts it was given."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers[min(len(self.prompts), len(self.answers)) - 1]


def fake_sandbox(code: str, tests: str, limits: RunLimits) -> SandboxResult:
    """Passes exactly the code that adds."""
    if "a + b" in code:
        return SandboxResult(passed=1, failed=0, tests=("test_add",), complete=True)
    return SandboxResult(passed=0, failed=1, errors=("test_add: AssertionError: assert -1 == 3",), complete=True)


VALIDATE = functools.partial(validate_code, sandbox=fake_sandbox, linter=lambda code: [])


async def test_a_syntax_error_is_sent_back_and_the_repair_passes() -> None:
    generator = FakeGenerator([BROKEN, GOOD])
    outcome = await generate_validated(
        generator,
        instruction=INSTRUCTION,
        language="python",
        request_tests=TESTS,
        limits=LIMITS,
        max_attempts=3,
        validate=VALIDATE,
    )
    assert outcome.passed and outcome.validation.attempts == 2
    assert [v.passed for v in outcome.history] == [False, True]
    assert [v.attempts for v in outcome.history] == [1, 2]
    assert outcome.code == "def add(a, b):\n    return a + b\n" and outcome.answer_text == GOOD
    repair = generator.prompts[1]
    assert "syntax error at 1:" in repair and "def add(a, b)\n    return a + b" in repair and TESTS.strip() in repair


async def test_a_never_passing_answer_stops_at_max_attempts() -> None:
    generator = FakeGenerator([WRONG])
    outcome = await generate_validated(
        generator,
        instruction=INSTRUCTION,
        language="python",
        request_tests=TESTS,
        limits=LIMITS,
        max_attempts=3,
        validate=VALIDATE,
    )
    assert not outcome.passed and len(generator.prompts) == 3 and outcome.validation.attempts == 3
    assert "assert -1 == 3" in generator.prompts[2]


async def test_a_first_answer_that_passes_is_not_repaired() -> None:
    generator = FakeGenerator([GOOD, WRONG])
    outcome = await generate_validated(
        generator,
        instruction=INSTRUCTION,
        language="python",
        request_tests=TESTS,
        limits=LIMITS,
        max_attempts=3,
        validate=VALIDATE,
    )
    assert outcome.passed and len(generator.prompts) == 1 and len(outcome.history) == 1


async def test_when_the_checks_cannot_run_no_repair_is_asked_for() -> None:
    def unisolated(code: str, tests: str, limits: RunLimits) -> SandboxResult:
        return SandboxResult(0, 0, ("unshare failed",), network_isolated=False, unavailable="unshare failed")

    generator = FakeGenerator([GOOD])
    outcome = await generate_validated(
        generator,
        instruction=INSTRUCTION,
        language="python",
        request_tests=TESTS,
        limits=LIMITS,
        max_attempts=3,
        validate=functools.partial(validate_code, sandbox=unisolated, linter=lambda code: []),
    )
    assert not outcome.passed and len(generator.prompts) == 1 and outcome.validation.limits.network


async def test_at_least_one_attempt_is_required() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        await generate_validated(
            FakeGenerator([GOOD]),
            instruction=INSTRUCTION,
            language="python",
            request_tests=TESTS,
            limits=LIMITS,
            max_attempts=0,
        )


def test_the_first_prompt_asks_for_tests_only_when_the_request_has_none() -> None:
    with_tests = first_prompt(INSTRUCTION, language="python", request_tests=TESTS)
    without = first_prompt(INSTRUCTION, language="python", request_tests=None)
    assert "```python" in with_tests and TESTS.strip() in with_tests and "second ```python block" not in with_tests
    assert "second ```python block" in without and INSTRUCTION in without


def failing_validation(errors: list[str]) -> CodeValidation:
    return CodeValidation(
        language="python",
        passed=False,
        syntax_ok=True,
        tests_source="generated",
        tests_failed=len(errors),
        test_errors=errors,
        sandbox_violation="network",
        attempts=1,
        limits=LIMITS.reported(network_reachable=False),
    )


def test_the_repair_prompt_keeps_the_model_s_own_tests_and_names_the_violation() -> None:
    previous = Extracted(code="def add(a, b):\n    return a - b\n", tests=TESTS)
    prompt = repair_prompt(
        INSTRUCTION,
        language="python",
        request_tests=None,
        previous=previous,
        validation=failing_validation(["test_add: AssertionError"]),
    )
    assert "return a - b" in prompt and "Your tests:" in prompt and "used the network" in prompt
    assert "test_add: AssertionError" in prompt and "second ```python block" in prompt


def test_the_repair_prompt_truncates_the_errors_to_its_budget() -> None:
    errors = [f"test_{n}: AssertionError: " + "x" * 200 for n in range(50)]
    prompt = repair_prompt(
        INSTRUCTION,
        language="python",
        request_tests=TESTS,
        previous=Extracted(code="x = 1\n", tests=None),
        validation=failing_validation(errors),
        error_budget_chars=1000,
    )
    section = prompt.split("What went wrong:\n", 1)[1].split("\n\nFix the code.", 1)[0]
    assert len(section) <= 1000 + 40 and "more" in section.splitlines()[-1]
    assert "test_0:" in section and "test_49:" not in section
