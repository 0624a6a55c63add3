"""POST /forget: what it accepts, what it deletes, and the audit event it leaves (never raw PII)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.api.server import MAX_SUBJECT_CHARS, ApiServices, forget_subject
from agents.core.audit import AuditEmitter
from agents.core.forgotten import ErasureRecorder, ForgottenSubjects
from models.store import ChunkRow
from tests.unit.api_fakes import NO_TOKENS
from tests.unit.ingest.fakes import FakeEmbedder, FakeStore

SUBJECT = "<CN_RESIDENT_ID_7747702706c1e93b>"
LEGACY_SUBJECT = "<CN_RESIDENT_ID_7747702706>"  # how records indexed before 16-digit pseudonyms name SUBJECT
OTHER = "<CN_MOBILE_49e582b863>"


class SubjectStore(FakeStore):
    """The fake store with delete_subject as MilvusStore does it: the tenant's chunks that list the subject."""

    def __init__(self) -> None:
        super().__init__()
        self.deletes: list[tuple[str, str]] = []

    def delete_subject(self, tenant: str, subject: str) -> int:
        self.deletes.append((tenant, subject))
        doomed = [k for k, r in self.rows.items() if r.tenant == tenant and subject in r.subjects.split()]
        for key in doomed:
            del self.rows[key]
        return len(doomed)


def row(tenant: str, record_id: str, index: int, subjects: str) -> ChunkRow:
    return ChunkRow(
        chunk_id=f"{tenant}/{record_id}/{index}",
        record_id=record_id,
        tenant=tenant,
        chunk_index=index,
        text="x",
        vector=[1.0, 0.0, 0.0, 0.0],
        source="crm",
        topic="crm.events.v1",
        partition=0,
        offset=index,
        event_id=record_id,
        occurred_at="2026-11-20T01:30:00Z",
        rule_pack_version="base@1",
        model_version="fake",
        subjects=subjects,
    )


class Sent:
    def __init__(self, fail: bool = False) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []
        self.fail = fail

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.messages.append((topic, key, value))


def services(store: SubjectStore, sent: Sent | None = None, erasures: ErasureRecorder | None = None) -> ApiServices:
    audit = AuditEmitter(sent) if sent is not None else None
    return ApiServices(store, FakeEmbedder(), lambda: True, audit=audit, auth=NO_TOKENS, erasures=erasures)


@pytest.fixture()
def store() -> SubjectStore:
    store = SubjectStore()
    store.upsert(
        [
            row("acme", "r1", 0, SUBJECT),
            row("acme", "r1", 1, SUBJECT),
            row("acme", "r2", 0, f"{OTHER} {SUBJECT}"),
            row("acme", "r3", 0, OTHER),
            row("globex", "r4", 0, SUBJECT),  # the same subject in another tenant stays
        ]
    )
    return store


async def test_forget_deletes_the_tenants_chunks_of_the_subject_and_audits_it(store: SubjectStore) -> None:
    sent = Sent()
    status, reply = await forget_subject(services(store, sent), {"tenant": "acme", "subject": SUBJECT})
    assert status == 200
    assert reply["tenant"] == "acme" and reply["subject"] == SUBJECT and reply["chunks_deleted"] == 3
    assert sorted(r.record_id for r in store.rows.values()) == ["r3", "r4"]
    [(topic, key, value)] = sent.messages
    event = json.loads(value)
    assert topic == "audit.pending.v1" and key == b"acme"
    assert event["event_type"] == "subject.forgotten" and event["stage"] == "forget"
    assert event["subject_id"] == SUBJECT and event["tenant"] == "acme"
    assert event["details"] == {"chunks_deleted": 3, "legacy_subject": LEGACY_SUBJECT, "legacy_chunks_deleted": 0}
    assert reply["audit_event_id"] == event["event_id"]


async def test_forget_also_erases_records_that_hold_the_subjects_older_10_digit_pseudonym(
    store: SubjectStore,
) -> None:
    store.upsert([row("acme", "old", 0, LEGACY_SUBJECT), row("acme", "older", 0, f"{OTHER} {LEGACY_SUBJECT}")])
    store.upsert([row("acme", "near", 0, "<CN_RESIDENT_ID_7747702707>")])  # another subject's old pseudonym
    sent = Sent()
    status, reply = await forget_subject(services(store, sent), {"tenant": "acme", "subject": SUBJECT})
    assert status == 200 and reply["chunks_deleted"] == 5 and reply["legacy_chunks_deleted"] == 2
    assert store.deletes == [("acme", SUBJECT), ("acme", LEGACY_SUBJECT)]
    assert sorted(r.record_id for r in store.rows.values()) == ["near", "r3", "r4"]
    assert json.loads(sent.messages[0][2])["details"]["legacy_subject"] == LEGACY_SUBJECT


async def test_forgetting_by_an_old_10_digit_pseudonym_deletes_only_that_form(store: SubjectStore) -> None:
    status, reply = await forget_subject(services(store), {"tenant": "acme", "subject": OTHER})
    assert status == 200 and store.deletes == [("acme", OTHER)] and "legacy_subject" not in reply


