"""API tokens: who may call the worker's HTTP API. Only SHA-256 digests are stored; a token is shown once.

A token reads `sluice_<id>_<secret>`: the id (12 hex digits) finds its entry, and the SHA-256 of the whole token
is compared with the stored digest in constant time. The secret is 32 random bytes, so a fast hash is enough: there
is no password to guess, and a slow one (scrypt) would only make every request slower.

The store is one JSON file (mode 0600) that `sluice tokens` rewrites whole and atomically (a new private file,
created O_EXCL, renamed over the old one, under a lock); the index worker checks the file's identity on every
request and re-reads it when it changed, so a revocation holds from the next request on, with no restart. Several
index workers (a Milvus server deployment) share one file on a shared volume (SLUICE_API_TOKENS_FILE).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from schemas.errors import ConfigurationError
from schemas.records import TENANT_RULE, is_valid_tenant

TokenKind = Literal["tenant", "service", "admin", "reviewer"]
TOKEN_KINDS: tuple[TokenKind, ...] = get_args(TokenKind)
# Kinds bound to one tenant: a tenant's client reads its data; a reviewer decides its review queue (and reads no
# data through /search or /records: reviewing and using an assistant are different jobs).
TENANT_BOUND_KINDS: frozenset[str] = frozenset({"tenant", "reviewer"})
STORE_VERSION = 1
TOKEN_PREFIX = "sluice_"
TOKEN_PATTERN = re.compile(r"sluice_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
MAX_NAME_CHARS = 64
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.@:-]{0,63}")


class TokenStoreError(ConfigurationError):
    """The token store cannot be read or written safely (unparseable, writable by others, unknown token id)."""


def token_digest(token: str) -> str:
    """What the store keeps of a token: the hex SHA-256 of the whole token."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(token: str, digest: str) -> bool:
    """Whether `token` hashes to `digest`, compared in constant time."""
    return hmac.compare_digest(token_digest(token).encode(), digest.encode())


def token_id_of(token: str) -> str | None:
    """The store id a well-formed token names, or None."""
    match = TOKEN_PATTERN.fullmatch(token)
    return match.group(1) if match else None


@dataclass(frozen=True)
class TokenEntry:
    """One stored token: what it may do, and the digest that proves it. Never the token itself."""

    token_id: str
    kind: TokenKind
    tenant: str | None  # the one tenant a `tenant` or `reviewer` token acts for; None for service and admin tokens
    name: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "kind": self.kind,
            "tenant": self.tenant,
            "name": self.name,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }

    def listed(self) -> dict[str, Any]:
        """The entry as `sluice tokens list` shows it (the digest is of no use to a reader)."""
        return {k: v for k, v in self.to_json().items() if k != "sha256"}

    @classmethod
    def from_json(cls, data: Any) -> TokenEntry:
        if not isinstance(data, dict):
            raise ValueError("a token entry must be a JSON object")
        kind = data.get("kind")
        if kind not in TOKEN_KINDS:
            raise ValueError(f"unknown token kind {kind!r}")
        tenant = data.get("tenant")
        if (kind in TENANT_BOUND_KINDS) != (tenant is not None) or (tenant is not None and not is_valid_tenant(tenant)):
            raise ValueError("tenant and reviewer tokens name one valid tenant, and only they name one")
        digest = data.get("sha256")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("sha256 must be 64 hex digits")
        token_id = data.get("id")
        if not isinstance(token_id, str) or not re.fullmatch(r"[0-9a-f]{12}", token_id):
            raise ValueError("id must be 12 hex digits")
        revoked = data.get("revoked_at")
        return cls(
            token_id=token_id,
            kind=kind,
            tenant=tenant,
            name=str(data.get("name") or ""),
            sha256=digest,
            created_at=str(data.get("created_at") or ""),
            revoked_at=None if revoked is None else str(revoked),
        )


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the only moment the token exists in clear."""

    token: str
    entry: TokenEntry


@dataclass(frozen=True)
class TokenCheck:
    """The store's answer about a presented token: its entry when valid, else why not (and the id it named)."""

    entry: TokenEntry | None
    reason: Literal["unknown_token", "revoked_token"] | None = None
    token_id: str | None = None  # set only when the token named an id that is in the store


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _parse(raw: bytes, path: Path) -> dict[str, TokenEntry]:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") != STORE_VERSION:
            raise ValueError(f"expected an object with version {STORE_VERSION}")
        entries = [TokenEntry.from_json(item) for item in data.get("tokens", [])]
    except ValueError as exc:
        raise TokenStoreError(f"the API token store {path} cannot be read: {exc}") from None
    return {entry.token_id: entry for entry in entries}


