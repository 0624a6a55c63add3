"""Which retrieved records a generated answer cites, for the response's `citations` field."""

from __future__ import annotations

from collections.abc import Sequence

from models.dialog.templates import RetrievedRecord


def cited_record_ids(answer: str, retrieved: Sequence[RetrievedRecord]) -> list[str]:
    """Ids of retrieved records cited as `[record_id]` in the answer, in order of first citation.

    Only ids that were actually retrieved count: a model can invent a plausible id, and a citation of a
    record the user was never shown (or of another tenant's record) must not reach the response.
    """
    positions: dict[str, int] = {}
    for record in retrieved:
        index = answer.find(f"[{record.record_id}]")
        if index >= 0 and record.record_id not in positions:
            positions[record.record_id] = index
    return sorted(positions, key=positions.__getitem__)
