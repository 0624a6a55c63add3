"""Each source's event → one unified record with lineage; declared PII fields are kept apart from free text."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from agents.core.messages import SourcePosition
from schemas.records import CrmEvent, ErpEvent, Lineage, LogEvent, SourceEvent


@dataclass(frozen=True)
class DeclaredPii:
    """A payload field the schema declares as PII: de-identified by type, without relying on recognition."""

    label: str
    entity_type: str
    value: str


@dataclass(frozen=True)
class UnifiedRecord:
    """The in-memory record between normalise and de-identify. Holds raw text: it never leaves the process."""

    record_id: str
    tenant: str
    kind: str
    lineage: Lineage
    header: str  # schema fields declared free of PII (document numbers, levels, channels): kept as they are
    free_text: str  # free-text fields: cleaned, then de-identified
    declared_pii: tuple[DeclaredPii, ...]
    deleted: bool


def record_id_for(source: str, tenant: str, event_id: str) -> str:
    """Deterministic id: a replayed or re-sent event maps to the same record (idempotent indexing)."""
    digest = hashlib.sha256(f"{source}\x1f{tenant}\x1f{event_id}".encode()).hexdigest()
    return f"rec_{digest[:32]}"


def _lines(*pairs: tuple[str, str | None]) -> str:
    return "\n".join(f"{label}: {value}" if label else value for label, value in pairs if value)


def _pii(*fields: tuple[str, str, str | None]) -> tuple[DeclaredPii, ...]:
    return tuple(DeclaredPii(label, entity, value) for label, entity, value in fields if value)


def normalise(source: str, event: SourceEvent, position: SourcePosition) -> UnifiedRecord:
    lineage = Lineage(
        source=source,  # type: ignore[arg-type]  # the topic spec's source: a closed set
        topic=position.topic,
        partition=position.partition,
        offset=position.offset,
        event_id=event.event_id,
        tenant=event.tenant,
        occurred_at=event.occurred_at,
    )
    record_id = record_id_for(source, event.tenant, event.event_id)
    if event.payload is None:
        return UnifiedRecord(record_id, event.tenant, f"{source}.tombstone", lineage, "", "", (), deleted=True)
    header: str
    free_text: str
    declared: tuple[DeclaredPii, ...]
    if isinstance(event, ErpEvent) and event.payload is not None:
        erp = event.payload
        kind = f"erp.{erp.doc_type}"
        amount = f"{erp.amount:.2f} {erp.currency or ''}".strip() if erp.amount is not None else None
        lines = [f"{line.sku} × {line.quantity:g}: {line.description}".rstrip(": ") for line in erp.lines]
        header = _lines(("", f"{erp.doc_type} {erp.doc_no}"), ("amount", amount))
        free_text = _lines(("remarks", erp.remarks), *(("line", line) for line in lines))
        declared = _pii(
            ("customer", "PERSON", erp.customer_name),
            ("phone", "CN_MOBILE", erp.contact_phone),
            # ADDRESS, not LOCATION: place names may be kept, a street address never is.
            ("shipping address", "ADDRESS", erp.shipping_address),
        )
    elif isinstance(event, CrmEvent) and event.payload is not None:
        crm = event.payload
        kind = "crm.note"
        header = f"customer {crm.customer_id} via {crm.channel}"
        free_text = _lines(("notes", crm.notes), ("next action", crm.next_action))
        contact = crm.contact
        declared = _pii(
            ("contact", "PERSON", contact.name if contact else None),
            ("phone", "CN_MOBILE", contact.phone if contact else None),
            ("email", "EMAIL_ADDRESS", contact.email if contact else None),
            ("id number", "CN_RESIDENT_ID", contact.id_number if contact else None),
            ("company", "ORGANIZATION", contact.company if contact else None),
        )
    elif isinstance(event, LogEvent) and event.payload is not None:
        entry = event.payload
        kind = "logs.line"
        header = _lines(("", f"[{entry.level}] {entry.service}"), ("trace", entry.trace_id))
        free_text = entry.message
        # Host names can name people's machines (alice-laptop); treat them as identifiers.
        declared = _pii(("host", "HOSTNAME", entry.host))
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"unknown event type {type(event).__name__}")
    return UnifiedRecord(record_id, event.tenant, kind, lineage, header, free_text, declared, deleted=False)
