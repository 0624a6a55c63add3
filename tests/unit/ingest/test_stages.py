"""The ingest stages with fakes behind their Protocols: results and failures side by side, nothing lost."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.core.messages import SourcePosition
from agents.ingest.deidentify import DeidentifyStage, RuleEngineRef
from agents.ingest.index import IndexStage
from models.cleaning import RuleEngine, load_bundled_packs
from models.deid.fields import DeclaredFieldAnonymizer
from schemas.records import DeidentifiedRecord
from tests.unit.ingest.fakes import FakeDeidentifier, FakeEmbedder, FakeStore


def crm_message(offset: int, notes: str, *, event_id: str | None = None, payload: object = "default") -> SourcePosition:
    body = {"customer_id": "C-1", "channel": "phone", "notes": notes} if payload == "default" else payload
    value = json.dumps(
        {
            "event_id": event_id or f"e-{offset}",
            "tenant": "acme",
            "occurred_at": "2026-11-01T00:00:00Z",
            "payload": body,
        },
        ensure_ascii=False,
    ).encode()
    return SourcePosition("crm.events.v1", 0, offset, b"k", value)


@pytest.fixture()
def deid_stage() -> DeidentifyStage:
    return DeidentifyStage(
        rules=RuleEngineRef(RuleEngine(load_bundled_packs())),
        deidentifier=FakeDeidentifier(),
        fields=DeclaredFieldAnonymizer(pseudonym_key=b"k" * 32, operators={}),
        max_message_bytes=10_000,
    )


def test_one_bad_message_is_a_failure_and_the_rest_of_the_batch_goes_through(deid_stage: DeidentifyStage) -> None:
    batch = [
        crm_message(0, "call 13812345678"),
        SourcePosition("crm.events.v1", 0, 1, b"k", b"{oops"),
        crm_message(2, "all good"),
    ]
    outcome = deid_stage.run(batch)
    assert [r.position.offset for r in outcome.results] == [0, 2]
    assert [(f.position.offset, f.error_type, f.stage) for f in outcome.failures] == [
        (1, "MalformedJsonError", "decode")
    ]
    assert "13812345678" not in outcome.results[0].record.text
    assert outcome.results[0].record.entity_counts == {"CN_MOBILE": 1}


def test_a_record_that_breaks_the_engine_is_isolated_and_its_message_hides_the_input(
    deid_stage: DeidentifyStage,
) -> None:
    outcome = deid_stage.run([crm_message(0, "fine"), crm_message(1, "POISON 13812345678"), crm_message(2, "ok")])
    assert [r.position.offset for r in outcome.results] == [0, 2]
    (failure,) = outcome.failures
    assert (failure.position.offset, failure.error_type, failure.stage) == (1, "RuntimeError", "deidentify")
    assert "13812345678" not in failure.error_message and "POISON" not in failure.error_message


def test_records_carry_rule_pack_and_deid_versions_and_cleaned_text(deid_stage: DeidentifyStage) -> None:
    (result,) = deid_stage.run([crm_message(0, "阿莫西林 500MG bid")]).results
    record = result.record
    assert record.rule_pack_version == deid_stage.rules.engine.version
    assert record.deid_version == "fake-deid-1"
    assert "每日两次" in record.text and "500 mg" in record.text
    assert set(result.timings_ms) == {"clean", "deidentify"}


def test_declared_contact_fields_are_replaced_and_counted(deid_stage: DeidentifyStage) -> None:
    payload = {
        "customer_id": "C-1",
        "channel": "phone",
        "notes": "回访",
        "contact": {"name": "欧阳娜娜", "phone": "13900001111", "email": "x@example.com"},
    }
    (result,) = deid_stage.run([crm_message(0, "", payload=payload)]).results
    record = result.record
    for raw in ("欧阳娜娜", "13900001111", "x@example.com"):
        assert raw not in record.text
    assert record.entity_counts == {"PERSON": 1, "CN_MOBILE": 1, "EMAIL_ADDRESS": 1}
    assert len(record.subjects) == 2  # phone and e-mail identify a subject; a name alone does not


def test_tombstone_becomes_a_deleted_record(deid_stage: DeidentifyStage) -> None:
    (result,) = deid_stage.run([crm_message(0, "", payload=None)]).results
    assert result.record.deleted and result.record.text == ""


def test_rule_engine_swap_is_seen_by_the_next_batch(deid_stage: DeidentifyStage) -> None:
    from models.cleaning import RulePack

    before = deid_stage.run([crm_message(0, "ZORBLAX")]).results[0].record
    pack = RulePack.from_mapping(
        {
            "name": "extra",
            "version": "1.0.0",
            "rules": [{"id": "zorblax", "kind": "regex", "pattern": "ZORBLAX", "replacement": "widget"}],
        }
    )
    deid_stage.rules.update(lambda engine: engine.with_pack(pack))
    after = deid_stage.run([crm_message(1, "ZORBLAX")]).results[0].record
    assert "ZORBLAX" in before.text and "widget" in after.text
    assert "extra@1" in after.rule_pack_version and "extra@1" not in before.rule_pack_version


def deidentified(deid_stage: DeidentifyStage, *positions: SourcePosition) -> list[SourcePosition]:
    out = []
    for result in deid_stage.run(list(positions)).results:
        value = result.record.model_dump_json().encode()
        out.append(SourcePosition("records.deidentified.v1", 0, result.position.offset, b"k", value))
    return out


def index_stage(store: FakeStore, embedder: FakeEmbedder | None = None) -> IndexStage:
    return IndexStage(
        embedder=embedder or FakeEmbedder(),
        store=store,
        chunk_max_chars=40,
        chunk_overlap_chars=5,
        max_message_bytes=100_000,
    )


def test_index_is_idempotent_when_a_batch_is_redelivered(deid_stage: DeidentifyStage) -> None:
    store = FakeStore()
    batch = deidentified(deid_stage, crm_message(0, "短文本"), crm_message(1, "A long note. " * 20))
    first = index_stage(store).run(batch)
    chunks = store.count_chunks()
    again = index_stage(store).run(batch)
    assert store.count_chunks() == chunks == sum(r.chunks for r in first.results)
    assert [r.chunks for r in again.results] == [r.chunks for r in first.results]
    assert first.results[1].chunks > 1


def test_tombstone_deletes_the_records_chunks(deid_stage: DeidentifyStage) -> None:
    store = FakeStore()
    index_stage(store).run(
        deidentified(deid_stage, crm_message(0, "keep me", event_id="a"), crm_message(1, "drop me", event_id="b"))
    )
    outcome = index_stage(store).run(deidentified(deid_stage, crm_message(2, "", event_id="b", payload=None)))
    assert outcome.results[0].record.deleted and outcome.results[0].chunks == 0
    assert {row.text for row in store.rows.values()} == {next(iter(store.rows.values())).text}
    assert all("keep me" in row.text for row in store.rows.values())


def test_index_failures_are_isolated_per_record(deid_stage: DeidentifyStage) -> None:
    store = FakeStore()
    batch = deidentified(deid_stage, crm_message(0, "fine"), crm_message(1, "EXPLODE here"), crm_message(2, "ok"))
    batch.append(SourcePosition("records.deidentified.v1", 0, 9, b"k", b'{"record_id": 1}'))
    outcome = index_stage(store, FakeEmbedder(fail_on="EXPLODE")).run(batch)
    assert [r.position.offset for r in outcome.results] == [0, 2]
    assert sorted((f.position.offset, f.error_type) for f in outcome.failures) == [
        (1, "ValueError"),
        (9, "SchemaViolationError"),
    ]
    assert {r.record_id for r in store.rows.values()} == {r.record.record_id for r in outcome.results}


def test_chunks_carry_lineage_and_versions(deid_stage: DeidentifyStage) -> None:
    store = FakeStore()
    (position,) = deidentified(deid_stage, crm_message(7, "call 13812345678"))
    record = DeidentifiedRecord.model_validate_json(position.value or b"")
    index_stage(store).run([position])
    row = min(store.rows.values(), key=lambda r: r.chunk_index)
    assert (row.topic, row.offset, row.event_id, row.tenant) == ("crm.events.v1", 7, "e-7", "acme")
    assert row.model_version == "fake-embedder-1" and row.rule_pack_version == record.rule_pack_version
    assert row.subjects == " ".join(record.subjects) and row.subjects


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
envelope_like = st.fixed_dictionaries(
    {"event_id": st.text(max_size=10), "tenant": st.text(max_size=10), "occurred_at": st.text(max_size=30)},
    optional={"payload": json_values},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.lists(
        st.binary(max_size=200)
        | json_values.map(lambda v: json.dumps(v).encode())
        | envelope_like.map(lambda v: json.dumps(v).encode()),
        min_size=1,
        max_size=8,
    )
)
def test_any_input_ends_as_exactly_one_result_or_failure(deid_stage: DeidentifyStage, raw: list[bytes]) -> None:
    batch = [SourcePosition("crm.events.v1", 0, offset, None, value) for offset, value in enumerate(raw)]
    outcome = deid_stage.run(batch)
    offsets = sorted([r.position.offset for r in outcome.results] + [f.position.offset for f in outcome.failures])
    assert offsets == list(range(len(raw)))
    assert all(f.error_type and f.error_message and f.stage for f in outcome.failures)


def test_a_record_that_outgrows_the_output_limit_is_a_dead_letter_not_a_broken_send(
    deid_stage: DeidentifyStage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.ingest.deidentify as stages

    monkeypatch.setattr(stages, "MAX_OUTPUT_BYTES", 2_000)
    outcome = deid_stage.run([crm_message(0, "short"), crm_message(1, "word " * 600)])
    assert [r.position.offset for r in outcome.results] == [0]
    (failure,) = outcome.failures
    assert (failure.position.offset, failure.error_type, failure.stage) == (1, "OversizedPayloadError", "deidentify")


def test_the_rule_packs_protected_identifiers_reach_the_deidentifier() -> None:
    from models.cleaning import RulePack

    identifiers = [{"id": "a.c", "pattern": "C-[0-9]+"}]
    data = {"name": "acme", "version": "1.0.0", "rules": [], "protected_identifiers": identifiers}
    pack = RulePack.from_mapping(data)
    deidentifier = FakeDeidentifier()
    stage = DeidentifyStage(
        rules=RuleEngineRef(RuleEngine([*load_bundled_packs(), pack])),
        deidentifier=deidentifier,
        fields=DeclaredFieldAnonymizer(pseudonym_key=b"k" * 32, operators={}),
        max_message_bytes=10_000,
    )
    stage.run([crm_message(0, "case C-12345")])
    (protected,) = deidentifier.protected
    assert [pattern.pattern for pattern in protected] == ["C-[0-9]+"]  # type: ignore[attr-defined]
