"""Bytes off any topic → a validated model, or a poison-record error that names the cause, never the content."""

from __future__ import annotations

import json
from typing import Any

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


def describe_validation_error(exc: ValidationError, *, limit: int = 5) -> str:
    """Field paths and rule messages only: pydantic's default text quotes the input, which may be PII."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p)[:40] for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
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
        raise SchemaViolationError(f"schema violation: {describe_validation_error(exc)}", stage=stage) from None
