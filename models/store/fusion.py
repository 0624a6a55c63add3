"""Reciprocal rank fusion: several rankings of records into one, by rank alone (scores of different kinds never mix)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from models.store.types import Hit

# Cormack, Clarke and Büttcher (SIGIR 2009): k = 60 damps the head of each ranking so that a record ranked well by
# both retrievers beats one ranked first by only one of them; their experiments found it robust across collections.
RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hit]], limit: int, *, k: int = RRF_K) -> list[Hit]:
    """Up to `limit` distinct records, by the sum over the rankings that hold them of 1 / (k + rank), rank from 1.

    A record missing from a ranking gets nothing from it. The hit returned for a record is the one from the ranking
    that ranked it best (the earlier ranking on a tie), with `score` set to the fused score. Equal fused scores are
    ordered by that best rank, then by which ranking it came from, then by record_id, so the result is deterministic.
    Within one ranking only a record's first hit counts.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    fused: dict[str, float] = {}
    best: dict[str, tuple[int, int, Hit]] = {}
    for source, ranking in enumerate(rankings):
        seen: set[str] = set()
        for position, hit in enumerate(ranking, start=1):
            if hit.record_id in seen:
                continue
            seen.add(hit.record_id)
            fused[hit.record_id] = fused.get(hit.record_id, 0.0) + 1.0 / (k + position)
            held = best.get(hit.record_id)
            if held is None or (position, source) < held[:2]:
                best[hit.record_id] = (position, source, hit)
    order = sorted(fused, key=lambda rid: (-fused[rid], best[rid][0], best[rid][1], rid))
    return [dataclasses.replace(best[rid][2], score=fused[rid]) for rid in order[: max(limit, 0)]]
