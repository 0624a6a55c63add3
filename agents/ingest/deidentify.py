"""The de-identification stage: raw source messages → decode → normalise → clean → de-identify."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from agents.core.forgotten import ForgottenSubjects
from agents.core.messages import SourcePosition
from agents.core.packs import EngineRef
from agents.core.stage import StageOutcome, unexpected_failure
from agents.ingest.decode import decode_event
from agents.ingest.normalise import UnifiedRecord, normalise
from models.cleaning import RuleEngine
from schemas.errors import OversizedPayloadError, RetriableError
from schemas.records import DeidentifiedRecord
from topics.specs import source_topic

if TYPE_CHECKING:
    from models.deid import Deidentifier

# Largest record Sluice writes: well under the topics' max.message.bytes (TOPIC_MAX_MESSAGE_BYTES, 8 MiB). A 32K-token
# record with dense PII grows by a third or more once pseudonymised (measured: 110,710 -> 128,695 characters).
MAX_OUTPUT_BYTES = 3_500_000

RuleEngineRef = EngineRef[RuleEngine]


class FieldAnonymizer(Protocol):
    """Applies the configured operator to a value whose entity type the schema already declares."""

    def anonymize(self, value: str, entity_type: str) -> tuple[str, str | None]:
        """(replacement text, subject pseudonym or None when the type is not an identifier)."""
        ...


@dataclass(frozen=True)
class DeidentifiedOutput:
    """A de-identified record; `forgotten` names the forgotten subjects of its tenant it names, in which case it
    is not published but dead-lettered (the flow's `suppress`)."""

    position: SourcePosition
    record: DeidentifiedRecord
    timings_ms: dict[str, float]
    forgotten: tuple[str, ...] = ()


class DeidentifyStage:
    """decode → normalise → clean → de-identify, for a micro-batch of raw source messages."""

    name = "deidentify"

    def __init__(
        self,
        *,
        rules: RuleEngineRef,
        deidentifier: Deidentifier,
        fields: FieldAnonymizer,
        max_message_bytes: int,
        forgotten: ForgottenSubjects | None = None,
    ) -> None:
        self.rules = rules
        self.deidentifier = deidentifier
        self.fields = fields
        self.max_message_bytes = max_message_bytes
        self.forgotten = forgotten if forgotten is not None else ForgottenSubjects()

    def run(self, batch: Sequence[SourcePosition]) -> StageOutcome[DeidentifiedOutput]:
        outcome: StageOutcome[DeidentifiedOutput] = StageOutcome()
        engine = self.rules.engine
        prepared: list[tuple[SourcePosition, UnifiedRecord, str, float]] = []
        for position in batch:
            try:
                topic = source_topic(position.topic)
                event = decode_event(topic, position, max_bytes=self.max_message_bytes)
                record = normalise(topic.source or "", event, position)
                started = time.perf_counter()
                cleaned = engine.clean(record.free_text).text if not record.deleted else ""
                prepared.append((position, record, cleaned, (time.perf_counter() - started) * 1000))
            except Exception as exc:  # one bad record never fails the batch
                outcome.failures.append(unexpected_failure(position, "normalise", exc))
        if not prepared:
            return outcome
        texts = [cleaned for _, _, cleaned, _ in prepared]
        started = time.perf_counter()
        try:
            # The packs' protected identifiers (document numbers of a tenant's own format) stay out of NER spans.
            results = self.deidentifier.deidentify_batch(texts, protected=engine.protected_identifiers)
            per_record_ms = (time.perf_counter() - started) * 1000 / len(texts)
            pairs = [(item, result, per_record_ms) for item, result in zip(prepared, results, strict=True)]
        except RetriableError:
            raise
        except Exception:
            # Find the poison record: run one by one so the rest of the batch still goes through.
            pairs = []
            for item in prepared:
                one_started = time.perf_counter()
                try:
                    result = self.deidentifier.deidentify_batch([item[2]], protected=engine.protected_identifiers)[0]
                except Exception as exc:
                    outcome.failures.append(unexpected_failure(item[0], self.name, exc))
                    continue
                pairs.append((item, result, (time.perf_counter() - one_started) * 1000))
        now = datetime.now(UTC)
        for (position, record, _, clean_ms), result, deid_ms in pairs:
            try:
                text, counts, subjects = result.text, dict(result.entity_counts), set(result.subjects)
                declared_lines = []
                for declared in record.declared_pii:
                    replacement, subject = self.fields.anonymize(declared.value, declared.entity_type)
                    declared_lines.append(f"{declared.label}: {replacement}")
                    counts[declared.entity_type] = counts.get(declared.entity_type, 0) + 1
                    if subject:
                        subjects.add(subject)
                    # The record names its own subject: where the free text repeats that value and the
                    # recognizers missed it (a rare name, an unusual spelling), it is replaced all the same.
                    if len(declared.value) >= 2 and declared.value in text:
                        text = text.replace(declared.value, replacement)
                text = "\n".join(part for part in (record.header, text, *declared_lines) if part)
                out = DeidentifiedRecord(
                    record_id=record.record_id,
                    tenant=record.tenant,
                    kind=record.kind,
                    deleted=record.deleted,
                    text=text,
                    entity_counts=counts,
                    subjects=sorted(subjects),
                    rule_pack_version=engine.version,
                    deid_version=self.deidentifier.version,
                    lineage=record.lineage,
                    processed_at=now,
                )
                timings = {"clean": clean_ms, "deidentify": deid_ms}
                forgotten = self.forgotten.among(out.tenant, out.subjects)
                if forgotten:  # an erasure must stick: a re-sent or replayed event is not indexed again
                    outcome.results.append(DeidentifiedOutput(position, out, timings, tuple(forgotten)))
                    continue
                size = len(out.model_dump_json())
                # The index reads up to 4 x SLUICE_MAX_MESSAGE_BYTES, and topics take TOPIC_MAX_MESSAGE_BYTES.
                limit = min(MAX_OUTPUT_BYTES, 4 * self.max_message_bytes)
                if size > limit:
                    # Pseudonyms are longer than what they replace: a dense input can outgrow what the broker
                    # accepts. Caught here it is this record's dead letter, not a worker that fails every retry.
                    raise OversizedPayloadError(
                        f"de-identified record is {size} bytes, above the {limit}-byte output limit",
                        stage=self.name,
                    )
                outcome.results.append(DeidentifiedOutput(position, out, timings))
            except Exception as exc:
                outcome.failures.append(unexpected_failure(position, self.name, exc))
        return outcome
