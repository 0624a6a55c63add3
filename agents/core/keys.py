"""Keys generated for local use under var/secrets/: created once by `sluice up`, only ever read by everything else.

A key that is not configured (SLUICE_PSEUDONYM_KEY, SLUICE_DEAD_LETTER_KEY, SLUICE_AUDIT_HMAC_KEYS) is generated
on the machine that runs `sluice up`. Workers and tools never create one: two workers creating at once would race,
and a tool creating a fresh audit key would call every checkpoint signed with the real one forged. Against an
external cluster (KAFKA_BOOTSTRAP_SERVERS) generated keys are refused, because every machine would get its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from schemas.errors import ConfigurationError

KEY_BYTES = 32


@dataclass(frozen=True)
class GeneratedKey:
    """A key Sluice generates when its setting is unset: the file under var/secrets/ and the setting replacing it."""

    file_name: str
    variable: str
    hint: str = ""


class MissingKeyError(ConfigurationError):
    """A key is neither configured nor generated on this machine; nothing creates it but `sluice up`."""


def external_cluster_error(bootstrap: str, keys: Sequence[GeneratedKey]) -> ConfigurationError:
    variables = ", ".join(key.variable for key in keys)
    return ConfigurationError(
        f"KAFKA_BOOTSTRAP_SERVERS names an external cluster ({bootstrap}), where every machine would generate keys "
        f"of its own: set {variables} to the same values on every machine (`python -c 'import secrets; "
        "print(secrets.token_hex(32))'` makes a key)"
    )


def missing_key_error(path: Path, key: GeneratedKey) -> MissingKeyError:
    return MissingKeyError(
        f"{key.variable} is not set and no key was generated at {path}: set {key.variable}, or run `sluice up` on "
        f"this machine (it creates the local keys once){'; ' + key.hint if key.hint else ''}"
    )


def read_key_file(path: Path) -> str | None:
    """The key stored at `path`, or None when there is none. Never creates anything."""
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if not value:
        raise ConfigurationError(f"the key file {path} is empty: delete it and run `sluice up` to generate a new key")
    return value


def create_key_file(path: Path) -> str:
    """The key at `path`, generated (64 hex characters, mode 0600) unless one is there; safe to call concurrently.

    The key is written whole to a private file of this caller (O_CREAT | O_EXCL, 0600), then published with
    link(2), which fails with EEXIST when another caller won: everyone then reads the winner's key. Unlike writing
    the final name directly, no reader can ever see an empty or half-written key, even after a crash.
    """
    existing = read_key_file(path)
    if existing is not None:
        return existing
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        # FileExistsError: another process or thread created it first, and its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(private, path)
    finally:
        private.unlink(missing_ok=True)
    created = read_key_file(path)
    if created is None:  # removed between link and read: nothing sane to do but say so
        raise ConfigurationError(f"the key file {path} disappeared while it was being created")
    return created


class KeySettings(Protocol):
    """What key creation needs of the settings (agents.core.settings.Settings, which imports this module)."""

    @property
    def kafka_bootstrap_servers(self) -> str | None: ...

    @property
    def secrets_dir(self) -> Path: ...

    def generated_keys(self) -> list[GeneratedKey]: ...


def create_generated_keys(settings: KeySettings) -> list[Path]:
    """Create every key `settings` leaves unconfigured, once (what `sluice up` does before starting workers).

    Returns the key files (existing or new). With an external cluster configured, an unconfigured key is refused
    with a ConfigurationError naming the variables to set.
    """
    wanted = settings.generated_keys()
    if wanted and settings.kafka_bootstrap_servers:
        raise external_cluster_error(settings.kafka_bootstrap_servers, wanted)
    paths = [settings.secrets_dir / key.file_name for key in wanted]
    for path in paths:
        create_key_file(path)
    return paths
