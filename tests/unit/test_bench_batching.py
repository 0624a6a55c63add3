"""The batching bench's pure parts: batches split as the batcher closes them, record texts, the table."""

from __future__ import annotations

from agents.bench.batching import batches, format_table, record_texts
from models.batching import BatchLimits
from models.deid.pseudonym_format import PSEUDONYM_PATTERN, named_pseudonyms


def test_prompts_are_split_into_the_batches_the_batcher_would_close() -> None:
    limits = BatchLimits(max_batch_size=4, max_batch_tokens=3000)
    assert [len(b) for b in batches([125] * 10, limits)] == [4, 4, 2]
    assert [len(b) for b in batches([1300] * 5, limits)] == [2, 2, 1]
    split = batches([1300, 100, 5000, 100], limits)
    assert [list(b) for b in split] == [[0], [1, 3], [2]]  # short prompts together, not padded to 1,300


def test_record_texts_are_de_identified_records_of_at_most_the_asked_length() -> None:
    texts = record_texts(4, 480)
    assert all(440 <= len(t) <= 480 for t in texts) and len(set(texts)) == 4
    assert record_texts(0, 480) == []
    for text in texts:  # whole pseudonyms only, one customer per record
        people = named_pseudonyms(text)
        assert PSEUDONYM_PATTERN.sub("", text).count("<") == 0
        assert len(people) == 2 and {p.split("_")[0] for p in people} == {"<PERSON", "<CN"}


def test_the_table_shows_each_case_with_its_batches_and_ratios() -> None:
    case = {
        "retrieved_records": 4,
        "prompt_tokens_mean": 1249,
        "batch_sizes": [6, 6, 4],
        "batched": {"seconds": 90.0},
        "one_at_a_time": {"seconds": 74.4},
        "requests_per_s_ratio": 0.827,
        "tokens_per_s_ratio": 0.8,
    }
    results = {
        "prompts": 16,
        "max_tokens": 48,
        "max_batch_size": 16,
        "max_batch_tokens": 8192,
        "intra_threads": 2,
        "repeats": 1,
        "cases": [case],
    }
    table = format_table(results).splitlines()
    assert "up to 16 requests and 8192 tokens" in table[0]
    assert table[2].split() == ["4", "-", "no", "-", "1249", "6+6+4", "90.0", "74.4", "0.827", "0.8"]
    budgeted = {**case, "context_tokens": 448, "aliases": True, "shared_prefix": True, "prompt_tokens_mean": 610}
    row = format_table({**results, "cases": [budgeted]}).splitlines()[2].split()
    assert row[:5] == ["4", "448", "yes", "shared", "610"]