async def test_forgetting_again_deletes_nothing_and_is_audited_again(store: SubjectStore) -> None:
    sent = Sent()
    await forget_subject(services(store, sent), {"tenant": "acme", "subject": SUBJECT})
    status, reply = await forget_subject(services(store, sent), {"tenant": "acme", "subject": SUBJECT})
    assert status == 200 and reply["chunks_deleted"] == 0
    assert [json.loads(v)["details"]["chunks_deleted"] for _, _, v in sent.messages] == [3, 0]


async def test_forget_without_an_audit_emitter_still_deletes(store: SubjectStore) -> None:
    status, reply = await forget_subject(services(store), {"tenant": "acme", "subject": OTHER})
    assert status == 200 and reply["chunks_deleted"] == 2 and "audit_event_id" not in reply


async def test_an_audit_failure_after_the_delete_is_reported_not_hidden(store: SubjectStore) -> None:
    status, reply = await forget_subject(services(store, Sent(fail=True)), {"tenant": "acme", "subject": SUBJECT})
    assert status == 500 and reply["chunks_deleted"] == 3 and "audit event could not be written" in reply["error"]


async def test_the_erasure_is_recorded_before_anything_is_deleted(store: SubjectStore) -> None:
    sent, forgotten = Sent(), ForgottenSubjects()
    seen_at_delete: list[list[str]] = []
    delete = store.delete_subject

    def delete_after_checking(tenant: str, subject: str) -> int:
        topics = [topic for topic, _, _ in sent.messages]
        seen_at_delete.append([*topics, *forgotten.among(tenant, [subject])])
        return delete(tenant, subject)

    store.delete_subject = delete_after_checking  # type: ignore[method-assign]
    status, reply = await forget_subject(
        services(store, sent, ErasureRecorder(sent, forgotten)), {"tenant": "acme", "subject": SUBJECT}
    )
    assert status == 200 and reply["chunks_deleted"] == 3
    # Kafka had the record and the local registry the subject before the delete ran; the audit event came after.
    # Both spellings of the subject (16 digits, and the 10 older records hold) were recorded before either delete.
    recorded = ["subjects.forgotten.v1", "subjects.forgotten.v1"]
    assert seen_at_delete == [[*recorded, SUBJECT], [*recorded, LEGACY_SUBJECT]]
    assert [topic for topic, _, _ in sent.messages] == [*recorded, "audit.pending.v1"]
    (_, key, value) = sent.messages[0]
    assert key == f"acme:{SUBJECT}".encode() and json.loads(value)["subject"] == SUBJECT
    assert forgotten.among("globex", [SUBJECT]) == []


async def test_an_erasure_that_cannot_be_recorded_deletes_nothing(store: SubjectStore) -> None:
    forgotten = ForgottenSubjects()
    status, reply = await forget_subject(
        services(store, Sent(), ErasureRecorder(Sent(fail=True), forgotten)), {"tenant": "acme", "subject": SUBJECT}
    )
    assert status == 503 and "nothing was deleted" in reply["error"] and "subjects.forgotten.v1" in reply["error"]
    assert store.deletes == [] and len(store.rows) == 5 and len(forgotten) == 0


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (["acme", SUBJECT], "JSON object"),
        ("acme", "JSON object"),
        ({"subject": SUBJECT}, "`tenant`"),
        ({"tenant": 'acme" or tenant != "', "subject": SUBJECT}, "`tenant`"),
        ({"tenant": "acme"}, "`subject`"),
        ({"tenant": "acme", "subject": ""}, "`subject`"),
        ({"tenant": "acme", "subject": "   "}, "`subject`"),
        ({"tenant": "acme", "subject": 42}, "`subject`"),
        ({"tenant": "acme", "subject": [SUBJECT]}, "`subject`"),
        ({"tenant": "acme", "subject": f"{SUBJECT} {OTHER}"}, "`subject`"),
        ({"tenant": "acme", "subject": f" {SUBJECT}"}, "`subject`"),
        ({"tenant": "acme", "subject": f"{SUBJECT}\n"}, "`subject`"),
        ({"tenant": "acme", "subject": "<" + "A" * MAX_SUBJECT_CHARS + "_0123456789>"}, "`subject`"),
        ({"tenant": "acme", "subject": '<X_0123456789>" or tenant != "'}, "`subject`"),
    ],
)
async def test_bad_requests_are_refused_with_a_clear_message_and_touch_nothing(
    store: SubjectStore, body: Any, complaint: str
) -> None:
    sent = Sent()
    status, reply = await forget_subject(services(store, sent), body)
    assert status == 400 and complaint in reply["error"]
    assert store.deletes == [] and sent.messages == [] and len(store.rows) == 5


@pytest.mark.parametrize("raw", ["11010519491231002X", "13912345678", "li.lei@example.com", "张伟"])
async def test_a_raw_identifier_sent_as_subject_is_refused_and_never_reaches_the_audit_stream(
    store: SubjectStore, raw: str
) -> None:
    sent = Sent()
    status, reply = await forget_subject(services(store, sent), {"tenant": "acme", "subject": raw})
    assert status == 400 and "sluice deid pseudonym" in reply["error"]
    assert raw not in json.dumps(reply, ensure_ascii=False)
    assert sent.messages == [] and store.deletes == []
