"""Attention of answer tokens on the prompt: aggregated as documented, from the tiny random Llama twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from models.dialog import RetrievedRecord, load_templates
from models.explain import AttentionExplanation, AttentionModel
from models.explain.attention import concentration, prompt_weights
from schemas.inference import KeptRecord

RECORDS = [
    KeptRecord(record_id="crm-0042", text="Refunds are processed within 7 days.", score=0.9),
    KeptRecord(record_id="erp-0007", text="Order 7 shipped from Ningbo on 3 May.", score=0.4),
]
ANSWER = "Refunds take 7 days [crm-0042]."


def chat_messages(records: Sequence[KeptRecord] = RECORDS) -> list[dict[str, str]]:
    system = load_templates()["chat-default"].render(
        "acme", [RetrievedRecord(r.record_id, r.text, 0.5) for r in records]
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "How long do refunds take?"},
    ]


@pytest.fixture(scope="module")
def model(tiny_llama_twin: Path) -> AttentionModel:
    return AttentionModel(tiny_llama_twin, threads=1)


@pytest.fixture(scope="module")
def explained(model: AttentionModel) -> AttentionExplanation:
    return model.explain(task="chat", messages=chat_messages(), records=RECORDS, answer=ANSWER)


def test_each_answer_token_shares_its_prompt_attention_out_in_full(explained: AttentionExplanation) -> None:
    assert "".join(t.text for t in explained.answer_tokens) == ANSWER
    for token in explained.answer_tokens:
        assert sum(token.segment_weights) == pytest.approx(1.0, abs=1e-6)
        assert all(w >= 0 for w in token.segment_weights)
        assert 0.0 < token.prompt_share <= 1.0
        assert 0.0 <= token.concentration <= 1.0
    matrix = explained.segment_matrix
    assert len(matrix) == len(explained.segments)
    assert all(len(row) == len(explained.answer_tokens) for row in matrix)


def test_top_tokens_are_the_heaviest_first_and_never_the_sink(explained: AttentionExplanation) -> None:
    for token in explained.answer_tokens:
        weights = [t.weight for t in token.top]
        assert len(token.top) == 5
        assert weights == sorted(weights, reverse=True)
        assert all(t.position != 0 for t in token.top)
        assert all(explained.prompt_tokens[t.position].text == t.text for t in token.top)


def test_record_segments_cover_the_record_tokens(explained: AttentionExplanation) -> None:
    assert [r.record_id for r in explained.records] == ["crm-0042", "erp-0007"]
    for number, record in enumerate(RECORDS):
        tokens = "".join(t.text for t in explained.prompt_tokens if t.segment == number)
        assert tokens.strip() == f"[{record.record_id}] {record.text}"
        assert explained.records[number].tokens > 0
        assert 0.0 < explained.records[number].mass < 1.0


def test_the_prompt_is_what_the_generator_renders(tiny_llama_twin: Path, explained: AttentionExplanation) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama_twin), local_files_only=True)
    expected = tokenizer.apply_chat_template(chat_messages(), tokenize=False, add_generation_prompt=True)
    assert explained.prompt == expected
    assert explained.bounds.prompt_tokens == len(tokenizer(expected, add_special_tokens=False)["input_ids"])


def test_chunks_over_the_cached_prompt_equal_one_pass_over_everything(
    model: AttentionModel, explained: AttentionExplanation, tiny_llama_twin: Path
) -> None:
    """The chunked run against the plain one: a single forward pass, output_attentions=True, aggregated by hand."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    chunked = model.explain(task="chat", messages=chat_messages(), records=RECORDS, answer=ANSWER, chunk_tokens=3)
    reference = AutoModelForCausalLM.from_pretrained(str(tiny_llama_twin), attn_implementation="eager").eval()
    tokenizer = Tokenizer.from_file(str(tiny_llama_twin / "tokenizer.json"))
    prompt_ids = tokenizer.encode(explained.prompt, add_special_tokens=False).ids
    ids = prompt_ids + tokenizer.encode(ANSWER, add_special_tokens=False).ids
    with torch.no_grad():
        attentions = reference(input_ids=torch.tensor([ids]), output_attentions=True).attentions
    mean = torch.stack([a[0] for a in attentions]).mean(dim=(0, 1)).double().numpy()
    rows = mean[len(prompt_ids) :, 1 : len(prompt_ids)]
    rows = rows / rows.sum(axis=1, keepdims=True)
    for index, (one, other) in enumerate(zip(explained.answer_tokens, chunked.answer_tokens, strict=True)):
        assert one.segment_weights == pytest.approx(other.segment_weights, abs=1e-6)
        assert [t.weight for t in one.top] == pytest.approx(sorted(rows[index], reverse=True)[:5], abs=1e-6)


def test_long_answers_are_cut_and_the_cut_is_recorded(model: AttentionModel) -> None:
    cut = model.explain(task="chat", messages=chat_messages(), records=RECORDS, answer=ANSWER, max_answer_tokens=3)
    assert len(cut.answer_tokens) == 3
    assert cut.bounds.answer_tokens > 3 and cut.bounds.answer_tokens_kept == 3


def test_a_completion_is_explained_against_the_bare_prompt(model: AttentionModel) -> None:
    messages: list[Mapping[str, str]] = [{"role": "user", "content": "def add(a, b):"}]
    done = model.explain(task="complete", messages=messages, records=[], answer="\n    return a + b")
    assert done.prompt == "def add(a, b):"
    user = next(i for i, s in enumerate(done.segments) if s.kind == "user")
    assert all(t.segment_weights[user] == pytest.approx(1.0) for t in done.answer_tokens)


def test_torch_threads_are_given_back(model: AttentionModel) -> None:
    import torch

    before = torch.get_num_threads()
    model.explain(task="chat", messages=chat_messages(), records=RECORDS, answer="Yes.")
    assert torch.get_num_threads() == before


def test_an_empty_answer_is_refused(model: AttentionModel) -> None:
    with pytest.raises(ValueError, match="no answer"):
        model.explain(task="chat", messages=chat_messages(), records=RECORDS, answer="")


def test_prompt_weights_drop_the_sink_and_renormalise() -> None:
    # Two answer tokens over a 3-token prompt + 2 answer positions.
    mean = np.array([[0.5, 0.1, 0.3, 0.1, 0.0], [0.6, 0.2, 0.0, 0.1, 0.1]])
    weights, share = prompt_weights(mean, prompt_len=3)
    assert weights[:, 0].tolist() == [0.0, 0.0]
    assert weights.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert weights[0].tolist() == pytest.approx([0.0, 0.25, 0.75])
    assert share.tolist() == pytest.approx([0.4 / 0.5, 0.2 / 0.4])


def test_concentration_runs_from_uniform_to_one_token() -> None:
    assert concentration(np.array([0.0, 0.25, 0.25, 0.25, 0.25]), 4) == pytest.approx(0.0)
    assert concentration(np.array([0.0, 1.0, 0.0, 0.0, 0.0]), 4) == pytest.approx(1.0)
    assert 0.0 < concentration(np.array([0.0, 0.7, 0.1, 0.1, 0.1]), 4) < 1.0
