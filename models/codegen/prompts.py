"""The prompts of validated code generation: the first request for code, and a repair with the concrete errors."""

from __future__ import annotations

from models.codegen.extract import Extracted
from schemas.inference import CodeLanguage, CodeValidation

ERROR_BUDGET_CHARS = 1500
CODE_BUDGET_CHARS = 4000
# What each sandbox violation means for the code, said the way a reviewer would say it to its author.
VIOLATIONS = {
    "cpu_time": "it used up its CPU time (an endless loop?)",
    "wall_time": "it ran past the time limit (waiting or looping forever?)",
    "memory": "it ran out of memory",
    "file_size": "it wrote a file larger than allowed",
    "fork": "it started a process or a thread, which is not allowed",
    "network": "it used the network, which is not allowed",
    "write": "it wrote outside its working directory, which is not allowed",
    "native_code": "it loaded native code through ctypes, which is not allowed",
    "signal": "it sent a signal to another process, which is not allowed",
}


def first_prompt(instruction: str, *, language: CodeLanguage, request_tests: str | None) -> str:
    """Asks for the code in a ```python block, and for tests in a second block when the request brought none."""
    parts = [
        f"Write {_name(language)} code for this task.",
        f"Task: {instruction.strip()}",
        f"Answer with the complete code in one ```{language} block. Use only the standard library; define "
        "functions, and do not read input or print.",
        _tests_part(language, request_tests),
    ]
    return "\n\n".join(parts)


def repair_prompt(
    instruction: str,
    *,
    language: CodeLanguage,
    request_tests: str | None,
    previous: Extracted,
    validation: CodeValidation,
    error_budget_chars: int = ERROR_BUDGET_CHARS,
    code_budget_chars: int = CODE_BUDGET_CHARS,
) -> str:
    """The task again, the previous code (and the model's own tests), and what was wrong with it, truncated to the
    budgets so that a long traceback or a runaway answer cannot crowd the task out of the context."""
    parts = [
        f"Your {_name(language)} code for this task did not pass its checks.",
        f"Task: {instruction.strip()}",
        f"Your code:\n```{language}\n{_clip(previous.code.strip(), code_budget_chars)}\n```",
    ]
    if request_tests is None and previous.tests:
        parts.append(f"Your tests:\n```{language}\n{_clip(previous.tests.strip(), code_budget_chars)}\n```")
    parts.append("What went wrong:\n" + _fit(problems(validation), error_budget_chars))
    parts.append(f"Fix the code. Answer with the complete corrected code in one ```{language} block.")
    parts.append(_tests_part(language, request_tests))
    return "\n\n".join(parts)


def problems(validation: CodeValidation) -> list[str]:
    """Each concrete error of a validation, one line each, most basic first (syntax, lint, violation, tests)."""
    found = []
    if validation.syntax_error:
        found.append(f"- syntax error at {validation.syntax_error}")
    found.extend(f"- lint error {finding}" for finding in validation.lint_errors)
    if validation.sandbox_violation:
        meaning = VIOLATIONS.get(validation.sandbox_violation, validation.sandbox_violation)
        found.append(f"- the sandbox stopped the code: {meaning}")
    if validation.tests_failed:
        found.append(f"- {validation.tests_failed} of {validation.tests_failed + validation.tests_passed} tests failed")
    found.extend(f"- {error}" for error in validation.test_errors)
    return found or ["- the checks failed without a message"]


def _tests_part(language: CodeLanguage, request_tests: str | None) -> str:
    if request_tests is not None and request_tests.strip():
        return (
            "The code must pass these tests, which call its functions by name:\n"
            f"```{language}\n{request_tests.strip()}\n```"
        )
    return (
        f"Then write tests for it in a second ```{language} block: functions named test_… that call the code "
        "and check its results with assert."
    )


def _fit(lines: list[str], budget: int) -> str:
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    if not kept and lines:  # one line longer than the whole budget: its start is still the most useful part
        kept.append(lines[0][: max(0, budget - 1)] + "…")
    left = len(lines) - len(kept)
    if left:
        kept.append(f"- … and {left} more")
    return "\n".join(kept)


def _clip(text: str, budget: int) -> str:
    return text if len(text) <= budget else text[: max(0, budget - 20)] + "\n# … (cut here)"


def _name(language: CodeLanguage) -> str:
    return {"python": "Python"}.get(language, language)
