"""Retrieved records fitted to a token budget: best first, the last one cut with an ellipsis, stubs left out."""

from __future__ import annotations

import pytest

from models.dialog import RetrievedRecord
from models.dialog.record_budget import ELLIPSIS, fit_records


def words(text: str) -> int:
    return len(text.replace(ELLIPSIS, " …").split())


def record(record_id: str, length: int) -> RetrievedRecord:
    return RetrievedRecord(record_id, " ".join(f"{record_id}w{i}" for i in range(length)), 0.5)


def test_records_that_fit_are_kept_whole_in_rank_order() -> None:
    records = [record("a", 10), record("b", 10)]
    assert fit_records(records, budget_tokens=20, count_tokens=words, min_tokens=1) == records


def test_the_first_record_that_does_not_fit_is_cut_and_the_rest_left_out() -> None:
    records = [record("a", 10), record("b", 50), record("c", 5)]
    fitted = fit_records(records, budget_tokens=30, count_tokens=words, min_tokens=5)
    assert [r.record_id for r in fitted] == ["a", "b"]
    assert fitted[0] == records[0]
    assert fitted[1].text.endswith(ELLIPSIS) and words(fitted[1].text) <= 20
    assert fitted[1].text.startswith("bw0 bw1") and fitted[1].score == 0.5
    assert sum(words(r.text) for r in fitted) <= 30


def test_a_cut_that_would_leave_a_stub_drops_the_record() -> None:
    fitted = fit_records([record("a", 10), record("b", 50)], budget_tokens=13, count_tokens=words, min_tokens=5)
    assert [r.record_id for r in fitted] == ["a"]


def test_a_zero_budget_keeps_nothing_and_bad_arguments_are_refused() -> None:
    assert fit_records([record("a", 3)], budget_tokens=0, count_tokens=words) == []
    with pytest.raises(ValueError):
        fit_records([], budget_tokens=-1, count_tokens=words)
