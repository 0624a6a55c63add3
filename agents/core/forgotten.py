"""Forgotten data subjects: the registry every de-identification and index worker checks, fed by
subjects.forgotten.v1, and the recorder the erasure API writes it with."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import structlog

from agents.core.app import SendFn
from agents.core.decode import parse_json_bytes, validate
from models.deid.pseudonym_format import PSEUDONYM_PATTERN
from schemas.errors import SchemaViolationError
from schemas.records import ForgottenSubject, is_valid_tenant
from topics.specs import SUBJECTS_FORGOTTEN

log = structlog.get_logger(__name__)

# The error type of the dead letter a suppressed record becomes; a policy outcome, not an exception.
SUBJECT_FORGOTTEN = "SubjectForgotten"
MAX_MESSAGE_BYTES = 10_000


class ForgottenSubjects:
    """The subjects forgotten per tenant, as subjects.forgotten.v1 holds them; shared by a worker's stages.

    Thread-safe: the control-topic watcher and the erasure API add subjects while stages check records on their
    own threads. `unchanged()` holds the registry still across a check and the write it allows, so a subject
    forgotten meanwhile waits for the write to finish, and the deletion that follows the erasure removes it.
    """

    def __init__(self) -> None:
        self._by_tenant: dict[str, set[str]] = {}
        self._lock = threading.RLock()

    def forget(self, tenant: str, subject: str) -> None:
        with self._lock:
            self._by_tenant.setdefault(tenant, set()).add(subject)

    def withdraw(self, tenant: str, subject: str) -> None:
        with self._lock:
            self._by_tenant.get(tenant, set()).discard(subject)

    def among(self, tenant: str, subjects: Iterable[str]) -> list[str]:
        """The forgotten subjects of `tenant` among `subjects`, sorted; empty when none is."""
        with self._lock:
            forgotten = self._by_tenant.get(tenant)
            return sorted(forgotten.intersection(subjects)) if forgotten else []

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """No subject is forgotten or withdrawn while the block runs (check, then write what the check allowed)."""
        with self._lock:
            yield

    def __len__(self) -> int:
        with self._lock:
            return sum(len(subjects) for subjects in self._by_tenant.values())

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        """Handler for the subjects.forgotten.v1 watcher: a message forgets its key's subject, a tombstone (null
        value) withdraws it. A message that is not a forgotten subject raises, and the watcher dead-letters it."""
        tenant, subject = _parse_key(key)
        if value is None:
            self.withdraw(tenant, subject)
            log.info("subject_withdrawn", topic=SUBJECTS_FORGOTTEN.name, offset=offset, tenant=tenant)
            return
        message: ForgottenSubject = validate(
            ForgottenSubject, parse_json_bytes(value, max_bytes=MAX_MESSAGE_BYTES, stage="forget"), stage="forget"
        )
        if (message.tenant, message.subject) != (tenant, subject):
            raise SchemaViolationError("the message names another tenant or subject than its key", stage="forget")
        self.forget(tenant, subject)


def _parse_key(key: bytes | None) -> tuple[str, str]:
    # The key decides what compaction keeps, so it must be exactly `tenant:pseudonym`: anything else is refused.
    # The reasons never quote the key, which a misdirected producer could have filled with a raw identifier.
    if not key:
        raise SchemaViolationError("a forgotten subject needs its key, `tenant:pseudonym`", stage="forget")
    try:
        tenant, _, subject = key.decode("utf-8").partition(":")
    except UnicodeDecodeError:
        raise SchemaViolationError("the key is not UTF-8", stage="forget") from None
    if not is_valid_tenant(tenant) or not PSEUDONYM_PATTERN.fullmatch(subject):
        raise SchemaViolationError("the key is not `tenant:pseudonym`", stage="forget")
    return tenant, subject


class ErasureRecorder:
    """Writes a forgotten subject to subjects.forgotten.v1 and into this worker's registry.

    `send` must return once Kafka has the message (agents.core.app.delivered_sender): the erasure API deletes only
    after the subject is recorded, so an erasure that could not be recorded deletes nothing and can be retried.
    """

    def __init__(self, send: SendFn, subjects: ForgottenSubjects) -> None:
        self._send = send
        self.subjects = subjects

    async def record(self, tenant: str, subject: str) -> ForgottenSubject:
        message = ForgottenSubject(tenant=tenant, subject=subject, forgotten_at=datetime.now(UTC))
        await self._send(SUBJECTS_FORGOTTEN.name, message.key.encode(), message.model_dump_json().encode())
        # Into this worker's registry at once, not when the watcher reads it back: the index stage checks the
        # registry under the same lock as each upsert, so from here on no chunk naming the subject is written.
        # Off the event loop, since it waits for an upsert in progress.
        await asyncio.get_running_loop().run_in_executor(None, self.subjects.forget, tenant, subject)
        return message
