"""The PII leak scan: look for planted values in everything Sluice wrote (topics, index, logs, reports).

Used by `make demo` and by the leak test; one list of what Sluice writes, so neither can forget a place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from agents.core.settings import Settings
from topics.specs import (
    AUDIT_EVENTS,
    AUDIT_PENDING,
    INFERENCE_CONTEXT,
    INFERENCE_DLQ,
    INFERENCE_RESPONSES,
    INFERENCE_STREAMS,
    INGEST_DLQ,
    RECORDS_DEIDENTIFIED,
    RECORDS_INDEXED,
    REVIEW_DECISIONS,
    REVIEW_PENDING,
    table_changelog,
)


def written_topics(settings: Settings) -> list[str]:
    """Every topic Sluice's workers write (not the upstream topics, requests or control topics people write)."""
    from agents.inference.flow import INFERENCE_TABLES

    topics = [
        RECORDS_DEIDENTIFIED.name,
        RECORDS_INDEXED.name,
        INGEST_DLQ.name,
        AUDIT_PENDING.name,
        AUDIT_EVENTS.name,
        INFERENCE_RESPONSES.name,
        REVIEW_PENDING.name,
        REVIEW_DECISIONS.name,
        INFERENCE_CONTEXT.name,
        INFERENCE_STREAMS.name,
        INFERENCE_DLQ.name,
    ]
    return topics + [table_changelog(f"{settings.app_id}-inference", table).name for table in INFERENCE_TABLES]


def worker_logs(settings: Settings) -> list[Path]:
    """Every worker's log file (one per slot: index-0.log, deidentify-0.log, …)."""
    return sorted(settings.run_dir.glob("*.log"))


def leak_variants(kind: str, value: str) -> set[str]:
    """A value and its other spellings: a phone leaked with spaces is still leaked."""
    variants = {value}
    if kind in {"CN_MOBILE", "BANK_CARD"}:
        digits = "".join(ch for ch in value if ch.isdigit())
        variants |= {digits, " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))}
        if kind == "CN_MOBILE":
            variants |= {
                f"{digits[:3]} {digits[3:7]} {digits[7:]}",
                f"{digits[:3]}-{digits[3:7]}-{digits[7:]}",
            }
    return variants


def scan_for_leaks(corpus: Iterable[str], planted: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Planted values found anywhere in the corpus, by type (the values themselves, for the caller to count)."""
    haystack = "\n".join(corpus)
    leaked: dict[str, list[str]] = {}
    for kind, values in planted.items():
        found = [v for v in values if any(variant in haystack for variant in leak_variants(kind, v))]
        if found:
            leaked[kind] = found
    return leaked


def count_by_kind(leaked: Mapping[str, list[str]]) -> dict[str, int]:
    return dict(Counter({kind: len(values) for kind, values in leaked.items()}))
