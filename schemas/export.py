"""JSON Schema export: one file per topic value, for upstream producers and downstream consumers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.inference import InferenceRequest, InferenceResponse, RegistryMessage, ReviewItem
from schemas.records import (
    AuditEvent,
    ChainedAuditEvent,
    CrmEvent,
    DeadLetter,
    DeidentifiedRecord,
    ErpEvent,
    IndexedAck,
    LogEvent,
    RulePackMessage,
)

SCHEMA_DIR = Path(__file__).resolve().parent / "json"

TOPIC_MODELS: dict[str, type[BaseModel]] = {
    "erp.events.v1": ErpEvent,
    "crm.events.v1": CrmEvent,
    "logs.events.v1": LogEvent,
    "records.deidentified.v1": DeidentifiedRecord,
    "records.indexed.v1": IndexedAck,
    "ingest.dlq.v1": DeadLetter,
    "audit.pending.v1": AuditEvent,
    "audit.events.v1": ChainedAuditEvent,
    "rules.v1": RulePackMessage,
    "inference.requests.v1": InferenceRequest,
    "inference.responses.v1": InferenceResponse,
    "review.pending.v1": ReviewItem,
    "inference.dlq.v1": DeadLetter,
    "models.registry.v1": RegistryMessage,
}


def schema_for(topic: str) -> dict[str, Any]:
    model = TOPIC_MODELS[topic]
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"sluice:{topic}"
    schema["x-topic"] = topic
    return schema


def render(topic: str) -> str:
    return json.dumps(schema_for(topic), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def export_schemas(out_dir: Path = SCHEMA_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in TOPIC_MODELS:
        path = out_dir / f"{topic}.schema.json"
        path.write_text(render(topic), encoding="utf-8")
        written.append(path)
    return written
