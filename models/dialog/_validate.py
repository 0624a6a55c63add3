"""Validation helpers shared by the dialog's YAML-defined artefacts (policy packs, prompt templates)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable

from models.packs import VERSION_RE, VERSION_RULE, load_yaml

__all__ = ["NAME_RE", "NAME_RULE", "VERSION_RE", "VERSION_RULE", "check_str_list", "close_match", "load_yaml"]
# Names and versions are joined into engine versions ("default@1.0.0+clinic@2.0.0"), so neither may
# contain '@' or '+'. Versions follow models/packs.VERSION_RE, shared with cleaning rule packs.
NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
NAME_RULE = "lower-case letters, digits, '_' or '-', starting with a letter (at most 64)"


def close_match(word: object, choices: Iterable[str]) -> str:
    """' (did you mean ...?)' for a near miss, else ''."""
    if not isinstance(word, str):
        return ""
    guess = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {guess[0]!r}?)" if guess else ""


def check_str_list(value: object, field: str, fail: Callable[[str], Exception]) -> tuple[str, ...]:
    """A non-empty list of non-empty strings, without duplicates."""
    # A bare string is iterable too; accepting it would silently split "ab" into "a" and "b".
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise fail(f"{field} must be a list of strings, got {type(value).__name__}")
    if not value:
        raise fail(f"{field} must not be empty")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise fail(f"{field}[{index}] must be a non-empty string, got {item!r}")
    if len(set(value)) != len(value):
        raise fail(f"{field} has duplicates")
    return tuple(value)
