"""The exception tree: one root, a retriable family and a poison-record family."""

from __future__ import annotations


class SluiceError(Exception):
    """Root of every error Sluice raises on purpose."""


class ConfigurationError(SluiceError):
    """A setting is missing or invalid; raised at start, never mid-stream."""


class RetriableError(SluiceError):
    """Infrastructure is unavailable (broker, store, model files): back off, then let the supervisor restart."""


class BrokerUnavailableError(RetriableError):
    """The Kafka cluster cannot be reached or did not become ready in time."""


class StoreUnavailableError(RetriableError):
    """The vector store cannot be opened or queried."""


class PoisonRecordError(SluiceError):
    """The input itself is bad: it goes to a dead-letter topic and processing continues."""

    stage: str = "unknown"

    def __init__(self, message: str, *, stage: str | None = None) -> None:
        super().__init__(message)
        if stage is not None:
            self.stage = stage


class InvalidEncodingError(PoisonRecordError):
    """The message bytes are not valid UTF-8."""


class MalformedJsonError(PoisonRecordError):
    """The message is UTF-8 but not parseable JSON."""


class SchemaViolationError(PoisonRecordError):
    """The JSON does not match the topic's schema."""


class StalledWorkerError(PoisonRecordError):
    """The record was running when a worker died (time budget, stopped heartbeat, crash), twice: it is
    dead-lettered without being run again."""


class OversizedPayloadError(PoisonRecordError):
    """The message is larger than the configured limit."""
