"""Prometheus metrics of a worker. Labels are stages, topics and entity types: never content."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

AUDIT_SEALED = Counter(
    "sluice_audit_sealed_total", "Audit drafts sealed into the chain", ["partition"], registry=REGISTRY
)
RECORDS = Counter("sluice_records_total", "Records that completed a stage", ["stage"], registry=REGISTRY)
DEAD_LETTERS = Counter(
    "sluice_dead_letters_total",
    "Inputs sent to a dead-letter topic",
    ["stage", "error_type"],
    registry=REGISTRY,
)
ENTITIES = Counter(
    "sluice_pii_entities_total", "PII entities found and de-identified", ["entity_type"], registry=REGISTRY
)
BATCH_SECONDS = Histogram(
    "sluice_batch_seconds",
    "Wall time of one micro-batch in a stage",
    ["stage"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SIZE = Histogram(
    "sluice_batch_size",
    "Events per micro-batch",
    ["stage"],
    registry=REGISTRY,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
RULE_PACK_UPDATES = Counter(
    "sluice_rule_pack_updates_total", "Rule pack changes read from rules.v1", ["outcome"], registry=REGISTRY
)
INDEXED_CHUNKS = Gauge("sluice_index_chunks", "Chunks in the vector store", registry=REGISTRY)
SEARCHES = Counter("sluice_searches_total", "Searches served by the HTTP API", registry=REGISTRY)
API_REFUSALS = Counter(
    "sluice_api_refusals_total",
    "HTTP API requests refused (no or bad token, other tenant, wrong scope, not JSON), by route and reason",
    ["route", "reason"],
    registry=REGISTRY,
)

# --- inference ---------------------------------------------------------------------------------------------------
RESPONSES = Counter(
    "sluice_responses_total", "Responses by status and A/B variant", ["status", "variant"], registry=REGISTRY
)
REVIEWS = Counter(
    "sluice_reviews_total",
    "Human review: items queued, decisions by outcome (approved, edited, rejected, expired, escalated), refusals",
    ["outcome"],
    registry=REGISTRY,
)
CODE_VALIDATIONS = Counter(
    "sluice_code_validations_total",
    "Code answers checked, by result (passed, failed) and attempts it took",
    ["result", "attempts"],
    registry=REGISTRY,
)
SESSIONS_DROPPED = Counter(
    "sluice_sessions_dropped_total",
    "Session histories dropped because their tenant reached SLUICE_MAX_SESSIONS_PER_TENANT in a partition",
    registry=REGISTRY,
)
MODEL_BATCH_SIZE = Histogram(
    "sluice_model_batch_size",
    "Requests per generate_batch call",
    ["model"],
    registry=REGISTRY,
    buckets=(1, 2, 4, 8, 12, 16, 24, 32, 64),
)
MODEL_QUEUE_DEPTH = Gauge("sluice_model_queue_depth", "Requests waiting in the dynamic batcher", registry=REGISTRY)
MODEL_QUEUED_SECONDS = Histogram(
    "sluice_model_queued_seconds",
    "Oldest request's time in queue when its batch started",
    ["model"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MODEL_TOKENS_PER_SECOND = Gauge(
    "sluice_model_tokens_per_second", "Batch tokens / generate time of the last batch", ["model"], registry=REGISTRY
)

# --- control topics and erasure ----------------------------------------------------------------------------------
CONTROL_MESSAGES_REJECTED = Counter(
    "sluice_control_messages_rejected_total",
    "Messages on a control topic (rules.v1, models.registry.v1, subjects.forgotten.v1) that could not be applied",
    ["topic"],
    registry=REGISTRY,
)
SUBJECTS_FORGOTTEN = Counter(
    "sluice_subjects_forgotten_total", "Erasure requests served by the HTTP API", registry=REGISTRY
)
