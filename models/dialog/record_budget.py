"""Retrieved records fitted to a token budget: the context a chat prompt carries is counted in tokens, not records.

Prefill of the prompt dominates a chat answer's latency on CPU, and every prompt of a batch is padded to the
longest: four records of 480 characters cost SmolLM2 about 1,100 tokens. The records are taken in rank order; one
that does not fit whole is cut at a character boundary to what is left (marked with an ellipsis, so the model and
a reviewer can see it was cut), and the records after it are left out. A record that would keep fewer than
`min_tokens` is left out rather than shown as a stub.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from models.dialog.history import TokenCounter
from models.dialog.templates import RetrievedRecord

ELLIPSIS = "…"
MIN_RECORD_TOKENS = 32


def fit_records(
    records: Sequence[RetrievedRecord],
    *,
    budget_tokens: int,
    count_tokens: TokenCounter,
    min_tokens: int = MIN_RECORD_TOKENS,
) -> list[RetrievedRecord]:
    """The records, best first, whose texts together cost at most `budget_tokens` (the last one maybe cut)."""
    if budget_tokens < 0 or min_tokens < 1:
        raise ValueError(f"need budget_tokens >= 0 and min_tokens >= 1, got {budget_tokens}, {min_tokens}")
    kept: list[RetrievedRecord] = []
    left = budget_tokens
    for record in records:
        if left < min_tokens:
            break
        cost = count_tokens(record.text)
        if cost <= left:
            kept.append(record)
            left -= cost
            continue
        cut = _prefix_within(record.text, left, count_tokens)
        if count_tokens(cut) >= min_tokens:
            kept.append(dataclasses.replace(record, text=cut))
        break
    return kept


def _prefix_within(text: str, budget: int, count_tokens: TokenCounter) -> str:
    """The longest prefix of `text` that, with the ellipsis, costs at most `budget` tokens (binary search)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle].rstrip() + ELLIPSIS) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS if low else ""
