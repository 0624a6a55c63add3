"""An erasure sticks: records naming a forgotten subject of their tenant are neither published nor indexed again,
but dead-lettered without their original and audited."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest

from agents.core.audit import AuditEmitter
from agents.core.dead_letters import DeadLetterBuilder, DeadLetterWriter
from agents.core.forgotten import ForgottenSubjects
from agents.core.messages import SourcePosition
from agents.core.runner import BatchRunner
from agents.ingest.deidentify import DeidentifyStage, RuleEngineRef
from agents.ingest.flow import IngestFlow
from agents.ingest.index import IndexStage
from models.cleaning import RuleEngine, load_bundled_packs
from models.deid.fields import DeclaredFieldAnonymizer
from schemas.records import DeadLetter
from tests.unit.ingest.fakes import FakeDeidentifier, FakeEmbedder, FakeStore
from tests.unit.ingest.test_stages import crm_message

PHONE = "13812345678"
SUBJECT = "<CN_MOBILE_5678>"  # what FakeDeidentifier makes of PHONE


def deid_stage(forgotten: ForgottenSubjects) -> DeidentifyStage:
    return DeidentifyStage(
        rules=RuleEngineRef(RuleEngine(load_bundled_packs())),
        deidentifier=FakeDeidentifier(),
        fields=DeclaredFieldAnonymizer(pseudonym_key=b"k" * 32, operators={}),
        max_message_bytes=10_000,
        forgotten=forgotten,
    )


def index_stage(store: FakeStore, forgotten: ForgottenSubjects, embedder: FakeEmbedder | None = None) -> IndexStage:
    return IndexStage(
        embedder=embedder or FakeEmbedder(),
        store=store,
        chunk_max_chars=40,
        chunk_overlap_chars=5,
        max_message_bytes=100_000,
        forgotten=forgotten,
    )


def deidentified(*positions: SourcePosition) -> list[SourcePosition]:
    """The records.deidentified.v1 messages of the positions, as a worker that knew of no erasure wrote them."""
    out = []
    for result in deid_stage(ForgottenSubjects()).run(list(positions)).results:
        value = result.record.model_dump_json().encode()
        out.append(SourcePosition("records.deidentified.v1", 0, result.position.offset, b"k", value))
    return out


def test_deidentify_marks_records_naming_a_forgotten_subject_of_their_tenant() -> None:
    forgotten = ForgottenSubjects()
    forgotten.forget("acme", SUBJECT)
    forgotten.forget("globex", "<CN_MOBILE_0000>")
    outcome = deid_stage(forgotten).run(
        [crm_message(0, f"call {PHONE}"), crm_message(1, "call 13900000000"), crm_message(2, "no phone")]
    )
    assert [(r.position.offset, r.forgotten) for r in outcome.results] == [(0, (SUBJECT,)), (1, ()), (2, ())]
    assert outcome.failures == []


def test_index_writes_nothing_for_a_record_naming_a_forgotten_subject() -> None:
    store, forgotten = FakeStore(), ForgottenSubjects()
    batch = deidentified(crm_message(0, f"call {PHONE}"), crm_message(1, "no phone"))
    forgotten.forget("acme", SUBJECT)
    outcome = index_stage(store, forgotten).run(batch)
    assert [(r.position.offset, r.chunks, r.forgotten) for r in outcome.results] == [(0, 0, (SUBJECT,)), (1, 1, ())]
    assert {row.offset for row in store.rows.values()} == {1}
    # Another tenant's subject of the same pseudonym is not this tenant's erasure.
    other = ForgottenSubjects()
    other.forget("globex", SUBJECT)
    assert all(not r.forgotten for r in index_stage(FakeStore(), other).run(batch).results)


class ForgettingEmbedder(FakeEmbedder):
    """An erasure arrives while the batch is being embedded, after the stage's first check."""

    def __init__(self, forgotten: ForgottenSubjects) -> None:
        super().__init__()
        self.forgotten = forgotten

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.forgotten.forget("acme", SUBJECT)
        return super().embed(texts)


def test_an_erasure_during_embedding_still_keeps_the_record_out_of_the_index() -> None:
    store, forgotten = FakeStore(), ForgottenSubjects()
    batch = deidentified(crm_message(0, f"call {PHONE}"), crm_message(1, "no phone"))
    outcome = index_stage(store, forgotten, ForgettingEmbedder(forgotten)).run(batch)
    assert {(r.position.offset, r.forgotten) for r in outcome.results} == {(0, (SUBJECT,)), (1, ())}
    assert {row.offset for row in store.rows.values()} == {1}


class Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic, key, value))

    def on(self, topic: str) -> list[dict[str, object]]:
        return [json.loads(value) for t, _, value in self.messages if t == topic]


@pytest.mark.parametrize("stage_name", ["deidentify", "index"])
async def test_a_suppressed_record_is_a_dead_letter_without_its_original_and_an_audit_event(stage_name: str) -> None:
    sent, forgotten = Sent(), ForgottenSubjects()
    forgotten.forget("acme", SUBJECT)
    runner = BatchRunner(
        DeadLetterWriter(DeadLetterBuilder(bytes(32), bytes(32)), "ingest.dlq.v1", sent), AuditEmitter(sent)
    )
    deid = deid_stage(forgotten) if stage_name == "deidentify" else None
    index = index_stage(FakeStore(), forgotten) if stage_name == "index" else None
    flow = IngestFlow(deid, index, runner, sent, 16, 0.1)
    if deid is not None:
        (out,) = deid.run([crm_message(3, f"call {PHONE} about the invoice")]).results
        await flow.publish_deidentified(out)
    else:
        assert index is not None
        (out,) = index.run(deidentified(crm_message(3, f"call {PHONE} about the invoice"))).results
        await flow.publish_indexed(out)

    assert sent.on("records.deidentified.v1") == [] and sent.on("records.indexed.v1") == []
    (letter_json,) = sent.on("ingest.dlq.v1")
    letter = DeadLetter.model_validate(letter_json)
    assert (letter.error_type, letter.error_message) == ("SubjectForgotten", "subject forgotten")
    assert letter.stage == stage_name
    assert not letter.original_included and letter.original_encrypted == "" and letter.offset == 3
    audit = {e["event_type"]: e for e in sent.on("audit.pending.v1")}
    assert set(audit) == {"record.dead_lettered", "record.subject_suppressed"}
    suppressed = audit["record.subject_suppressed"]
    assert (suppressed["subject_id"], suppressed["tenant"], suppressed["stage"]) == (
        out.record.record_id,
        "acme",
        stage_name,
    )
    assert suppressed["details"]["forgotten"] == [SUBJECT] and suppressed["details"]["subjects"] == [SUBJECT]
    assert suppressed["details"]["action"] == "dead_lettered"
    assert PHONE not in repr(sent.messages) and "invoice" not in repr(sent.messages)
