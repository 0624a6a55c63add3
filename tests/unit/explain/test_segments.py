"""Prompt segments: every character of the rendered prompt belongs to one part, records are found by their text."""

from __future__ import annotations

import pytest

from models.dialog import RetrievedRecord, load_templates
from models.explain import prompt_segments, token_segments
from schemas.inference import KeptRecord

RECORDS = [
    KeptRecord(record_id="crm-0042", text="Refunds are processed within 7 days.", score=0.9),
    KeptRecord(record_id="erp-0007", text="Order 7 shipped from Ningbo on 3 May.", score=0.4),
]


def chat_prompt(records: list[KeptRecord]) -> tuple[str, list[dict[str, str]]]:
    """A ChatML prompt as SmolLM2's template writes it, around the bundled chat-default system prompt."""
    system = load_templates()["chat-default"].render(
        "acme", [RetrievedRecord(r.record_id, r.text, 0.5) for r in records]
    )
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "How long do refunds take?"},
        {"role": "assistant", "content": "Seven days [crm-0042]."},
        {"role": "user", "content": "And where did order 7 ship from?"},
    ]
    prompt = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return prompt + "<|im_start|>assistant\n", messages


def texts(prompt: str, spans: tuple[tuple[int, int], ...]) -> list[str]:
    return [prompt[start:end] for start, end in spans]


def test_every_character_belongs_to_exactly_one_segment() -> None:
    prompt, messages = chat_prompt(RECORDS)
    segments = prompt_segments(prompt, messages, RECORDS)
    owners = [0] * len(prompt)
    for segment in segments:
        for start, end in segment.spans:
            for index in range(start, end):
                owners[index] += 1
    assert owners == [1] * len(prompt)
    assert [s.kind for s in segments] == ["record", "record", "system", "history", "user", "template"]


def test_each_record_covers_its_label_and_text_inside_the_system_message() -> None:
    prompt, messages = chat_prompt(RECORDS)
    segments = prompt_segments(prompt, messages, RECORDS)
    assert texts(prompt, segments[0].spans) == ["[crm-0042] Refunds are processed within 7 days."]
    assert texts(prompt, segments[1].spans) == ["[erp-0007] Order 7 shipped from Ningbo on 3 May."]
    assert [s.record_id for s in segments[:2]] == ["crm-0042", "erp-0007"]
    system = "".join(texts(prompt, segments[2].spans))
    assert "Use only the numbered records" in system and "Refunds" not in system


def test_turns_before_the_last_user_message_are_history() -> None:
    prompt, messages = chat_prompt(RECORDS)
    by_kind = {s.kind: s for s in prompt_segments(prompt, messages, RECORDS)}
    assert texts(prompt, by_kind["history"].spans) == ["How long do refunds take?", "Seven days [crm-0042]."]
    assert texts(prompt, by_kind["user"].spans) == ["And where did order 7 ship from?"]
    assert "".join(texts(prompt, by_kind["template"].spans)).count("<|im_start|>") == 5


def test_a_record_the_prompt_does_not_show_has_no_span() -> None:
    prompt, messages = chat_prompt(RECORDS[:1])
    segments = prompt_segments(prompt, messages, RECORDS)
    assert segments[0].spans and segments[1].spans == ()


def test_a_completion_prompt_is_the_user_message_alone() -> None:
    segments = prompt_segments("def add(a, b):", [{"role": "user", "content": "def add(a, b):"}], [])
    by_kind = {s.kind: s for s in segments}
    assert by_kind["user"].spans == ((0, 14),)
    assert by_kind["template"].spans == ()


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([(0, 3)], [1]),  # all template
        ([(3, 5)], [0]),  # all record
        ([(2, 5)], [0]),  # mostly record
        ([(1, 4)], [1]),  # mostly template
        ([(4, 6)], [0]),  # a tie goes to the segment listed first: content over markup
        ([(6, 6)], [1]),  # no characters: the segment at its position
    ],
)
def test_a_token_belongs_to_the_segment_holding_most_of_its_characters(
    offsets: list[tuple[int, int]], expected: list[int]
) -> None:
    from models.explain import Segment

    segments = [Segment("record", "r", ((3, 5),), "r"), Segment("template", "template", ((0, 3), (5, 8)))]
    assert token_segments(offsets, segments, 8) == expected
