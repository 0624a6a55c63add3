"""Check a code answer: syntax (ast), lint (ruff, error-class rules only), then its tests in the sandbox.

The lint rule set fails code only for findings that are bugs at run time, never for style: E9 (the file cannot be
read or parsed), F50/F52 (a %-format or str.format call that raises), F63 (comparisons and asserts that are always
true or false, `is` with a literal), F7 (break/continue/return/yield where they cannot be), F811 (a definition
overwritten before any use: usually a half-finished draft left above the real one) and F82 (undefined names,
including in __all__, and a local read before it is assigned). Unused imports and variables, and everything else
ruff would say, do not fail a validation.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Callable
from typing import Literal

from models.codegen.extract import Extracted, extract
from models.codegen.limits import RunLimits
from models.codegen.sandbox import SandboxResult, run_tests
from schemas.inference import CodeLanguage, CodeValidation

ERROR_RULES = ("E9", "F50", "F52", "F63", "F7", "F811", "F82")
RUFF_TIMEOUT_S = 20.0
# Prefixes of the errors that are the validator's own, not the code's: repairing the code cannot fix them.
SANDBOX_UNAVAILABLE = "sandbox unavailable: "
LINT_UNAVAILABLE = "ruff could not run: "
NO_TESTS = "no tests: the request gave none and the answer held no `def test_…` function"

Sandbox = Callable[[str, str, RunLimits], SandboxResult]
Linter = Callable[[str], list[str]]


def syntax_error(code: str) -> str | None:
    """None when code parses; else `line:col message`, as the repair prompt shows it."""
    try:
        ast.parse(code, "solution.py")
    except SyntaxError as error:
        return f"{error.lineno or 0}:{error.offset or 0} {error.msg}"
    except ValueError as error:  # source with a NUL byte
        return f"0:0 {error}"
    return None


def ruff_lint(code: str) -> list[str]:
    """Error-class ruff findings in code (ERROR_RULES), each `CODE line:col message`.

    Runs the ruff binary on stdin with --isolated, so that no configuration file near the worker's working
    directory changes the rules; a ruff that cannot run is itself a finding (fail closed).
    """
    from ruff.__main__ import find_ruff_bin

    command = [
        find_ruff_bin(),
        "check",
        "--isolated",
        "--no-cache",
        "--select",
        "E9,F",
        "--output-format",
        "json",
        "--stdin-filename",
        "solution.py",
        "-",
    ]
    try:
        done = subprocess.run(
            command, input=code.encode(), capture_output=True, timeout=RUFF_TIMEOUT_S, check=False, env={}
        )
        findings = json.loads(done.stdout or b"[]")
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        return [f"{LINT_UNAVAILABLE}{error}"]
    if done.returncode not in (0, 1) or not isinstance(findings, list):
        return [f"{LINT_UNAVAILABLE}exit status {done.returncode}: {done.stderr.decode(errors='replace')[:300]}"]
    return [
        f"{item['code']} {item['location']['row']}:{item['location']['column']} {item['message']}"
        for item in findings
        if isinstance(item, dict) and str(item.get("code") or "").startswith(ERROR_RULES)
    ]


def validate_code(
    answer_text: str,
    *,
    language: CodeLanguage,
    request_tests: str | None,
    limits: RunLimits,
    sandbox: Sandbox = run_tests,
    linter: Linter = ruff_lint,
) -> tuple[CodeValidation, Extracted]:
    """The CodeValidation of one answer (attempts=1) and what was extracted from it. Blocking: the sandbox runs
    for up to limits.wall_seconds, so async callers run this in a thread.

    The request's tests win over tests the model wrote; with neither, the answer does not pass.
    """
    if language != "python":
        raise ValueError(f"only python code can be validated, not {language!r}")
    extracted = extract(answer_text)
    code = extracted.code
    tests: str | None
    source: Literal["request", "generated", "none"]
    if request_tests is not None and request_tests.strip():
        tests, source = request_tests, "request"
    elif extracted.tests is not None and extracted.tests.strip():
        tests, source = extracted.tests, "generated"
    else:
        tests, source = None, "none"

    problem = syntax_error(code)
    lint_errors = linter(code) if problem is None else []
    result: SandboxResult | None = None
    if problem is None and tests is not None:
        result = sandbox(code, tests, limits)

    test_errors: list[str] = []
    if tests is None:
        test_errors.append(NO_TESTS)
    elif result is None:
        test_errors.append("tests not run: the code has a syntax error")
    elif result.unavailable is not None:
        test_errors.append(f"{SANDBOX_UNAVAILABLE}{result.unavailable}")
    else:
        test_errors.extend(result.errors)
    network_reachable = result is not None and not result.network_isolated
    passed = (
        problem is None
        and not lint_errors
        and result is not None
        and result.unavailable is None
        and result.complete
        and not network_reachable
        and result.violation is None
        and result.failed == 0
        and result.passed > 0
    )
    validation = CodeValidation(
        language=language,
        passed=passed,
        syntax_ok=problem is None,
        syntax_error=problem,
        lint_errors=lint_errors,
        tests_source=source,
        tests_passed=result.passed if result else 0,
        tests_failed=result.failed if result else 0,
        test_errors=test_errors,
        sandbox_violation=result.violation if result else None,
        attempts=1,
        limits=limits.reported(network_reachable=network_reachable),
    )
    return validation, extracted


def checks_unavailable(validation: CodeValidation) -> bool:
    """Whether the validator itself could not check (no isolated sandbox, no ruff): another attempt cannot pass."""
    return (
        validation.limits.network
        or any(error.startswith(SANDBOX_UNAVAILABLE) for error in validation.test_errors)
        or any(error.startswith(LINT_UNAVAILABLE) for error in validation.lint_errors)
    )
