"""Hybrid fusion: cosine plus a bonus for terms held beyond it; strong term matches over weak leads by meaning."""

from __future__ import annotations

import pytest

from models.store import LEXICAL_WEIGHT, Hit, fuse
from models.store.fusion import coverage, scripts
from models.store.terms import analyze

QUERY = "客户投诉物流太慢"


def hit(rid: str, score: float, text: str, chunk: int = 0) -> Hit:
    return Hit(rid, f"{rid}/{chunk}", score, text, {})


def ids(hits: list[Hit]) -> list[str]:
    return [h.record_id for h in hits]


def test_strong_term_matches_outrank_a_weak_cross_script_lead_by_meaning() -> None:
    # Seen in `make demo`: USE puts English log lines first for a Chinese complaint query (cosine 0.23 against
    # 0.19-0.20); the complaints hold the query's terms (BM25 25.5) and must come first, the logs after them.
    logs = [
        hit(f"log-{i}", 0.229 - i * 0.001, f"[INFO] billing trace: 5147c4caca30{i:04d} rate limit exceeded for "
            f"client <IP_ADDRESS_5d2e441e30a2{i:04d}>")
        for i in range(20)
    ]  # fmt: skip
    complaints = [
        hit(f"crm-{i}", 0.2035 - i * 0.002, f"customer C-000{i:02d} via visit\nnotes: <PERSON_a8bdb29bd69a{i:04d}>"
            f"来电投诉物流太慢，身份证号<CN_RESIDENT_ID_e562a4e2fba8{i:04d}>，手机<CN_MOBILE_49e582b863d1{i:04d}>，已安抚。")
        for i in range(5)
    ]  # fmt: skip
    dense = [*logs, complaints[0], complaints[1]]  # the rest lie below the dense cut
    lexical = [hit(h.record_id, 25.531, h.text) for h in complaints]
    fused = fuse(QUERY, dense, lexical, 10)
    assert set(ids(fused[:5])) == {h.record_id for h in complaints}
    assert ids(fused[5:]) == [f"log-{i}" for i in range(5)]  # the logs keep their order by meaning


def test_terms_add_only_what_they_say_beyond_meaning() -> None:
    # holds 客户, 投诉, 物流, 户投, 诉物: five of the query's seven terms
    chinese = hit("zh", 0.30, "客户投诉物流")
    fused = {h.record_id: h.score for h in fuse(QUERY, [chinese], [hit("zh", 7.0, chinese.text)], 10)}
    assert fused["zh"] == pytest.approx(0.30 + LEXICAL_WEIGHT * (5 / 7 - 0.30))
    # A cosine above the record's coverage already says more than its terms: nothing is added.
    assert fuse(QUERY, [hit("zh", 0.80, chinese.text)], [], 1)[0].score == pytest.approx(0.80)


def test_a_record_sharing_no_terms_keeps_its_cosine_neither_penalised_nor_counted_twice() -> None:
    # An English record for a Chinese query, against a Chinese near miss holding two common terms.
    english = hit("en", 0.55, "The laptop shipped from the Shanghai warehouse is five days late.")
    near = hit("zh-near", 0.50, "上海站点反馈，打印机在途5天仍未签收，客户催促发货进度。")
    query = "上海发出的笔记本电脑物流太慢，一直没到货"
    fused = fuse(query, [english, near], [hit("zh-near", 4.0, near.text)], 10)
    assert ids(fused) == ["en", "zh-near"]
    assert fused[0].score == pytest.approx(0.55)


def test_a_few_shared_terms_do_not_overturn_a_clear_lead_by_meaning() -> None:
    # A mixed record, an English query: English records on another item share the city and common words.
    right = hit("right", 0.62, "客户说 laptop 从上海仓库发货后 delay 了5天，tracking 一直没更新，物流太慢。")
    other = hit("other", 0.50, "The printer from our Shanghai warehouse is 5 days late and has not arrived.")
    query = "laptop shipment from Shanghai is delayed and has not arrived"
    terms = frozenset(analyze(query))
    assert coverage(terms, other.text) > coverage(terms, right.text)
    lexical = [hit("other", 9.0, other.text), hit("right", 2.0, right.text)]
    assert ids(fuse(query, [right, other], lexical, 2)) == ["right", "other"]


def test_a_record_only_the_terms_found_gets_the_lowest_cosine_the_dense_side_returned() -> None:
    dense = [hit("a", 0.6, "shipment"), hit("b", 0.2, "invoice")]
    fused = {h.record_id: h.score for h in fuse(QUERY, dense, [hit("c", 3.0, "物流太慢")], 10)}
    assert fused["c"] == pytest.approx(0.2 + LEXICAL_WEIGHT * (3 / 7 - 0.2))
    # Without dense hits (an embedder that cannot read the query), terms alone rank.
    only = fuse(QUERY, [], [hit("c", 3.0, "物流太慢"), hit("d", 1.0, "客户")], 10)
    assert ids(only) == ["c", "d"] and only[0].score == pytest.approx(LEXICAL_WEIGHT * 3 / 7)


def test_the_hit_kept_is_the_chunk_holding_more_of_the_query_and_repeats_count_once() -> None:
    dense = [hit("r", 0.5, "a chunk about billing", 1), hit("r", 0.4, "again", 2), hit("s", 0.45, "billing")]
    lexical = [hit("r", 9.0, "客户投诉物流太慢", 0)]
    fused = fuse(QUERY, dense, lexical, 10)
    assert ids(fused) == ["r", "s"]
    assert (fused[0].chunk_id, fused[0].text) == ("r/0", "客户投诉物流太慢")
    assert fused[0].score == pytest.approx(0.5 + LEXICAL_WEIGHT * 0.5)  # its best cosine, its best chunk's coverage


def test_limits_empty_sides_and_ties() -> None:
    dense = [hit("b", 0.5, "x"), hit("a", 0.5, "y"), hit("c", 0.1, "z")]
    assert ids(fuse(QUERY, dense, [], 10)) == ["a", "b", "c"]  # equal scores: by record_id
    assert ids(fuse(QUERY, dense, [], 2)) == ["a", "b"]
    assert fuse(QUERY, dense, [], 0) == [] and fuse(QUERY, [], [], 10) == []
    assert fuse("，。", dense, [], 10)[0].score == pytest.approx(0.5)  # a query without terms: meaning alone


def test_coverage_is_the_share_of_the_querys_distinct_terms_held() -> None:
    terms = frozenset(analyze(QUERY))
    assert terms == {"客户", "投诉", "物流", "太慢", "户投", "诉物", "流太"}
    assert coverage(terms, "客户投诉物流太慢，物流太慢") == 1.0
    assert coverage(terms, "物流") == pytest.approx(1 / 7)
    assert coverage(terms, "the parcel is late") == 0.0
    assert coverage(frozenset(), "物流") == 0.0


def test_scripts_ignore_pseudonyms_and_codes() -> None:
    assert scripts("客户<PERSON_3c976b0a75e2d418>订单SO4471") == {"han"}
    assert scripts("order <PERSON_3c976b0a75e2d418> late") == {"latin"}
    assert scripts("VPN异常登录") == {"han", "latin"}
    assert scripts("4471 <PERSON_3c976b0a75e2d418>") == frozenset()
