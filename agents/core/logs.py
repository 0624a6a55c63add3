"""structlog configuration: JSON lines with per-event context, configured once per process."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import structlog

from agents.core.redaction import redact

# Keys whose values could carry record content; a processor drops them from every log line so that a
# careless `log.info(..., text=...)` can never put raw text in the logs.
FORBIDDEN_KEYS = frozenset({"text", "prompt", "payload", "value", "raw", "body", "content"})


def drop_content_fields(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in FORBIDDEN_KEYS.intersection(event_dict):
        event_dict[key] = "[dropped]"
    return event_dict


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Hide secrets in every field: text under a secret-sounding name (password, token, sasl.password, …) and
    credentials inside any URI or `password=…` pair, in our fields and in library messages alike."""
    for key, value in event_dict.items():
        if not key.startswith("_"):  # structlog's own bookkeeping (_record, _from_structlog)
            event_dict[key] = redact(value, key)
    return event_dict


def redact_exceptions(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Keep an exception's type and where it was raised, drop its message.

    Library exceptions often quote their input (a parser's "unexpected token '13812345678'"), and input may
    be PII; the type and the code path are what an operator needs to find the bug.
    """
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    exc_type, exc, tb = exc_info
    if exc_type is None:
        return event_dict
    event = event_dict.get("event")
    if isinstance(event, str) and exc is not None:
        # A library may quote the exception in the message too (faust: "Agent error: %r"). A message of a few
        # characters (KeyError(0)) is left: replacing it would garble every "0" and it cannot hold PII.
        for quoted in (repr(exc), str(exc)):
            if len(quoted) >= 4:
                event = event.replace(quoted, "[exception message dropped]")
        event_dict["event"] = event
    frames = traceback.extract_tb(tb)[-5:]
    event_dict["exception"] = {
        "type": exc_type.__name__,
        "where": [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in frames],
    }
    return event_dict


def configure_logging(level: str = "INFO", *, stream: Any = None) -> None:
    """JSON logs to stderr (or `stream`); stdlib loggers (faust, aiokafka) go through the same renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_content_fields,
        redact_exceptions,
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party libraries are chatty at INFO; their warnings still come through.
    for noisy in ("aiokafka", "faust", "mode", "presidio-analyzer", "pymilvus", "urllib3", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # pymilvus installs a plain-text handler of its own; route it through the JSON renderer instead, and
    # drop its per-query "mvccTs" warning, which Milvus Lite triggers on every listing by design.
    import pymilvus  # noqa: F401  # its import runs the dictConfig we undo here

    for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer"):
        milvus = logging.getLogger(name)
        milvus.handlers.clear()
        milvus.propagate = True
        milvus.setLevel(logging.ERROR)
