"""The forgotten-subjects registry: what subjects.forgotten.v1 messages do to it, what it refuses, and that a
check-then-write under `unchanged()` is never overtaken by an erasure."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from agents.core.forgotten import ErasureRecorder, ForgottenSubjects
from schemas.errors import PoisonRecordError
from schemas.records import ForgottenSubject, forgotten_key

SUBJECT = "<CN_MOBILE_49e582b863>"
OTHER = "<CN_RESIDENT_ID_7747702706>"


def message(tenant: str, subject: str) -> tuple[bytes, bytes]:
    value = ForgottenSubject(tenant=tenant, subject=subject, forgotten_at=datetime(2026, 12, 1, tzinfo=UTC))
    return forgotten_key(tenant, subject).encode(), value.model_dump_json().encode()


def test_a_subject_is_forgotten_in_its_tenant_only() -> None:
    forgotten = ForgottenSubjects()
    forgotten.apply(*message("acme", SUBJECT), 0)
    assert forgotten.among("acme", [OTHER, SUBJECT]) == [SUBJECT]
    assert forgotten.among("acme", [OTHER]) == []
    assert forgotten.among("globex", [SUBJECT]) == []
    assert len(forgotten) == 1


def test_a_repeated_erasure_is_one_entry_and_a_tombstone_withdraws_it() -> None:
    forgotten = ForgottenSubjects()
    key, value = message("acme", SUBJECT)
    forgotten.apply(key, value, 0)
    forgotten.apply(key, value, 1)
    assert len(forgotten) == 1
    forgotten.apply(key, None, 2)
    assert forgotten.among("acme", [SUBJECT]) == [] and len(forgotten) == 0


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        (None, message("acme", SUBJECT)[1], "needs its key"),
        (b"acme", message("acme", SUBJECT)[1], "not `tenant:pseudonym`"),
        (b"acme:13812345678", None, "not `tenant:pseudonym`"),  # a raw identifier where the pseudonym belongs
        (b"bad tenant!:" + SUBJECT.encode(), None, "not `tenant:pseudonym`"),
        (b"\xff\xfe", None, "not UTF-8"),
        (forgotten_key("acme", SUBJECT).encode(), b"{oops", "JSON"),
        (forgotten_key("acme", SUBJECT).encode(), json.dumps({"tenant": "acme"}).encode(), "subject"),
        (forgotten_key("acme", OTHER).encode(), message("acme", SUBJECT)[1], "another tenant or subject"),
        (forgotten_key("globex", SUBJECT).encode(), message("acme", SUBJECT)[1], "another tenant or subject"),
    ],
)
def test_anything_but_a_forgotten_subject_is_refused_without_quoting_it(
    key: bytes | None, value: bytes | None, complaint: str
) -> None:
    forgotten = ForgottenSubjects()
    with pytest.raises(PoisonRecordError, match=complaint) as raised:
        forgotten.apply(key, value, 0)
    assert "13812345678" not in str(raised.value) and len(forgotten) == 0


def test_an_erasure_waits_for_a_write_its_check_allowed() -> None:
    forgotten = ForgottenSubjects()
    events: list[str] = []
    with forgotten.unchanged():
        eraser = threading.Thread(target=lambda: (forgotten.forget("acme", SUBJECT), events.append("forgotten")))
        eraser.start()
        assert forgotten.among("acme", [SUBJECT]) == []
        time.sleep(0.05)  # the eraser is blocked, not merely late: it cannot get in before the write is done
        events.append("written")
    eraser.join(5)
    assert events == ["written", "forgotten"] and forgotten.among("acme", [SUBJECT]) == [SUBJECT]


async def test_the_recorder_writes_the_topic_then_the_local_registry() -> None:
    sent: list[tuple[str, bytes | None, bytes]] = []
    forgotten = ForgottenSubjects()

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        assert forgotten.among("acme", [SUBJECT]) == []  # Kafka first: a failed write forgets nothing
        sent.append((topic, key, value))

    recorded = await ErasureRecorder(send, forgotten).record("acme", SUBJECT)
    [(topic, key, value)] = sent
    assert (topic, key) == ("subjects.forgotten.v1", b"acme:" + SUBJECT.encode())
    assert ForgottenSubject.model_validate_json(value) == recorded
    assert forgotten.among("acme", [SUBJECT]) == [SUBJECT]
    # What it writes is what every worker's watcher applies.
    ForgottenSubjects().apply(key, value, 0)
