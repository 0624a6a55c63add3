"""Request bytes → a valid request, an answerable invalid one (error response), or a dead letter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agents.core.dead_letters import StageFailure
from agents.core.decode import parse_json_bytes, validate
from agents.core.messages import SourcePosition
from agents.core.stage import unexpected_failure
from schemas.errors import PoisonRecordError, SchemaViolationError
from schemas.inference import InferenceRequest
from schemas.records import is_valid_tenant


@dataclass(frozen=True)
class InvalidRequest:
    """Malformed, but it names a request_id: the client gets an `error` response saying why."""

    request_id: str
    tenant: str | None
    session_id: str | None
    reason: str


@dataclass(frozen=True)
class Unanswerable:
    """No usable request_id: nobody to answer, so it becomes a dead letter on inference.dlq.v1."""

    failure: StageFailure


Decoded = InferenceRequest | InvalidRequest | Unanswerable


def _utf8(value: str) -> bool:
    # JSON can spell a lone surrogate ("\ud800"); it decodes to a str that cannot be encoded again, so echoing
    # it in a response would fail at send time and take the worker down with it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _str_field(data: dict[str, object], name: str, *, valid: Callable[[str], bool] | None = None) -> str | None:
    value = data.get(name)
    if isinstance(value, str) and 0 < len(value) <= 128 and (valid is None or valid(value)) and _utf8(value):
        return value
    return None


def decode_request(position: SourcePosition, *, max_bytes: int) -> Decoded:
    try:
        data = parse_json_bytes(position.value, max_bytes=max_bytes, stage="decode")
    except PoisonRecordError as exc:
        return Unanswerable(unexpected_failure(position, "decode", exc))
    request_id = _str_field(data, "request_id") if isinstance(data, dict) else None
    try:
        request: InferenceRequest = validate(InferenceRequest, data, stage="decode")
        return request
    except SchemaViolationError as exc:
        if request_id is None or not isinstance(data, dict):
            return Unanswerable(unexpected_failure(position, "decode", exc))
        return InvalidRequest(
            request_id=request_id,
            tenant=_str_field(data, "tenant", valid=is_valid_tenant),
            session_id=_str_field(data, "session_id"),
            reason=str(exc),
        )
