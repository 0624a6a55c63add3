"""The bounded repair loop: generate code, validate it, and send the errors back to the model up to N times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from models.codegen.extract import Extracted
from models.codegen.limits import RunLimits
from models.codegen.prompts import first_prompt, repair_prompt
from models.codegen.validate import checks_unavailable, validate_code
from schemas.inference import CodeLanguage, CodeValidation

Generate = Callable[[str], Awaitable[str]]
Validate = Callable[..., tuple[CodeValidation, Extracted]]


@dataclass(frozen=True)
class CodeOutcome:
    """The last answer, its code and validation (attempts filled in), and each attempt's validation in order."""

    answer_text: str
    code: str
    tests: str | None
    validation: CodeValidation
    history: tuple[CodeValidation, ...]

    @property
    def passed(self) -> bool:
        return self.validation.passed


async def generate_validated(
    generate: Generate,
    *,
    instruction: str,
    language: CodeLanguage,
    request_tests: str | None,
    limits: RunLimits,
    max_attempts: int,
    validate: Validate = validate_code,
) -> CodeOutcome:
    """Generate until an answer passes validation or max_attempts answers were tried, whichever comes first.

    Each repair prompt carries the previous code and its concrete errors. The loop also stops early when the
    validator itself cannot check (no isolated sandbox, no ruff): another generation could not pass either.
    Validation blocks (a subprocess, up to the wall-clock limit), so it runs in a thread.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    prompt = first_prompt(instruction, language=language, request_tests=request_tests)
    history: list[CodeValidation] = []
    for attempt in range(1, max_attempts + 1):
        answer = await generate(prompt)
        checked, extracted = await asyncio.to_thread(
            validate, answer, language=language, request_tests=request_tests, limits=limits
        )
        validation = checked.model_copy(update={"attempts": attempt})
        history.append(validation)
        if validation.passed or checks_unavailable(validation) or attempt == max_attempts:
            break
        prompt = repair_prompt(
            instruction, language=language, request_tests=request_tests, previous=extracted, validation=validation
        )
    return CodeOutcome(
        answer_text=answer,
        code=extracted.code,
        tests=extracted.tests if request_tests is None else request_tests,
        validation=validation,
        history=tuple(history),
    )
