"""JSON Schema export of every declared topic's values (into schemas/json/), for producers and consumers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import schemas
from topics.specs import ALL_TOPICS

SCHEMA_DIR = Path(schemas.__file__).resolve().parent / "json"

# Derived from the topic specs: a topic declared with a payload model gets a schema file, and nothing else does.
TOPIC_MODELS: dict[str, type[BaseModel]] = {t.name: t.payload for t in ALL_TOPICS if t.payload is not None}


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
