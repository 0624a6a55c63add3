"""Reciprocal rank fusion: sums of 1/(k + rank), missing sides, ties, k, and rankings that could not have judged."""

from __future__ import annotations

import pytest

from models.store import RRF_K, Hit, reciprocal_rank_fusion
from models.store.fusion import scripts


def hits(*record_ids: str, text: str = "text") -> list[Hit]:
    return [Hit(rid, f"{rid}/0", 1.0 - i / 10, text, {}) for i, rid in enumerate(record_ids)]


def test_a_record_both_sides_rank_well_beats_one_ranked_first_by_one_side() -> None:
    fused = reciprocal_rank_fusion([hits("a", "both"), hits("b", "both")], 10)
    assert [h.record_id for h in fused] == ["both", "a", "b"]
    assert fused[0].score == pytest.approx(2 / (RRF_K + 2))
    assert fused[1].score == pytest.approx(1 / (RRF_K + 1))


def test_a_missing_side_contributes_nothing() -> None:
    assert [h.record_id for h in reciprocal_rank_fusion([hits("a", "b"), []], 10)] == ["a", "b"]
    assert [h.record_id for h in reciprocal_rank_fusion([[], hits("x")], 10)] == ["x"]
    assert reciprocal_rank_fusion([[], []], 10) == []


def test_equal_scores_are_ordered_by_best_rank_then_ranking_then_id() -> None:
    # a: 1st on one side only; b: 1st on the other; c and d tie at 2nd: deterministic either way round
    fused = reciprocal_rank_fusion([hits("a", "d"), hits("b", "c")], 10)
    assert [h.record_id for h in fused] == ["a", "b", "d", "c"]
    assert fused[0].score == fused[1].score


def test_k_sets_how_much_the_head_of_a_ranking_weighs() -> None:
    # first on one side vs 3rd on both: k = 0 favours the single first place, a large k the agreement
    rankings = [hits("top", "x", "both"), hits("y", "z", "both")]
    assert reciprocal_rank_fusion(rankings, 1, k=0)[0].record_id == "top"
    assert reciprocal_rank_fusion(rankings, 1, k=RRF_K)[0].record_id == "both"
    with pytest.raises(ValueError):
        reciprocal_rank_fusion(rankings, 1, k=-1)


def test_the_hit_kept_is_the_best_ranked_one_and_repeats_count_once() -> None:
    dense = [Hit("r", "r/1", 0.9, "dense chunk", {}), Hit("r", "r/2", 0.8, "again", {})]
    lexical = [Hit("s", "s/0", 9.0, "s", {}), Hit("r", "r/0", 5.0, "lexical chunk", {})]
    fused = reciprocal_rank_fusion([dense, lexical], 10)
    assert fused[0].record_id == "r" and fused[0].text == "dense chunk"
    assert fused[0].score == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert reciprocal_rank_fusion([dense, lexical], 1) == [fused[0]]
    assert reciprocal_rank_fusion([dense, lexical], 0) == []


def test_a_ranking_that_could_not_judge_a_record_is_no_evidence_against_it() -> None:
    english = hits("en-right", text="the laptop shipment is late")
    chinese = hits("zh-near", "zh-far", text="上海的笔记本电脑")
    dense = [english[0], chinese[0], chinese[1]]
    lexical = [chinese[0], chinese[1]]  # a Chinese query's terms find only Chinese records
    plain = reciprocal_rank_fusion([dense, lexical], 10)
    assert plain[0].record_id == "zh-near"  # plain RRF: the English record loses for lacking a lexical rank
    asked = scripts("上海笔记本电脑物流太慢")
    fair = reciprocal_rank_fusion([dense, lexical], 10, can_rank=[None, lambda hit: bool(asked & scripts(hit.text))])
    assert fair[0].record_id == "en-right"
    assert fair[0].score == pytest.approx(2 / (RRF_K + 1))  # its dense term stands in for the lexical one
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([dense, lexical], 10, can_rank=[None])


def test_scripts_ignore_pseudonyms_and_codes() -> None:
    assert scripts("客户<PERSON_3c976b0a75e2d418>订单SO4471") == {"han"}
    assert scripts("order <PERSON_3c976b0a75e2d418> late") == {"latin"}
    assert scripts("VPN异常登录") == {"han", "latin"}
    assert scripts("4471 <PERSON_3c976b0a75e2d418>") == frozenset()
