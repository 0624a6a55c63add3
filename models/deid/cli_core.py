"""JSON Lines de-identification: one record per line in, one record or one error per line out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from models.deid.engine import Deidentifier, DeidResult

BATCH_SIZE = 64


def _error(line_number: int, reason: str) -> str:
    # The reason never quotes the input: a bad line may still hold raw PII.
    return json.dumps({"error": reason, "line": line_number}, ensure_ascii=False)


def _parse(line: str) -> dict[str, Any] | str:
    """The record, or why it cannot be de-identified."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if "text" not in record:
        return "missing field 'text'"
    if not isinstance(record["text"], str):
        return f"field 'text' must be a string, got {type(record['text']).__name__}"
    return record


def _render(record: dict[str, Any], result: DeidResult) -> str:
    output = dict(record)
    output["text"] = result.text
    output["entities"] = [{"type": e.type, "start": e.start, "end": e.end, "score": e.score} for e in result.entities]
    return json.dumps(output, ensure_ascii=False)


def _deidentify(engine: Deidentifier, records: list[dict[str, Any]]) -> list[DeidResult | str]:
    texts = [record["text"] for record in records]
    try:
        return list(engine.deidentify_batch(texts))
    except Exception:
        # Errors as data: retry one by one so a single bad text costs one line, not the batch.
        results: list[DeidResult | str] = []
        for text in texts:
            try:
                results.append(engine.deidentify_batch([text])[0])
            except Exception as exc:
                results.append(f"de-identification failed: {type(exc).__name__}")
        return results


def deidentify_jsonl(lines: Iterable[str], engine: Deidentifier) -> Iterator[str]:
    """De-identify the ``text`` field of each JSON line, in input order, in batches of 64.

    Each output line is the input object with ``text`` de-identified and ``entities`` added, or
    ``{"error": ..., "line": N}`` (1-based) for a line that is not a JSON object with a string
    ``text``. Blank lines carry no record and are skipped.
    """
    pending: list[tuple[int, dict[str, Any] | str]] = []
    valid = 0

    def flush() -> Iterator[str]:
        records = [item for _, item in pending if isinstance(item, dict)]
        results = iter(_deidentify(engine, records)) if records else iter(())
        for line_number, item in pending:
            if isinstance(item, str):
                yield _error(line_number, item)
                continue
            result = next(results)
            yield _error(line_number, result) if isinstance(result, str) else _render(item, result)

    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parsed = _parse(line)
        pending.append((line_number, parsed))
        valid += isinstance(parsed, dict)
        if valid >= BATCH_SIZE:
            yield from flush()
            pending.clear()
            valid = 0
    if pending:
        yield from flush()