def _check_private(path: Path, mode: int) -> None:
    # Anyone who can write the file can add a token: refuse a store others may write, rather than trust it.
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise TokenStoreError(
            f"the API token store {path} is writable by group or others (mode {stat.S_IMODE(mode):o}): "
            f"`chmod 600 {path}`"
        )


class TokenStore:
    """The token file: create, list and revoke (the CLI), and check a presented token (the worker, per request)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int, int] | None = None  # (device, inode, size, mtime) of what is cached
        self._entries: dict[str, TokenEntry] = {}

    # --- reading: every request; re-read only when the file changed -------------------------------------------
    def entries(self) -> Mapping[str, TokenEntry]:
        """Every entry by id, re-read when the file changed since the last call. No file = no tokens."""
        with self._lock:
            try:
                info = os.stat(self.path)
            except FileNotFoundError:
                self._seen, self._entries = None, {}
                return {}
            identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            if identity != self._seen:
                _check_private(self.path, info.st_mode)
                self._entries = _parse(self.path.read_bytes(), self.path)
                self._seen = identity
            return self._entries

    def check(self, token: str) -> TokenCheck:
        """Whether `token` is a valid, unrevoked token of this store (TokenStoreError: the store is unusable)."""
        token_id = token_id_of(token)
        entry = self.entries().get(token_id) if token_id else None
        if entry is None or not same_digest(token, entry.sha256):
            # A wrong secret under a real id is still named: someone holds or guesses that id.
            return TokenCheck(None, "unknown_token", entry.token_id if entry else None)
        if not entry.active:
            return TokenCheck(None, "revoked_token", entry.token_id)
        return TokenCheck(entry)

    # --- writing: `sluice tokens` -----------------------------------------------------------------------------
    def create(self, kind: TokenKind, *, tenant: str | None = None, name: str = "") -> IssuedToken:
        """A new token of `kind` (a tenant token for `tenant`); the returned token is never stored."""
        if kind not in TOKEN_KINDS:
            raise TokenStoreError(f"token kind must be one of {', '.join(TOKEN_KINDS)}")
        if (kind in TENANT_BOUND_KINDS) != (tenant is not None):
            raise TokenStoreError("tenant and reviewer tokens need --tenant, and only they take one")
        if tenant is not None and not is_valid_tenant(tenant):
            raise TokenStoreError(f"tenant: {TENANT_RULE}")
        if name and not NAME_PATTERN.fullmatch(name):
            raise TokenStoreError(
                f"name: 1-{MAX_NAME_CHARS} characters from letters, digits, space and _ . @ : -, starting with a "
                "letter or digit"
            )
        with self._writing() as entries:
            token_id = secrets.token_hex(6)
            while token_id in entries:
                token_id = secrets.token_hex(6)
            token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
            entry = TokenEntry(token_id, kind, tenant, name, token_digest(token), _now())
            entries[token_id] = entry
        return IssuedToken(token, entry)

    def revoke(self, token_id: str) -> TokenEntry:
        """Revoke the token `token_id` (already revoked: unchanged); the workers refuse it from their next request."""
        with self._writing() as entries:
            entry = entries.get(token_id)
            if entry is None:
                raise TokenStoreError(f"no API token with id {token_id!r}: `sluice tokens list` shows them")
            if entry.active:
                entry = entries[token_id] = replace(entry, revoked_at=_now())
        return entry

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, TokenEntry]]:
        """The entries to change, under an exclusive lock; written back whole and atomically on success."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                info = os.stat(self.path)
            except FileNotFoundError:
                entries: dict[str, TokenEntry] = {}
            else:
                _check_private(self.path, info.st_mode)
                entries = _parse(self.path.read_bytes(), self.path)
            yield entries
            self._write(entries)
        finally:
            os.close(fd)  # releases the lock

    def _write(self, entries: dict[str, TokenEntry]) -> None:
        document = {"version": STORE_VERSION, "tokens": [entry.to_json() for entry in entries.values()]}
        private = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        # O_EXCL: a file someone else prepared at this name (with other permissions) is never written into.
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(private, self.path)
        except BaseException:
            private.unlink(missing_ok=True)
            raise
