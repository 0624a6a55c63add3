"""History budgeting: newest whole exchanges first, an omitted-turns note, and a bounded stored history."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.dialog import (
    BudgetedPrompt,
    InvalidHistoryError,
    PromptTooLongError,
    SessionHistory,
    Turn,
    fit_to_budget,
    omitted_note,
)
from schemas.errors import PoisonRecordError


def words(text: str) -> int:
    """A stand-in token counter: one token per whitespace-separated word."""
    return len(text.split())


def exchange(n: int, size: int = 5) -> tuple[Turn, Turn]:
    """Exchange n: a question and an answer of `size` words each."""
    return (
        Turn("user", " ".join([f"q{n}"] * size), f"req-{n}"),
        Turn("assistant", " ".join([f"a{n}"] * size), f"req-{n}"),
    )


def history_of(count: int, size: int = 5) -> SessionHistory:
    history = SessionHistory()
    for n in range(count):
        for turn in exchange(n, size):
            history = history.append(turn)
    return history


def fit(
    history: SessionHistory,
    context_tokens: int,
    *,
    system: str = "be brief",
    message: str = "next question",
    history_tokens: int | None = None,
) -> BudgetedPrompt:
    return fit_to_budget(
        history,
        system_prompt=system,
        new_user_message=message,
        context_tokens=context_tokens,
        reserve_tokens=10,
        count_tokens=words,
        history_tokens=history_tokens,
    )


def first_words(result: BudgetedPrompt) -> list[str]:
    """The first word of each past turn sent (q<n> / a<n>)."""
    return [message["content"].split()[0] for message in result.messages[1:-1]]


def test_everything_fits_no_note_and_order_is_system_history_new_message() -> None:
    result = fit(history_of(2), context_tokens=1000)
    assert result.dropped_turns == 0
    assert [m["role"] for m in result.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert result.messages[0]["content"] == "be brief"
    assert first_words(result) == ["q0", "a0", "q1", "a1"]
    assert result.messages[-1] == {"role": "user", "content": "next question"}
    assert result.prompt_tokens == 2 + 4 * 5 + 2


def test_keeps_newest_exchanges_and_notes_the_omitted_turns() -> None:
    # Budget 40 - 10 = 30: system 2 + message 2 + note "(4 earlier turns omitted)" 4 leaves 22, room for
    # two exchanges of 10 words each, not three.
    result = fit(history_of(4), context_tokens=40)
    assert result.dropped_turns == 4
    assert result.messages[0]["content"] == "be brief\n\n" + omitted_note(4)
    assert first_words(result) == ["q2", "a2", "q3", "a3"]
    assert result.prompt_tokens == 2 + 4 + 20 + 2


def test_the_note_is_counted_in_the_budget() -> None:
    # Budget 34: three exchanges (30) + system and message (4) fit exactly, but not with the note (4 more).
    result = fit(history_of(4), context_tokens=44)
    assert result.dropped_turns == 4
    assert result.prompt_tokens == 28


def test_never_sends_half_an_exchange() -> None:
    # Every budget in the range, including those with room for an answer but not its question.
    for context_tokens in range(14, 60):
        result = fit(history_of(4), context_tokens=context_tokens)
        past = result.messages[1:-1]
        assert len(past) % 2 == 0
        assert all(q["role"] == "user" and a["role"] == "assistant" for q, a in zip(past[::2], past[1::2], strict=True))
        assert result.prompt_tokens <= context_tokens - 10
        assert result.dropped_turns == 8 - len(past)


def test_note_is_left_out_when_it_alone_does_not_fit() -> None:
    # Budget 5: system 2 + message 2 fit; the 4-word note does not, so the prompt goes without it.
    result = fit(history_of(2), context_tokens=15)
    assert result.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "next question"}]
    assert result.dropped_turns == 4


def test_unanswered_question_is_not_sent_and_counts_as_dropped() -> None:
    history = history_of(1).append(Turn("user", "a question that failed", "req-x"))
    result = fit(history, context_tokens=1000)
    assert first_words(result) == ["q0", "a0"]
    assert result.dropped_turns == 1


def test_empty_system_prompt_sends_no_system_message_unless_turns_were_dropped() -> None:
    assert fit(history_of(1), 1000, system="").messages[0]["role"] == "user"
    squeezed = fit(history_of(3), 30, system="")
    assert squeezed.dropped_turns == 4
    assert squeezed.messages[0] == {"role": "system", "content": omitted_note(4)}


def test_too_long_prompt_raises_with_the_numbers() -> None:
    message = " ".join(["word"] * 50)
    with pytest.raises(PromptTooLongError) as caught:
        fit(history_of(2), context_tokens=40, message=message)
    error = caught.value
    assert (error.prompt_tokens, error.context_tokens, error.reserve_tokens, error.budget_tokens) == (52, 40, 10, 30)
    assert "52" in str(error) and "30" in str(error)
    assert isinstance(error, PoisonRecordError)
    assert pickle.loads(pickle.dumps(error)).prompt_tokens == 52


def test_per_message_tokens_are_charged_to_every_message() -> None:
    plain = fit(history_of(1), 1000)
    charged = fit_to_budget(
        history_of(1),
        system_prompt="be brief",
        new_user_message="next question",
        context_tokens=1000,
        reserve_tokens=10,
        count_tokens=words,
        per_message_tokens=3,
    )
    assert charged.prompt_tokens == plain.prompt_tokens + 3 * len(plain.messages)


def test_history_tokens_caps_the_past_exchanges_however_large_the_context() -> None:
    # Exchanges cost 10 words each: a cap of 25 keeps the newest two, in a context with room for all six.
    capped = fit(history_of(6), context_tokens=10_000, history_tokens=25)
    assert first_words(capped) == ["q4", "a4", "q5", "a5"]
    assert capped.dropped_turns == 8
    assert capped.messages[0]["content"] == "be brief\n\n" + omitted_note(8)
    # A cap of 0 keeps no past exchange; no cap keeps them all.
    none_kept = fit(history_of(2), context_tokens=10_000, history_tokens=0)
    assert first_words(none_kept) == [] and none_kept.dropped_turns == 4
    assert fit(history_of(6), context_tokens=10_000).dropped_turns == 0


def test_invalid_budget_numbers_are_rejected() -> None:
    with pytest.raises(ValueError, match="context_tokens"):
        fit_to_budget(
            SessionHistory(),
            system_prompt="",
            new_user_message="x",
            context_tokens=0,
            reserve_tokens=0,
            count_tokens=words,
        )


def test_stored_history_keeps_at_most_max_turns() -> None:
    history = history_of(15)
    assert len(history.turns) == 20
    assert history.turns[0].content.startswith("q5")
    assert history.turns[-1].content.startswith("a14")


def test_trimmed_history_never_starts_with_a_reply() -> None:
    history = SessionHistory()
    for n in range(4):
        for turn in exchange(n):
            history = history.append(turn, max_turns=5)
    # The five newest turns would start with a1, whose question is gone: it is dropped too.
    assert [turn.content.split()[0] for turn in history.turns] == ["q2", "a2", "q3", "a3"]


def test_append_leaves_the_original_unchanged() -> None:
    original = history_of(1)
    original.append(Turn("user", "more", "req-9"))
    assert len(original.turns) == 2


def test_json_round_trip() -> None:
    history = history_of(3).append(Turn("user", '未回答的问题 \n with "quotes"', "req-中"))
    restored = SessionHistory.from_dict(json.loads(json.dumps(history.to_dict())))
    assert restored == history


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"turns": "no"},
        {"turns": [{"role": "system", "content": "x", "request_id": "r"}]},
        {"turns": [{"role": "user", "content": "x"}]},
        {"turns": [{"role": "user", "content": 3, "request_id": "r"}]},
        {"turns": [{"role": "user", "content": "x", "request_id": ""}]},
        {"turns": [], "extra": 1},
    ],
)
def test_malformed_table_value_is_an_invalid_history_error(data: object) -> None:
    with pytest.raises(InvalidHistoryError):
        SessionHistory.from_dict(data)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=12), max_size=12),
    context_tokens=st.integers(min_value=8, max_value=120),
    system=st.sampled_from(["", "be brief", "you are a careful assistant"]),
)
def test_budget_invariants_hold_for_any_history(sizes: list[int], context_tokens: int, system: str) -> None:
    turns = [
        Turn("user" if i % 2 == 0 else "assistant", " ".join(["w"] * size), f"r{i}") for i, size in enumerate(sizes)
    ]
    history = SessionHistory(tuple(turns))
    try:
        result = fit(history, context_tokens, system=system)
    except PromptTooLongError as error:
        assert error.prompt_tokens > context_tokens - 10
        return
    assert result.prompt_tokens <= context_tokens - 10
    assert result.prompt_tokens == sum(words(m["content"]) for m in result.messages)
    past = result.messages[1:-1] if result.messages[0]["role"] == "system" else result.messages[:-1]
    assert len(past) % 2 == 0
    # What is sent is the newest complete exchanges, in order.
    complete = [(turns[i], turns[i + 1]) for i in range(0, len(turns) - 1, 2)]
    kept = complete[len(complete) - len(past) // 2 :]
    assert [m["content"] for m in past] == [t.content for pair in kept for t in pair]
    assert result.dropped_turns == len(turns) - len(past)
