"""Reciprocal rank fusion: several rankings of records into one, by rank alone (scores of different kinds never mix)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from models.deid.pseudonym_format import PSEUDONYM_PATTERN
from models.store.types import Hit

# Cormack, Clarke and Büttcher (SIGIR 2009): k = 60 damps the head of each ranking so that a record ranked well by
# both retrievers beats one ranked first by only one of them; their experiments found it robust across collections.
RRF_K = 60

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Latin words of two letters or more; ASCII word boundaries, so "ERP系统" holds one and "SO12345" none.
_LATIN = re.compile(r"\b[A-Za-z]{2,}\b", re.ASCII)


def scripts(text: str) -> frozenset[str]:
    """The scripts a text is written in, of those a lexical match can cross: {"han", "latin"}, pseudonyms aside."""
    text = PSEUDONYM_PATTERN.sub(" ", text)
    found = set()
    if _HAN.search(text):
        found.add("han")
    if _LATIN.search(text):
        found.add("latin")
    return frozenset(found)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hit]],
    limit: int,
    *,
    k: int = RRF_K,
    can_rank: Sequence[Callable[[Hit], bool] | None] = (),
) -> list[Hit]:
    """Up to `limit` distinct records, by the sum over the rankings of 1 / (k + rank), rank from 1.

    A record missing from a ranking gets nothing from it, unless `can_rank[i]` (one predicate per ranking, None for
    "every record") says ranking i could not have ranked it at all: then that silence is no evidence either way, and
    the mean of the record's terms from the rankings that could rank it stands in for the missing term.

    The hit returned for a record is the one from the ranking that ranked it best (the earlier ranking on a tie), with
    `score` set to the fused score. Equal fused scores are ordered by that best rank, then by which ranking it came
    from, then by record_id, so the result is deterministic. Within one ranking only a record's first hit counts.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if len(can_rank) not in (0, len(rankings)):
        raise ValueError(f"{len(can_rank)} can_rank predicates for {len(rankings)} rankings")
    ranks: list[dict[str, int]] = []
    best: dict[str, tuple[int, int, Hit]] = {}
    for source, ranking in enumerate(rankings):
        ranked: dict[str, int] = {}
        for position, hit in enumerate(ranking, start=1):
            if hit.record_id in ranked:
                continue
            ranked[hit.record_id] = position
            held = best.get(hit.record_id)
            if held is None or (position, source) < held[:2]:
                best[hit.record_id] = (position, source, hit)
        ranks.append(ranked)
    fused: dict[str, float] = {}
    for record_id, (_, _, hit) in best.items():
        terms: list[float] = []
        blind = 0
        for source, ranked in enumerate(ranks):
            judge = can_rank[source] if can_rank else None
            if record_id in ranked or judge is None or judge(hit):
                terms.append(1.0 / (k + ranked[record_id]) if record_id in ranked else 0.0)
            else:
                blind += 1
        fused[record_id] = sum(terms) + blind * sum(terms) / len(terms)
    order = sorted(fused, key=lambda rid: (-fused[rid], best[rid][0], best[rid][1], rid))
    return [dataclasses.replace(best[rid][2], score=fused[rid]) for rid in order[: max(limit, 0)]]
