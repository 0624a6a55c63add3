"""Audit checkpoint keys: the chainer's Ed25519 signing keys, the public keys anyone verifies with, legacy HMAC keys.

A key is written as the base64 of its 32 raw bytes (for a private key, the Ed25519 seed), a key id as 1-64 of
`A-Z a-z 0-9 _ . : -`. The private key signs checkpoints and never leaves the chainer's machine; the public key is
what `sluice audit verify` and `check-proof` need, and `sluice audit public-key` prints it for auditors.

For local use the signing key is generated once under var/secrets/ (`audit-ed25519-<id>.key`, mode 0600, created
with O_EXCL and published with link(2), so two workers starting at once end with the same key) next to its public
key (`.pub`). Only the chainer creates it; verifying never creates anything. Against an external cluster a
generated key is refused: every machine would sign with a different key.

Checkpoints written before signatures carry an HMAC (`audit-hmac-<id>.key`, SLUICE_AUDIT_HMAC_KEYS): they are still
checked when such a key is at hand, and nothing new is ever MACed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from schemas.errors import ConfigurationError

KEY_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_KEY_ID = re.compile(KEY_ID_PATTERN)
_SIGNING_PREFIX, _HMAC_PREFIX = "audit-ed25519-", "audit-hmac-"


@dataclass(frozen=True)
class CheckpointKeys:
    """What verifies checkpoints: Ed25519 public keys by id, and HMAC keys by id for checkpoints from before them."""

    public: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)
    hmac: Mapping[str, bytes] = field(default_factory=dict)
    source: str = "given"  # where the public keys came from, said in the report

    def with_public(self, extra: Mapping[str, Ed25519PublicKey]) -> CheckpointKeys:
        return CheckpointKeys({**self.public, **extra}, self.hmac, self.source)


def _raw(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{what} is not base64") from None
    if len(raw) != 32:
        raise ConfigurationError(f"{what} is {len(raw)} bytes, not 32 (base64 of a raw Ed25519 key)")
    return raw


def check_key_id(key_id: str, what: str) -> str:
    if not _KEY_ID.match(key_id):
        raise ConfigurationError(f"{what}: key id {key_id!r} is not 1-64 of A-Z a-z 0-9 _ . : -")
    return key_id


def private_key_from_text(text: str, what: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_raw(text, what))


def public_key_from_text(text: str, what: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(_raw(text, what))
    except ValueError:
        raise ConfigurationError(f"{what} is not an Ed25519 public key") from None


def public_key_text(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def private_key_text(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def parse_public_key_assignment(text: str) -> tuple[str, Ed25519PublicKey]:
    """`ID=BASE64`, as `sluice audit public-key` prints it and `--public-key` takes it."""
    key_id, sep, value = text.partition("=")
    if not sep:
        raise ConfigurationError(f"public key {text[:20]!r}…: expected ID=BASE64")
    key_id = check_key_id(key_id.strip(), "public key")
    return key_id, public_key_from_text(value, f"public key {key_id!r}")


def read_public_keys_file(path: Path) -> dict[str, Ed25519PublicKey]:
    """A file of public keys: a JSON object {id: base64}, or lines `ID=BASE64` (blank lines and # comments)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read public keys from {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            entries = json.loads(text)
        except ValueError:
            raise ConfigurationError(f"{path} is not a JSON object of public keys") from None
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise ConfigurationError(f"{path} is not a JSON object of public keys {{id: base64}}")
        return {
            check_key_id(k, str(path)): public_key_from_text(v, f"public key {k!r} in {path}")
            for k, v in entries.items()
        }
    keys: dict[str, Ed25519PublicKey] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key_id, key = parse_public_key_assignment(line)
            keys[key_id] = key
    return keys


# --- local keys under var/secrets/ (development; never with an external cluster) ----------------------------------
def local_signing_key_path(secrets_dir: Path, key_id: str) -> Path:
    return secrets_dir / f"{_SIGNING_PREFIX}{key_id}.key"


def local_public_key_path(secrets_dir: Path, key_id: str) -> Path:
    return secrets_dir / f"{_SIGNING_PREFIX}{key_id}.pub"


def create_local_signing_key(secrets_dir: Path, key_id: str) -> Ed25519PrivateKey:
    """The local signing key of `key_id`, generated unless it exists; safe when several processes start at once.

    The key is written whole to a private file of this caller (O_CREAT | O_EXCL, 0600) and published with
    link(2), which fails when another caller won: everyone then reads the winner's key. No reader ever sees a
    half-written key.
    """
    path = local_signing_key_path(secrets_dir, check_key_id(key_id, "SLUICE_AUDIT_SIGNING_KEY_ID"))
    if not path.exists():
        secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _publish(path, private_key_text(Ed25519PrivateKey.generate()), 0o600)
    key = _read_private(path)
    public = local_public_key_path(secrets_dir, key_id)
    if not public.exists():
        _publish(public, public_key_text(key), 0o644)
    return key


def _publish(path: Path, text: str, mode: int) -> None:
    private = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process published first: its key is the key
            os.link(private, path)
    finally:
        private.unlink(missing_ok=True)


def _read_private(path: Path) -> Ed25519PrivateKey:
    return private_key_from_text(path.read_text(encoding="ascii"), f"the signing key in {path}")


def _ids(secrets_dir: Path, prefix: str, suffix: str) -> dict[str, Path]:
    if not secrets_dir.is_dir():
        return {}
    found = {}
    for path in sorted(secrets_dir.glob(f"{prefix}*{suffix}")):
        key_id = path.name[len(prefix) : -len(suffix)]
        if _KEY_ID.match(key_id):
            found[key_id] = path
    return found


def read_local_signing_keys(secrets_dir: Path) -> dict[str, Ed25519PrivateKey]:
    """Every local signing key by id (none when there is none). Never creates anything."""
    return {key_id: _read_private(path) for key_id, path in _ids(secrets_dir, _SIGNING_PREFIX, ".key").items()}


def read_local_public_keys(secrets_dir: Path) -> dict[str, Ed25519PublicKey]:
    """The public keys next to the local signing keys. Never creates anything."""
    return {
        key_id: public_key_from_text(path.read_text(encoding="ascii"), f"the public key in {path}")
        for key_id, path in _ids(secrets_dir, _SIGNING_PREFIX, ".pub").items()
    }


def read_local_hmac_keys(secrets_dir: Path) -> dict[str, bytes]:
    """Legacy checkpoint HMAC keys generated by earlier versions (the key is the file's text). Never creates."""
    keys = {}
    for key_id, path in _ids(secrets_dir, _HMAC_PREFIX, ".key").items():
        text = path.read_text(encoding="ascii").strip()
        if text:
            keys[key_id] = text.encode()
    return keys
