"""Message records of the ingest flow: upstream envelopes and payloads, and everything Sluice writes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# The one tenant rule. A tenant scopes every search and filter, so it is a plain identifier: a value that would
# need escaping is a bug or an attack, never a real tenant. The pattern is for pydantic and the JSON Schemas;
# Python code checks with `is_valid_tenant`, a fullmatch (re's `$` would let a trailing newline through).
MAX_TENANT_CHARS = 64
TENANT_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_TENANT_CHARS - 1}}}$"
TENANT_RULE = f"1-{MAX_TENANT_CHARS} characters from A-Z a-z 0-9 _ . -, starting with a letter or digit"
_TENANT_RE = re.compile(TENANT_PATTERN.removeprefix("^").removesuffix("$"))


def is_valid_tenant(value: object) -> bool:
    return isinstance(value, str) and _TENANT_RE.fullmatch(value) is not None


class _Contract(BaseModel):
    """Upstream contracts are strict: an unknown field is a schema violation, not silently ignored."""

    # A 32K-token note or log message is about 130,000 characters of English (#12): it fits, and is chunked.
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=200_000)


# --- upstream payloads ---------------------------------------------------------------------------------
class ErpLine(_Contract):
    sku: str = Field(max_length=64)
    description: str = Field(default="", description="Free text; may hold PII.")
    quantity: float = 1


class ErpPayload(_Contract):
    """An ERP order or invoice. Free-text fields may hold PII; Sluice de-identifies them."""

    doc_type: Literal["order", "invoice", "delivery", "return"]
    doc_no: str = Field(min_length=1, max_length=64)
    remarks: str = Field(default="", description="Free text; may hold PII.")
    customer_name: str | None = Field(default=None, description="PII: always pseudonymised.")
    contact_phone: str | None = Field(default=None, description="PII: always pseudonymised.")
    shipping_address: str | None = Field(default=None, description="PII: always replaced.")
    amount: float | None = None
    currency: str | None = Field(default=None, max_length=8)
    lines: list[ErpLine] = Field(default_factory=list, max_length=500)


class CrmContact(_Contract):
    name: str | None = Field(default=None, description="PII: always pseudonymised.")
    phone: str | None = Field(default=None, description="PII: always pseudonymised.")
    email: str | None = Field(default=None, description="PII: always pseudonymised.")
    id_number: str | None = Field(default=None, description="PII: resident ID, always pseudonymised.")
    company: str | None = Field(default=None, description="Organisation name; replaced.")


class CrmPayload(_Contract):
    """A CRM contact update or follow-up note."""

    customer_id: str = Field(min_length=1, max_length=64)
    channel: Literal["phone", "email", "visit", "chat", "wechat", "other"]
    notes: str = Field(default="", description="Free text; may hold PII.")
    contact: CrmContact | None = None
    next_action: str | None = Field(default=None, description="Free text; may hold PII.")


class LogPayload(_Contract):
    """One application log line."""

    level: Literal["TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL"]
    service: str = Field(min_length=1, max_length=128)
    message: str = Field(description="Free text; may hold PII.")
    host: str | None = Field(default=None, max_length=255)
    trace_id: str | None = Field(default=None, max_length=128)


class _Envelope(_Contract):
    event_id: str = Field(min_length=1, max_length=128, description="Unique per source; the idempotency key.")
    tenant: str = Field(pattern=TENANT_PATTERN, description="Owning tenant; every search is filtered by it.")
    occurred_at: AwareDatetime = Field(description="ISO-8601 time with a UTC offset.")


class ErpEvent(_Envelope):
    """Envelope on erp.events.v1. `payload: null` is a tombstone: forget this event's record."""

    payload: ErpPayload | None


class CrmEvent(_Envelope):
    """Envelope on crm.events.v1. `payload: null` is a tombstone: forget this event's record."""

    payload: CrmPayload | None


class LogEvent(_Envelope):
    """Envelope on logs.events.v1. `payload: null` is a tombstone: forget this event's record."""

    payload: LogPayload | None


SourceEvent = ErpEvent | CrmEvent | LogEvent


