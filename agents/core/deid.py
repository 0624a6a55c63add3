"""The one place a de-identification engine is built from settings: ingest, inference and the CLI share it, so
every door uses the same key, operators and recognizers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.core.settings import Settings

if TYPE_CHECKING:  # Presidio, spaCy and jiagu load in seconds: only the processes that de-identify pay for them
    from models.deid import PresidioDeidentifier
    from models.deid.fields import DeclaredFieldAnonymizer


def build_deidentifier(settings: Settings, *, pseudonym_key: bytes | None = None) -> PresidioDeidentifier:
    """The configured engine; `pseudonym_key` stands in for the configured key where no pseudonym is kept (the
    evaluation scores what is found and kept, which does not depend on the key)."""
    from models.deid import PresidioDeidentifier

    return PresidioDeidentifier(
        pseudonym_key=pseudonym_key if pseudonym_key is not None else settings.pseudonym_secret(),
        operators=settings.deid_operators,
        ner_enabled=settings.ner_enabled,
    )


def build_field_anonymizer(settings: Settings) -> DeclaredFieldAnonymizer:
    from models.deid.fields import DeclaredFieldAnonymizer

    return DeclaredFieldAnonymizer(pseudonym_key=settings.pseudonym_secret(), operators=settings.deid_operators)
