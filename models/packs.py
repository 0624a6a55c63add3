"""What every versioned YAML pack shares (cleaning rule packs, inference policy packs): safe YAML, the header."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

import yaml

# The same version grammar for every pack kind, so operators learn it once.
VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?")
VERSION_RULE = "MAJOR.MINOR.PATCH[-pre] as a quoted string"


class PackErrorType(Protocol):
    def __call__(self, reason: str, *, pack: str | None = None) -> Exception: ...


def load_yaml(text: object, fail: Callable[[str], Exception]) -> object:
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


def check_pack_mapping(
    data: object, *, what: str, allowed: Collection[str], error: PackErrorType
) -> tuple[str, Mapping[str, Any], Sequence[Any]]:
    """The checks every pack's mapping form needs first: a mapping, known fields, the required ones, a rules
    list. Returns (label for error messages, the mapping, the raw rules)."""
    if not isinstance(data, Mapping):
        raise error(f"a {what} must be a mapping, got {type(data).__name__}")
    raw_name = data.get("name")
    label = raw_name if isinstance(raw_name, str) and raw_name else "<unnamed>"
    unknown = [key for key in data if key not in allowed]
    if unknown:
        raise error(f"unknown field(s) {unknown}; allowed: {sorted(allowed)}", pack=label)
    missing = [key for key in ("name", "version", "rules") if key not in data]
    if missing:
        raise error(f"missing required field(s) {missing}", pack=label)
    raw_rules = data["rules"]
    if not isinstance(raw_rules, list | tuple):
        raise error(f"rules must be a list, got {type(raw_rules).__name__}", pack=label)
    return label, data, raw_rules


def check_pack_header(
    version: object, description: object, priority: object, rules: object, fail: Callable[[str], Exception]
) -> None:
    """The header fields every pack kind shares: a semantic version, a text description, an integer priority,
    a tuple of rules; every problem becomes `fail(reason)`."""
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        raise fail(f"version must be {VERSION_RULE}, got {version!r}")
    if not isinstance(description, str):
        raise fail(f"description must be a string, got {type(description).__name__}")
    # bool is an int; `priority: yes` is a mistake, not priority 1.
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise fail(f"priority must be an integer, got {priority!r}")
    if not isinstance(rules, tuple):
        raise fail(f"rules must be a tuple, got {type(rules).__name__}")
