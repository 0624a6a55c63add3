"""The kept context of one request: the latest RequestContext for (tenant, request_id) on inference.context.v1."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from pydantic import ValidationError

from agents.core.messages import SourcePosition
from agents.core.settings import Settings
from schemas.errors import SluiceError
from schemas.inference import RequestContext
from schemas.records import TENANT_PATTERN
from topics.specs import DAY_MS, INFERENCE_CONTEXT


class ContextNotKeptError(SluiceError):
    """No context is kept for the request: never kept (policy answer, no such request), deleted, or past retention."""


class ContextUnreadableError(SluiceError):
    """The latest context kept for the request cannot be read as a RequestContext."""


def retention_text(retention_ms: int = INFERENCE_CONTEXT.retention_ms) -> str:
    if retention_ms < 0:
        return "kept forever"
    if retention_ms % DAY_MS == 0:
        days = retention_ms // DAY_MS
        return f"kept {days} day{'s' if days != 1 else ''}"
    return f"kept {retention_ms / 3_600_000:g} hours"


def latest_context(records: Iterable[SourcePosition], tenant: str, request_id: str) -> RequestContext:
    """The latest value under the request's key (a tombstone deletes it), checked to be that request's context.

    Keys are compared as parsed JSON, so a producer that writes `["t", "r"]` with other spacing is still found.
    """
    _check_ids(tenant, request_id)
    wanted = [tenant, request_id]
    latest: SourcePosition | None = None
    for record in records:
        if _key_of(record.key) != wanted:
            continue
        # One key lives in one partition, where offsets order its values; across partitions (a producer that
        # partitioned differently) the later offset is only a best guess, which is all a compacted topic keeps too.
        if latest is None or (record.partition, record.offset) >= (latest.partition, latest.offset):
            latest = record
    if latest is None or latest.value is None:
        raise ContextNotKeptError(_not_kept(tenant, request_id, deleted=latest is not None))
    where = f"{latest.topic}[{latest.partition}]@{latest.offset}"
    try:
        context = RequestContext.model_validate_json(latest.value)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "value"
        raise ContextUnreadableError(
            f"the context kept for request {request_id!r} of tenant {tenant!r} at {where} is not a RequestContext "
            f"({exc.error_count()} problem(s), first: {location}: {first['msg']})"
        ) from None
    if (context.tenant, context.request_id) != (tenant, request_id):
        raise ContextUnreadableError(
            f"the context at {where} is keyed for request {request_id!r} of tenant {tenant!r} but holds request "
            f"{context.request_id!r} of tenant {context.tenant!r}: refused"
        )
    return context


def read_request_context(settings: Settings, bootstrap: str, tenant: str, request_id: str) -> RequestContext:
    """Reads inference.context.v1 to its end (read_committed) and returns the request's latest context."""
    from agents.core.kafka_io import TopicCatalog, read_topic

    _check_ids(tenant, request_id)
    options = settings.kafka_client_config()
    if not TopicCatalog(bootstrap, options).exists(INFERENCE_CONTEXT.name):
        raise ContextNotKeptError(
            f"topic {INFERENCE_CONTEXT.name} does not exist on {bootstrap}, so no request context is kept; "
            "`sluice up` (or `sluice topics apply`) creates it"
        )
    records = read_topic(bootstrap, INFERENCE_CONTEXT.name, options=options)
    return latest_context(records, tenant, request_id)


def _not_kept(tenant: str, request_id: str, *, deleted: bool) -> str:
    why = (
        "its context was deleted (a tombstone, e.g. after the subject was forgotten)"
        if deleted
        else "it was never kept (no such request, an answer from the policy, or a worker that keeps no context) "
        f"or it is past the topic's retention ({retention_text()})"
    )
    return f"no context kept for request {request_id!r} of tenant {tenant!r} on {INFERENCE_CONTEXT.name}: {why}"


def _key_of(key: bytes | None) -> object:
    if key is None:
        return None
    try:
        return json.loads(key)
    except (ValueError, UnicodeDecodeError):
        return None


def _check_ids(tenant: str, request_id: str) -> None:
    if re.fullmatch(TENANT_PATTERN, tenant) is None:
        raise SluiceError(f"invalid tenant {tenant[:80]!r}: it must match {TENANT_PATTERN}")
    if not request_id or len(request_id) > 128:
        raise SluiceError("a request id is 1 to 128 characters")
