"""The retrieval bench's set and figures: deterministic, judgements consistent with the records, metrics exact."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from agents.bench.retrieval import quality, recall_at, reciprocal_rank
from agents.bench.retrieval_set import CATEGORIES, CITIES, TOPICS, EvalQuery, generate_eval_set
from models.deid.pseudonym_format import PSEUDONYM_PATTERN, named_pseudonyms
from models.store import Hit
from models.store.fusion import RRF_K, rank_fusion, scripts

SET = generate_eval_set(7)
RECORDS = {record.record_id: record for record in SET.records}


def test_the_same_seed_gives_the_same_set_and_another_seed_another() -> None:
    assert generate_eval_set(7) == SET
    other = generate_eval_set(8)
    assert [r.text for r in other.records] != [r.text for r in SET.records]


def test_the_grid_is_complete_one_record_per_topic_item_and_city() -> None:
    keys = {(r.topic, r.item, r.city) for r in SET.records}
    assert len(keys) == len(SET.records) == len(TOPICS) * 6 * len(CITIES)
    assert len(RECORDS) == len(SET.records)
    languages = Counter(r.language for r in SET.records)
    assert languages["zh"] > languages["en"] > languages["mixed"] > 0  # mostly Chinese, as the data is


def test_records_are_written_in_their_language_and_name_their_person() -> None:
    for record in SET.records:
        written = scripts(record.text)
        assert record.person in record.text and PSEUDONYM_PATTERN.fullmatch(record.person)
        if record.language == "zh":
            assert "han" in written
        elif record.language == "en":
            assert written == {"latin"}
        else:
            assert written == {"han", "latin"}


def test_every_category_has_queries_and_every_judgement_points_at_a_record() -> None:
    assert set(Counter(q.category for q in SET.queries)) == set(CATEGORIES)
    assert len({q.query_id for q in SET.queries}) == len(SET.queries)
    for query in SET.queries:
        assert query.relevant and query.relevant <= RECORDS.keys()


def test_judgements_follow_from_the_facts_of_the_records() -> None:
    for query in SET.queries:
        if query.category == "pseudonym":
            (person,) = named_pseudonyms(query.text)
            assert all(RECORDS[rid].person == person for rid in query.relevant)
            continue
        (rid,) = query.relevant
        record = RECORDS[rid]
        city_zh, city_en = CITIES[record.city]
        assert city_zh in query.text or city_en in query.text  # the query names the record's city
        assert not re.search(r"SO\d{5}", query.text)  # never the order number: that would be too easy
        assert query.text not in record.text


def test_categories_match_the_languages_of_query_and_record() -> None:
    for query in SET.queries:
        if query.category == "pseudonym":
            continue
        record_language = RECORDS[next(iter(query.relevant))].language
        expected = {
            ("zh", "zh"): "zh",
            ("en", "en"): "en",
            ("zh", "en"): "cross",
            ("en", "zh"): "cross",
        }.get((query.language, record_language), "mixed")
        assert query.category == expected, query


def test_a_pseudonym_query_judges_all_and_only_that_persons_records_on_its_item() -> None:
    for query in (q for q in SET.queries if q.category == "pseudonym"):
        (person,) = named_pseudonyms(query.text)
        on_item = {
            r.record_id
            for r in SET.records
            if r.person == person
            and any(name in query.text for name in {t.name: t for t in TOPICS}[r.topic].items[r.item])
        }
        assert query.relevant == on_item


def test_recall_and_reciprocal_rank() -> None:
    assert recall_at(["a", "b", "c"], frozenset({"c", "z"}), 2) == 0.0
    assert recall_at(["a", "b", "c"], frozenset({"c", "z"}), 3) == 0.5
    assert reciprocal_rank(["a", "b", "c"], frozenset({"b", "c"}), 10) == 0.5
    assert reciprocal_rank(["a", "b", "c"], frozenset({"c"}), 2) == 0.0


def test_quality_is_averaged_per_category_and_overall() -> None:
    queries = [
        EvalQuery("q0", "zh", "zh", "…", frozenset({"a"})),
        EvalQuery("q1", "zh", "zh", "…", frozenset({"b"})),
        EvalQuery("q2", "cross", "en", "…", frozenset({"c"})),
    ]
    figures = quality(queries, [["a"], ["x", "y", "z", "w", "v", "b"], ["c"]])
    assert figures["zh"] == {"recall_at_5": 0.5, "mrr_at_10": pytest.approx(0.583), "queries": 2}
    assert figures["cross"]["recall_at_5"] == 1.0
    assert figures["all"]["queries"] == 3 and "en" not in figures


def test_the_baseline_fusion_is_rank_fusion_counting_a_cross_script_records_dense_term_twice() -> None:
    def hit(rid: str, text: str) -> Hit:
        return Hit(rid, f"{rid}/0", 0.5, text, {})

    english, near, far = hit("en", "the laptop is late"), hit("zh-near", "上海的笔记本电脑"), hit("zh-far", "上海")
    fused = rank_fusion("上海笔记本电脑物流太慢", [english, near, far], [near, far], 10)
    assert [h.record_id for h in fused] == ["en", "zh-near", "zh-far"]
    assert fused[0].score == pytest.approx(2 / (RRF_K + 1))  # its dense term stands in for the lexical one
    assert fused[1].score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    # A record of the query's script that the lexical side missed gets nothing from it.
    assert rank_fusion("上海", [near, far], [far], 10)[0].record_id == "zh-far"
    assert rank_fusion("上海", [near, far], [far], 1) == rank_fusion("上海", [near, far], [far], 10)[:1]
