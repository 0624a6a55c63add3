"""The checks every YAML-defined artefact (rule pack, policy pack, prompt template) makes of its fields."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import yaml

from models.packs.linear_regex import (
    FLAGS,
    PackPattern,
    PatternRefusedError,
    Replacement,
    compile_linear,
    replacement_for,
)

# Builds the error to raise from a reason; each artefact binds it to its own error type and location.
Fail = Callable[[str], Exception]

# Names and versions are joined into engine versions ("base@1.0.0+medical@1.0.0"), so neither may
# contain '@' or '+'. One grammar for every kind, so operators learn it once.
NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
NAME_RULE = "lower-case letters, digits, '_' or '-', starting with a letter (at most 64)"
VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?")
VERSION_RULE = "MAJOR.MINOR.PATCH[-pre] as a quoted string"
RULE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
RULE_ID_RULE = "a string of letters, digits, '.', '_' or '-' (at most 128)"

# Packs arrive from a topic; a cap on pattern size keeps one message from compiling a huge automaton.
MAX_PATTERN_CHARS = 2000


def load_yaml(text: object, fail: Fail) -> object:
    """Parse YAML text safely; every problem becomes `fail(reason)`."""
    if not isinstance(text, str):
        raise fail(f"YAML must be given as str, got {type(text).__name__}")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}") from None
    # Deeply nested flow collections blow the parser's recursion limit before any YAMLError.
    except RecursionError:
        raise fail("invalid YAML: nested too deeply") from None


def bundled_text(package: str, *parts: str) -> str:
    """A YAML file shipped inside a package (bundled packs and templates)."""
    path = resources.files(package)
    for part in parts:
        path = path.joinpath(part)
    return path.read_text(encoding="utf-8")


def close_match(word: object, choices: Iterable[str]) -> str:
    """' (did you mean ...?)' for a near miss, else ''."""
    if not isinstance(word, str):
        return ""
    guess = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {guess[0]!r}?)" if guess else ""


def named_mapping(data: object, what: str, fail: Fail) -> tuple[Mapping[str, Any], str]:
    """`data` as a mapping, and the name its errors go by ('<unnamed>' while it has none)."""
    if not isinstance(data, Mapping):
        raise fail(f"a {what} must be a mapping, got {type(data).__name__}")
    name = data.get("name")
    return data, name if isinstance(name, str) and name else "<unnamed>"


def check_fields(
    data: Mapping[Any, Any],
    *,
    allowed: Collection[str],
    required: Sequence[str],
    fail: Fail,
    noun: str = "field",
    where: str = "",
) -> None:
    """No key outside `allowed` (the first one named, with a near miss suggested), then every `required` key.

    `where` follows the key in the message, e.g. " for kind 'regex'".
    """
    for key in data:
        if key not in allowed:
            raise fail(f"unknown {noun} {key!r}{where}{close_match(key, allowed)}; allowed: {sorted(allowed)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise fail(f"missing required {noun}(s) {missing}{where}")


def check_kind(field: str, value: object, kinds: Collection[str], fail: Fail) -> str:
    """`value` is one of `kinds` (a rule kind, a policy action, a template task)."""
    if not isinstance(value, str) or value not in kinds:
        raise fail(f"unknown {field} {value!r}{close_match(value, kinds)}; one of {list(kinds)}")
    return value


def _grammar_check(field: str, pattern: re.Pattern[str], rule: str) -> Callable[[object, Fail], str]:
    # fullmatch, not match with '$': a trailing newline slips past '$'.
    def check(value: object, fail: Fail) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise fail(f"{field} must be {rule}, got {value!r}")
        return value

    return check


check_name = _grammar_check("name", NAME_RE, NAME_RULE)
check_version = _grammar_check("version", VERSION_RE, VERSION_RULE)
check_rule_id = _grammar_check("id", RULE_ID_RE, RULE_ID_RULE)


def check_str(value: object, field: str, fail: Fail, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise fail(f"{field} must be a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise fail(f"{field} must not be empty")
    return value


def check_bool(value: object, field: str, fail: Fail) -> bool:
    if not isinstance(value, bool):
        raise fail(f"{field} must be true or false, got {value!r}")
    return value


def _as_list(value: object, field: str, fail: Fail) -> Sequence[object]:
    # A bare string is iterable too; accepting it would silently split "mg" into "m" and "g".
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise fail(f"{field} must be a list of strings, got {type(value).__name__}")
    return value


def check_strs(value: object, field: str, fail: Fail) -> tuple[str, ...]:
    """A list (possibly empty) of non-empty strings."""
    return tuple(check_str(item, f"{field}[{index}]", fail) for index, item in enumerate(_as_list(value, field, fail)))


def check_str_list(value: object, field: str, fail: Fail) -> tuple[str, ...]:
    """A non-empty list of non-blank strings, without duplicates."""
    items = _as_list(value, field, fail)
    if not items:
        raise fail(f"{field} must not be empty")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise fail(f"{field}[{index}] must be a non-empty string, got {item!r}")
    if len(set(items)) != len(items):
        raise fail(f"{field} has duplicates")
    return tuple(str(item) for item in items)


def check_str_tuple(value: object, field: str, fail: Fail) -> tuple[str, ...]:
    """A field of a built value: a tuple (values are hashable) that is empty or a valid `check_str_list`."""
    if not isinstance(value, tuple):
        raise fail(f"{field} must be a tuple, got {type(value).__name__}")
    return check_str_list(value, field, fail) if value else ()


def compile_pattern(pattern: str, flags: Sequence[str], fail: Fail) -> PackPattern:
    """A pack's regex, compiled on RE2 (linear time, see linear_regex): within the size cap, with known flags,
    nothing RE2 cannot run (back-references, look-around), and never matching the empty string (a cleaning
    rule would insert its replacement between every pair of characters, a policy rule would match every
    prompt)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise fail(f"pattern is {len(pattern)} characters, the limit is {MAX_PATTERN_CHARS}")
    unknown = [flag for flag in flags if flag not in FLAGS]
    if unknown:
        raise fail(f"unknown regex flag(s) {unknown}; allowed: {sorted(FLAGS)}")
    try:
        compiled = compile_linear(pattern, flags)
    except PatternRefusedError as exc:
        raise fail(f"bad regex {pattern!r}: {exc}") from None
    if compiled.search("") is not None:
        raise fail(f"pattern {pattern!r} matches the empty string")
    return compiled


def compile_replacement(template: str, pattern: PackPattern, fail: Fail) -> Replacement:
    """A replacement template checked against the groups of `pattern`, so a bad reference fails at load."""
    try:
        return replacement_for(pattern, template)
    except ValueError as exc:
        raise fail(f"bad replacement {template!r}: {exc}") from None
