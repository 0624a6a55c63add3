"""A regex that validates a whole value is used with fullmatch: `$` lets a trailing newline through."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agents.core.settings import load_settings
from schemas.errors import ConfigurationError
from schemas.inference import InferenceRequest
from schemas.records import is_valid_tenant

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agents", "models", "schemas", "topics")


def _regex_calls() -> list[tuple[str, int, str, str]]:
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                    continue
                try:
                    pattern = ast.literal_eval(node.args[0])
                except ValueError:
                    continue
                if isinstance(pattern, str):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.func.attr, pattern))
    return found


def test_no_literal_regex_is_anchored_with_a_dollar_or_checked_with_match() -> None:
    offenders = [
        f"{path}:{line} {call}({pattern!r})"
        for path, line, call, pattern in _regex_calls()
        if call in ("compile", "match", "search") and (pattern.endswith("$") or call == "match")
    ]
    assert offenders == [], "use fullmatch (or \\Z) to validate a whole value"


def test_the_regex_scan_sees_the_projects_patterns() -> None:
    assert any(call == "compile" for _, _, call, _ in _regex_calls())


@pytest.mark.parametrize("value", ["acme\n", "acme\r\n", " acme", "acme "])
def test_whole_value_checks_refuse_a_trailing_newline_or_space(value: str) -> None:
    assert not is_valid_tenant(value)
    with pytest.raises(ValueError, match="tenant"):
        InferenceRequest.model_validate({"request_id": "r", "tenant": value, "prompt": "x"})


def test_the_signing_key_id_is_checked_whole() -> None:
    with pytest.raises(ConfigurationError, match="SLUICE_AUDIT_SIGNING_KEY_ID"):
        load_settings(audit_signing_key_id="2026-11\n")
