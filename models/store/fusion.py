"""Hybrid fusion: the dense and the lexical candidates of one query into one ranking, by how well each matched."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from models.deid.pseudonym_format import PSEUDONYM_PATTERN
from models.store.terms import analyze
from models.store.types import Hit

# Weight of the lexical bonus (the share of the query's terms a record holds beyond its cosine). On the bench set with
# USE (README, "Search"), 0.15 to 0.25 keep dense recall@5 in every query class and lift Chinese MRR@10 (0.15 best by
# a query or two); from 0.5, near misses sharing a few common terms start to push the right record out, and 0.15
# still puts the demo's complaints (coverage 0.71, cosine 0.20) above log lines at cosine 0.23.
LEXICAL_WEIGHT = 0.15
# Reciprocal rank fusion's k (Cormack et al. 2009), for rank_fusion.
RRF_K = 60

# What search_text fuses with: (query, dense hits, lexical hits, limit) → hits, best first, one per record.
Fusion = Callable[[str, Sequence[Hit], Sequence[Hit], int], list[Hit]]

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


def coverage(query_terms: frozenset[str], text: str) -> float:
    """Share of the query's distinct terms (models.store.terms.analyze) that the text holds: 0 to 1."""
    if not query_terms:
        return 0.0
    return len(query_terms.intersection(analyze(text))) / len(query_terms)


def fuse(
    query: str, dense: Sequence[Hit], lexical: Sequence[Hit], limit: int, *, weight: float = LEXICAL_WEIGHT
) -> list[Hit]:
    """Up to `limit` distinct records from both sides, best first, by

        score = cosine + weight × max(0, coverage − cosine)

    - cosine: the record's similarity from the dense hits. A record only the lexical side found lies below the dense
      cut, so it gets the lowest cosine the dense side returned (its own is at most that; 0 without dense hits);
    - coverage: the share of the query's distinct terms its chunk holds (`coverage`), from the chunk text itself;
    - terms add only where they say more than meaning does. A record holding the query's terms outranks a weak lead
      by meaning (seen in `make demo`: Chinese complaints holding 客户投诉物流太慢, cosine 0.20, under English log
      lines at 0.23), while a near miss sharing a few common terms (same city, other item) adds little or nothing
      to a clear lead by meaning. A record sharing no terms with the query, such as one in another language, keeps its
      cosine as it is: neither penalised for lacking terms it could not hold, nor counted twice.

    Scores rather than ranks: rank fusion turned small lexical differences into whole ranks and took mixed-language
    recall@5 from 0.89 (dense alone) to 0.52. The hit returned for a record is its dense hit, or its lexical one where
    that chunk covers more of the query; its `score` is the fused score, comparable only within one reply. Equal
    scores go by record_id, so the result is deterministic.
    """
    query_terms = frozenset(analyze(query))
    cosine: dict[str, float] = {}
    chosen: dict[str, tuple[float, Hit]] = {}
    for hit in dense:
        if hit.record_id not in cosine:
            cosine[hit.record_id] = hit.score
            chosen[hit.record_id] = (coverage(query_terms, hit.text), hit)
    for hit in lexical:
        held = chosen.get(hit.record_id)
        if held is None or held[1].chunk_id != hit.chunk_id:
            covered = coverage(query_terms, hit.text)
            if held is None or covered > held[0]:
                chosen[hit.record_id] = (covered, hit)
    floor = min(cosine.values(), default=0.0)
    fused: dict[str, float] = {}
    for record_id, (covered, _) in chosen.items():
        similarity = cosine.get(record_id, floor)
        fused[record_id] = similarity + weight * max(0.0, covered - similarity)
    order = sorted(fused, key=lambda rid: (-fused[rid], rid))
    return [dataclasses.replace(chosen[rid][1], score=fused[rid]) for rid in order[: max(limit, 0)]]


def rank_fusion(query: str, dense: Sequence[Hit], lexical: Sequence[Hit], limit: int) -> list[Hit]:
    """The fusion for an encoder that does not read Chinese (MiniLM; the tests' tiny encoder): ranks, not scores.

    Reciprocal rank fusion, sum of 1 / (60 + rank) over the two rankings, except that a record sharing no script with
    the query gets its dense term counted twice (its missing lexical rank was not held against it). Ties go to the
    better best rank, then the dense side, then record_id.
    """
    asked = scripts(query)
    ranks: list[dict[str, int]] = []
    best: dict[str, tuple[int, int, Hit]] = {}
    for source, ranking in enumerate((dense, lexical)):
        ranked: dict[str, int] = {}
        for position, hit in enumerate(ranking, start=1):
            if hit.record_id in ranked:
                continue
            ranked[hit.record_id] = position
            if hit.record_id not in best or (position, source) < best[hit.record_id][:2]:
                best[hit.record_id] = (position, source, hit)
        ranks.append(ranked)
    fused: dict[str, float] = {}
    for record_id, (_, _, hit) in best.items():
        term = 1.0 / (RRF_K + ranks[0][record_id]) if record_id in ranks[0] else 0.0
        if record_id in ranks[1]:
            fused[record_id] = term + 1.0 / (RRF_K + ranks[1][record_id])
        else:
            fused[record_id] = term if asked & scripts(hit.text) else 2 * term
    order = sorted(fused, key=lambda rid: (-fused[rid], best[rid][0], best[rid][1], rid))
    return [dataclasses.replace(best[rid][2], score=fused[rid]) for rid in order[: max(limit, 0)]]
