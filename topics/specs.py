"""Every Kafka topic Sluice uses, declared once: name, partitions, retention, compaction, key and schema."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from schemas.inference import InferenceRequest, InferenceResponse, RegistryMessage, RequestContext, StreamState
from schemas.records import (
    TENANT_PATTERN,
    AuditEvent,
    ChainedAuditEvent,
    CrmEvent,
    DeadLetter,
    DeidentifiedRecord,
    ErpEvent,
    ForgottenSubject,
    IndexedAck,
    LogEvent,
    RulePackMessage,
)
from schemas.review import ReviewDecision, ReviewItem

Cleanup = Literal["delete", "compact"]
DAY_MS = 24 * 60 * 60 * 1000
# Every topic's max.message.bytes (and the local broker's message.max.bytes, and the workers' producer limit).
# Well above SLUICE_MAX_MESSAGE_BYTES (at most a quarter of it), so that a message too large for Sluice still
# reaches a worker and gets a dead letter saying so, and a de-identified record, longer than its source, fits.
TOPIC_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    """One topic's contract. `payload` is the model of its values (the decoders, the JSON Schema export and the
    docs all derive from it; None only for Faust table changelogs, whose values are Sluice's own table entries);
    `source` names the upstream system of a source topic. `partitions=None` means the default from settings."""

    name: str
    description: str
    key: str
    payload: type[BaseModel] | None
    source: str | None = None
    partitions: int | None = None
    cleanup_policy: Cleanup = "delete"
    retention_ms: int = 7 * DAY_MS
    holds_raw_pii: bool = False
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        config = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
        }
        config.update(self.extra_config)
        return config


ERP_EVENTS = TopicSpec(
    "erp.events.v1",
    "ERP orders and invoices from upstream systems",
    "event_id",
    ErpEvent,
    source="erp",
    holds_raw_pii=True,
)
CRM_EVENTS = TopicSpec(
    "crm.events.v1",
    "CRM contacts and follow-up notes from upstream systems",
    "event_id",
    CrmEvent,
    source="crm",
    holds_raw_pii=True,
)
LOG_EVENTS = TopicSpec(
    "logs.events.v1",
    "application log lines from upstream systems",
    "event_id",
    LogEvent,
    source="logs",
    holds_raw_pii=True,
)
RECORDS_DEIDENTIFIED = TopicSpec(
    "records.deidentified.v1",
    "normalised, cleaned and de-identified records (never raw PII)",
    "record_id",
    DeidentifiedRecord,
)
RECORDS_INDEXED = TopicSpec(
    "records.indexed.v1",
    "acknowledgement per record indexed in (or deleted from) the vector store",
    "record_id",
    IndexedAck,
)
INGEST_DLQ = TopicSpec(
    # Original bytes travel AES-GCM encrypted, so the topic holds no raw PII in clear.
    "ingest.dlq.v1",
    "ingest inputs that could not be processed, with the reason",
    "key hash",
    DeadLetter,
    retention_ms=30 * DAY_MS,
)
AUDIT_PENDING = TopicSpec(
    # Workers write here, inside their transactions; the chainer is the one writer of audit.events.v1.
    "audit.pending.v1",
    "audit events before sealing into the hash chain (internal: read only by the audit chainer)",
    "tenant",
    AuditEvent,
)
AUDIT_EVENTS = TopicSpec(
    # Compliance evidence: kept forever (time and size), never compacted. Partition p holds the chain sealed from
    # partition p of audit.pending.v1, so both must have the same partition count.
    "audit.events.v1",
    "one hash-chained event per processed record or request: hashes, counts and types, never text",
    "tenant",
    ChainedAuditEvent,
    retention_ms=-1,
    extra_config={"retention.bytes": "-1"},
)
RULES = TopicSpec(
    "rules.v1",
    "cleaning and policy packs; the latest value per pack wins",
    "pack name",
    RulePackMessage,
    partitions=1,
    cleanup_policy="compact",
    retention_ms=-1,
)
SUBJECTS_FORGOTTEN = TopicSpec(
    # Read whole by every de-identification and index worker, like rules.v1: a forgotten subject is never indexed
    # again, whatever is re-sent or replayed. Kept forever: it is the record that the erasure must stick.
    "subjects.forgotten.v1",
    "data subjects forgotten per tenant (pseudonyms only); their records are not indexed again",
    "tenant:pseudonym",
    ForgottenSubject,
    partitions=1,
    cleanup_policy="compact",
    retention_ms=-1,
)

INFERENCE_REQUESTS = TopicSpec(
    "inference.requests.v1",
    "chat and completion requests from clients",
    "session_id",
    InferenceRequest,
    holds_raw_pii=True,
)
INFERENCE_RESPONSES = TopicSpec(
    "inference.responses.v1", "exactly one response per request", "request_id", InferenceResponse
)
REVIEW_PENDING = TopicSpec(
    # Compacted: the latest value per request id is the item as it stands (new or escalated), a tombstone once it
    # was decided or expired, so the console reads the open queue by reading the topic whole.
    "review.pending.v1",
    "requests routed to human review, de-identified: prompt, retrieved records, the model's draft",
    "[tenant, request_id]",
    ReviewItem,
    cleanup_policy="compact",
    retention_ms=-1,
)
REVIEW_DECISIONS = TopicSpec(
    # Co-partitioned with review.pending.v1 (same key, same partition count): the review agent reads both.
    "review.decisions.v1",
    "reviewers' decisions (approve, edit, reject, escalate), applied exactly once by the inference worker",
    "[tenant, request_id]",
    ReviewDecision,
    retention_ms=30 * DAY_MS,
)
INFERENCE_CONTEXT = TopicSpec(
    "inference.context.v1",
    "what the model saw and answered per request, de-identified (review console, `sluice explain`)",
    "[tenant, request_id]",
    RequestContext,
)
INFERENCE_STREAMS = TopicSpec(
    # Written by the inference worker's stream producers in the transaction of each partial, tombstoned in the
    # transaction of the final response (agents/inference/streaming.py). Partition p holds the streams of requests
    # from partition p of the request topics, so it takes the default (data) partition count like them.
    "inference.streams.v1",
    "how far each streamed answer was sent (last partial's seq, the text sent, de-identified) until its final response",
    "[tenant, request_id]",
    StreamState,
    cleanup_policy="compact",
    retention_ms=-1,
)
INFERENCE_DLQ = TopicSpec(
    # Like ingest.dlq.v1, originals are AES-GCM encrypted.
    "inference.dlq.v1",
    "requests too malformed to answer (no request_id), with the reason",
    "key hash",
    DeadLetter,
    retention_ms=30 * DAY_MS,
)
MODELS_REGISTRY = TopicSpec(
    "models.registry.v1",
    "model versions, the promoted one and A/B weights; latest value per model wins",
    "model name",
    RegistryMessage,
    partitions=1,
    cleanup_policy="compact",
    retention_ms=-1,
)

SOURCE_TOPICS: tuple[TopicSpec, ...] = (ERP_EVENTS, CRM_EVENTS, LOG_EVENTS)
ALL_TOPICS: tuple[TopicSpec, ...] = (
    *SOURCE_TOPICS,
    RECORDS_DEIDENTIFIED,
    RECORDS_INDEXED,
    INGEST_DLQ,
    AUDIT_PENDING,
    AUDIT_EVENTS,
    RULES,
    SUBJECTS_FORGOTTEN,
    INFERENCE_REQUESTS,
    INFERENCE_RESPONSES,
    REVIEW_PENDING,
    REVIEW_DECISIONS,
    INFERENCE_CONTEXT,
    INFERENCE_STREAMS,
    INFERENCE_DLQ,
    MODELS_REGISTRY,
)
SOURCE_BY_TOPIC: dict[str, TopicSpec] = {topic.name: topic for topic in SOURCE_TOPICS}


def spec(name: str) -> TopicSpec:
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(f"no topic named {name!r} is declared in topics/specs.py")


def source_topic(name: str) -> TopicSpec:
    """The spec of an upstream source topic, for the ingest decoder; any other name is a clear error."""
    try:
        return SOURCE_BY_TOPIC[name]
    except KeyError:
        raise ValueError(f"topic {name} is not an ingest source topic") from None


# Per-tenant inference topics. On a secured broker only principal tenant-<tenant> may write the request topic and
# read the reply topic (agents/processes/access.py), so the topic a request arrives on names its tenant: the
# inference worker answers it for that tenant and no other (agents/inference/binding.py). They are made by
# `sluice tenants add`, never declared in ALL_TOPICS, and take the default (data) partition count so that their
# partitions line up with the inference tables' changelog partitions.
TENANT_REQUESTS_PREFIX = "inference.requests."
TENANT_RESPONSES_PREFIX = "inference.responses."
TENANT_TOPIC_SUFFIX = ".v1"
_TENANT = TENANT_PATTERN.removeprefix("^").removesuffix("$")
_TENANT_REQUEST_TOPIC = re.compile(
    rf"{re.escape(TENANT_REQUESTS_PREFIX)}(?P<tenant>{_TENANT}){re.escape(TENANT_TOPIC_SUFFIX)}"
)


def tenant_request_topic(tenant: str) -> TopicSpec:
    """inference.requests.<tenant>.v1: requests only that tenant's principal may write (secured broker)."""
    return TopicSpec(
        f"{TENANT_REQUESTS_PREFIX}{tenant}{TENANT_TOPIC_SUFFIX}",
        f"chat and completion requests of tenant {tenant}, answered for that tenant only",
        INFERENCE_REQUESTS.key,
        InferenceRequest,
        holds_raw_pii=True,
    )


