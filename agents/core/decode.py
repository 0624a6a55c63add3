"""Bytes off any topic → a validated model, or a poison-record error that names the cause, never the content."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from schemas.errors import (
    InvalidEncodingError,
    MalformedJsonError,
    OversizedPayloadError,
    SchemaViolationError,
)


def parse_json_bytes(value: bytes | None, *, max_bytes: int, stage: str) -> Any:
    """UTF-8 JSON bytes → Python value; every failure is a PoisonRecordError naming the cause, never the content."""
    if value is None:
        raise SchemaViolationError(
            'message has no value; to delete a record send the envelope with "payload": null', stage=stage
        )
    if len(value) > max_bytes:
        raise OversizedPayloadError(
            f"message is {len(value)} bytes, above the {max_bytes}-byte limit (SLUICE_MAX_MESSAGE_BYTES)",
            stage=stage,
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEncodingError(
            f"message is not valid UTF-8 (byte {exc.start}: {exc.reason})", stage=stage
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJsonError(
            f"message is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", stage=stage
        ) from None
    except RecursionError:
        raise MalformedJsonError("message JSON is nested too deeply", stage=stage) from None
    except ValueError:  # not a JSONDecodeError: an integer literal above Python's 4300-digit conversion limit
        raise MalformedJsonError("message JSON has an integer with too many digits", stage=stage) from None


UNKNOWN_FIELD = "(unknown field)"
MAP_KEY = "(key)"


@cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every field name (and alias) of `model` and of the models its fields hold, however deeply."""
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()
    pending: list[Any] = [model]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                continue
            seen.add(annotation)
            for name, info in annotation.model_fields.items():
                names.add(name)
                names.update(a for a in (info.alias, info.validation_alias) if isinstance(a, str))
                pending.append(info.annotation)
        else:
            pending.extend(get_args(annotation))
    return frozenset(names)


def _where(loc: tuple[int | str, ...], error_type: str, known: frozenset[str] | None) -> str:
    # A location's names come from the input in two cases: the key pydantic refused as extra (the last
    # element of an extra_forbidden error) and the key of a mapping field (`entity_counts.<key>`). A key is
    # whatever the sender wrote, so it may be PII: only names the schema itself declares are shown.
    parts = []
    for i, part in enumerate(loc):
        if error_type == "extra_forbidden" and i == len(loc) - 1:
            parts.append(UNKNOWN_FIELD)
        elif isinstance(part, str) and known is not None and part not in known:
            parts.append(MAP_KEY)
        else:
            parts.append(str(part)[:40])
    return ".".join(parts) or "(root)"


def describe_validation_error(exc: ValidationError, *, model: type[BaseModel] | None = None, limit: int = 5) -> str:
    """Field paths and rule messages only: pydantic's default text quotes the input, which may be PII.

    Paths name the schema's fields, never a key the sender made up (an extra field, a mapping's key): those
    read `(unknown field)` and `(key)`. Without `model` only extra fields are hidden.
    """
    known = _field_names(model) if model is not None else None
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:limit]:
        parts.append(f"{_where(err['loc'], err['type'], known)}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"… and {more} more")
    return "; ".join(parts)


def validate(model: type[BaseModel], data: Any, *, stage: str) -> Any:
    if not isinstance(data, dict):
        raise SchemaViolationError(f"expected a JSON object, got {type(data).__name__}", stage=stage)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SchemaViolationError(
            f"schema violation: {describe_validation_error(exc, model=model)}", stage=stage
        ) from None
