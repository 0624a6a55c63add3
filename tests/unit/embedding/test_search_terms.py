"""The lexical analyzer: Chinese segmented (words and bigrams), pseudonyms whole and as their type, English words."""

from __future__ import annotations

import re

from models.store.terms import MAX_TERMS_BYTES, analyze, pseudonym_term, terms_text

TARGET = "<PERSON_3c976b0a75e2d418>"


def test_chinese_is_segmented_into_words_and_bigrams() -> None:
    terms = analyze("客户投诉物流太慢")
    assert {"客户", "投诉", "物流"} <= set(terms)  # rjieba's words
    assert {"户投", "诉物", "流太", "太慢"} <= set(terms)  # bigrams across word boundaries too
    assert "客户投诉物流太慢" not in terms


def test_a_long_word_also_yields_the_words_inside_it() -> None:
    assert {"中华人民共和国", "共和国", "人民"} <= set(analyze("中华人民共和国"))


def test_a_query_worded_differently_still_shares_terms_with_the_chunk() -> None:
    chunk = set(analyze("从上海仓库发出的笔记本电脑已经延误五天，物流太慢。"))
    query = set(analyze("上海发出的笔记本电脑物流太慢"))
    assert {"上海", "发出", "笔记本电脑", "物流", "太慢"} <= chunk & query


def test_a_pseudonym_is_one_exact_term_and_its_type() -> None:
    terms = analyze(f"客户{TARGET}投诉")
    assert pseudonym_term(TARGET) == "person_3c976b0a75e2d418"
    assert terms.count("person_3c976b0a75e2d418") == 1 and terms.count("person") == 1
    # the digest never leaks into other terms, and the text around it is still analysed
    assert not any("3c976b0a75e2d418" in t for t in terms if t != "person_3c976b0a75e2d418")
    assert {"客户", "投诉"} <= set(terms)


def test_two_people_of_one_type_share_the_type_term_only() -> None:
    one, other = set(analyze(TARGET)), set(analyze("<PERSON_0123456789abcdef>"))
    assert one & other == {"person"}
    assert set(analyze("<CN_MOBILE_49e582b863d1a7f0>")) == {"cn_mobile_49e582b863d1a7f0", "cn_mobile"}


def test_english_is_split_into_lowercase_words_without_punctuation() -> None:
    assert analyze("Invoice SO-4471 wasn't PAID; e-mail ops@example.com.") == [
        "invoice", "so", "4471", "wasn", "t", "paid", "e", "mail", "ops", "example", "com",
    ]  # fmt: skip


def test_every_term_is_one_run_of_word_characters() -> None:
    # What lets the store's `\w+` tokenizer split the joined terms back into exactly these terms.
    text = f"混合 text：订单SO4471 的 invoice（{TARGET}）延误了 3 天！ café naïve"
    terms = analyze(text)
    assert terms and all(re.fullmatch(r"\w+", term) for term in terms)
    assert all(term == term.lower() for term in terms)
    assert terms_text(text).split(" ") == terms


def test_no_terms_in_punctuation_or_empty_text() -> None:
    assert analyze("") == []
    assert analyze("，。！？ ... ---") == []


def test_terms_text_is_cut_at_a_term_boundary_within_the_column_limit() -> None:
    text = "物流很慢 " * 20_000
    joined = terms_text(text)
    assert len(joined.encode("utf-8")) <= MAX_TERMS_BYTES
    assert set(joined.split(" ")) <= set(analyze("物流很慢"))
