"""Validated code generation: extract code from an answer, check it (syntax, lint, sandboxed tests), repair it."""

from __future__ import annotations

from models.codegen.extract import Extracted, extract, split_tests
from models.codegen.limits import RunLimits
from models.codegen.repair import CodeOutcome, generate_validated
from models.codegen.sandbox import SandboxResult, run_tests
from models.codegen.validate import checks_unavailable, validate_code

__all__ = [
    "CodeOutcome",
    "Extracted",
    "RunLimits",
    "SandboxResult",
    "checks_unavailable",
    "extract",
    "generate_validated",
    "run_tests",
    "split_tests",
    "validate_code",
]