def tenant_response_topic(tenant: str) -> TopicSpec:
    """inference.responses.<tenant>.v1: responses only that tenant's principal may read (secured broker)."""
    return TopicSpec(
        f"{TENANT_RESPONSES_PREFIX}{tenant}{TENANT_TOPIC_SUFFIX}",
        f"exactly one response per request of tenant {tenant}",
        INFERENCE_RESPONSES.key,
        InferenceResponse,
    )


def tenant_of_request_topic(name: str) -> str | None:
    """The tenant whose request topic `name` is; None for the shared inference.requests.v1 or any other topic."""
    match = _TENANT_REQUEST_TOPIC.fullmatch(name)
    return match.group("tenant") if match else None


def tenant_request_topics(names: Iterable[str]) -> list[str]:
    """The tenant request topics among `names`, sorted."""
    return sorted(name for name in names if tenant_of_request_topic(name) is not None)


def table_changelog(group_id: str, table: str) -> TopicSpec:
    """The changelog of a Faust table: named by Faust's rule, compacted, co-partitioned with its input."""
    return TopicSpec(
        f"{group_id}-{table}-changelog",
        f"changelog of the {table} table of consumer group {group_id} (de-identified session history)",
        "table key",
        None,
        cleanup_policy="compact",
        retention_ms=-1,
    )
