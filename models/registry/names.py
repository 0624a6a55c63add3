"""Model and version names, and the one way a name becomes a path under the registry root.

Names arrive from operators, from registry.json and from models.registry.v1 messages (anyone who can produce to
that topic). A name is a single path component of a strict form, checked whole (fullmatch), and every model
directory must resolve inside the registry root, so `../..`, an absolute path or a symlink pointing elsewhere can
never make a worker load (and run) a directory that merely holds a manifest.
"""

from __future__ import annotations

import re
from pathlib import Path

from schemas.errors import SluiceError

# One path component: starts with a letter or digit (so never "." or "..", never "_sources"), no separators.
NAME_RULE = "1-128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RegistryError(SluiceError):
    """A registry operation that cannot be applied (unknown model or version, nothing to roll back to, bad weights)."""


def checked_name(value: object, what: str = "name") -> str:
    """`value` if it is a valid model or version name; a RegistryError naming the rule otherwise."""
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise RegistryError(f"invalid model {what} {str(value)[:80]!r}: use {NAME_RULE}")
    return value


def confined(root: Path, *parts: str) -> Path:
    """root/parts..., after checking that it resolves (symlinks followed) inside the resolved root."""
    path = Path(root).joinpath(*parts)
    resolved_root = Path(root).resolve()
    if not path.resolve().is_relative_to(resolved_root):
        raise RegistryError(f"{path} resolves outside the registry root {resolved_root}: refused")
    return path