# --- what Sluice writes -------------------------------------------------------------------------------
class _Written(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lineage(_Written):
    """Where a record came from: enough to find the original event on its source topic."""

    source: Literal["erp", "crm", "logs"]
    topic: str
    partition: int
    offset: int
    event_id: str
    tenant: str
    occurred_at: datetime


class DeidentifiedRecord(_Written):
    """On records.deidentified.v1: a normalised, cleaned, de-identified record. Never holds raw PII."""

    record_id: str
    tenant: str
    kind: str = Field(description="source.document kind, e.g. erp.order, crm.note, logs.line")
    deleted: bool = Field(default=False, description="True for a tombstone: the record must be forgotten.")
    text: str = Field(description="De-identified text.")
    entity_counts: dict[str, int] = Field(default_factory=dict)
    subjects: list[str] = Field(default_factory=list, description="Keyed pseudonyms of identifiers found.")
    rule_pack_version: str
    deid_version: str
    lineage: Lineage
    processed_at: datetime


class IndexedAck(_Written):
    """On records.indexed.v1: one acknowledgement per record written to (or deleted from) the index."""

    record_id: str
    tenant: str
    action: Literal["indexed", "deleted"]
    chunks: int
    model_version: str
    lineage: Lineage
    indexed_at: datetime


class DeadLetter(_Written):
    """On <domain>.dlq.v1: an input that could not be processed, with why and where it came from.

    The original bytes are kept so that an operator can repair and replay the event, but they may hold raw
    PII, so they are encrypted (AES-GCM, key from settings) rather than written in clear.
    """

    source_topic: str
    partition: int
    offset: int
    key_sha256: str | None = Field(
        description="Keyed digest of the message key (keys may be identifiers): HMAC-SHA256 under Sluice's digest "
        "key, derived from the pseudonym key; not a bare SHA-256, so it cannot be confirmed by guessing. Also the "
        "dead letter's Kafka key."
    )
    original_encrypted: str = Field(
        description="base64(nonce || AES-GCM ciphertext) of the original bytes; empty when not included."
    )
    original_included: bool = Field(
        default=True,
        description="False when the original was too large to carry in a Kafka message of its own (over 700,000 "
        "bytes), or when it names a forgotten data subject (error_type SubjectForgotten: an erasure must not leave "
        "a new copy): it is still at source_topic/partition/offset for as long as that topic retains it.",
    )
    original_bytes: int
    original_sha256: str = Field(
        description="Keyed digest of the original bytes (HMAC-SHA256 under the digest key, as key_sha256)."
    )
    encryption_key_id: str
    error_type: str
    error_message: str = Field(description="Why it failed; never quotes the input.")
    stage: str
    attempt: int = 1
    failed_at: datetime


class AuditEvent(_Written):
    """On audit.pending.v1 (unsealed): what Sluice did with a record or request. Hashes, counts, types, never text."""

    event_id: str = Field(description="Unique id of this event (hex), given when it is emitted.")

    event_type: str = Field(description="record.processed, record.indexed, record.deleted, record.dead_lettered, …")
    stage: str
    subject_id: str = Field(description="record_id or request_id the event is about.")
    tenant: str | None
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    entity_counts: dict[str, int] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict, description="rule pack, de-id and model versions.")
    timings_ms: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict, description="Non-textual extras: error type, chunks, …")
    emitted_at: datetime


class ChainSeal(_Written):
    """The chainer's own mark on an event it sealed; only the chainer can make or check it, verifiers ignore it."""

    key_id: str = Field(description="Signing key id the seal key is derived from.")
    mac: str = Field(description="HMAC-SHA256 (hex) over the event's canonical JSON without `hash` and `seal`.")


class ChainedAuditEvent(AuditEvent):
    """On audit.events.v1: an audit event sealed into its partition's hash chain (agents/audit_chain/chain.py)."""

    seq: int = Field(ge=0, description="Position in this partition's chain, from 0 (and its Merkle leaf index).")
    prev_hash: str = Field(description="`hash` of the previous event in this partition; 64 zeros for seq 0.")
    seal: ChainSeal | None = Field(
        default=None, description="Lets a restarted chainer tell its own events from appended ones (absent before v2)."
    )
    hash: str = Field(description="SHA-256 of this event's canonical JSON without the `hash` field.")


class RulePackMessage(_Written):
    """On rules.v1: a cleaning rule pack (key = pack name) or an inference policy pack (key = policy:<name>);
    `pack: null` removes it."""

    name: str
    kind: Literal["cleaning", "policy"] = "cleaning"
    pack: dict[str, Any] | None

    @property
    def key(self) -> str:
        return pack_key(self.kind, self.name)


def pack_key(kind: str, name: str) -> str:
    """The rules.v1 key: compaction keeps the latest pack per key, so kinds must not share names."""
    return name if kind == "cleaning" else f"{kind}:{name}"


class ForgottenSubject(_Written):
    """On subjects.forgotten.v1 (compacted, key `tenant:pseudonym`): a data subject forgotten in one tenant.

    Every de-identification and index worker reads the topic from the beginning and indexes no record of the
    tenant that names the subject again. A tombstone (null value) for the key withdraws the entry.
    """

    tenant: str = Field(pattern=TENANT_PATTERN)
    subject: str = Field(
        min_length=1, max_length=200, description="The subject's keyed pseudonym, never the raw identifier."
    )
    forgotten_at: AwareDatetime

    @property
    def key(self) -> str:
        return forgotten_key(self.tenant, self.subject)


def forgotten_key(tenant: str, subject: str) -> str:
    """The subjects.forgotten.v1 key: one entry per tenant and subject (a tenant never holds a colon)."""
    return f"{tenant}:{subject}"
