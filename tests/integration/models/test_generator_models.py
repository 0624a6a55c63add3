"""The tiny Llama through import_model and open_generator: greedy determinism, batching, budgets, chat template."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.generation import CT2Generator, TextGenerator
from models.generation.generator import MIN_SHARED_PREFIX_TOKENS, shared_prefix_length, without_cut_character
from models.registry import Manifest, Registry, RegistryError, import_model, open_generator
from schemas.errors import ConfigurationError

QUESTIONS = ("What is the capital of France?", "Name a fruit.", "Explain latency in one sentence.", "Hi")


@pytest.fixture(scope="module", params=["int8", "float32"])
def generator(request: pytest.FixtureRequest, tiny_registry: Path) -> CT2Generator:
    return open_generator(tiny_registry, "tiny", str(request.param))


def _prompts(gen: CT2Generator) -> list[str]:
    return [gen.render_chat([{"role": "user", "content": q}]) for q in QUESTIONS]


def test_import_writes_manifest_registry_and_quality(tiny_registry: Path) -> None:
    int8 = Manifest.load(tiny_registry / "tiny" / "int8")
    fp32 = Manifest.load(tiny_registry / "tiny" / "float32")
    assert int8.kind == fp32.kind == "generator"
    assert int8.verify() == [] and fp32.verify() == []
    assert {"model.bin", "tokenizer.json", "config.json"} <= set(int8.files)
    assert int8.total_bytes < fp32.total_bytes
    assert int8.files["model.bin"]["bytes"] < fp32.files["model.bin"]["bytes"] / 2
    assert fp32.quality["exact_match_rate"] == 1.0
    assert 0.0 <= int8.quality["mean_token_agreement"] <= 1.0
    assert int8.data["end_tokens"] == ["<|im_end|>"]
    entry = Registry(tiny_registry).state().entry("tiny")
    assert set(entry.versions) >= {"int8", "float32"} and entry.promoted == "int8"


def test_import_is_idempotent_and_versions_are_immutable(tiny_registry: Path) -> None:
    before = Manifest.load(tiny_registry / "tiny" / "int8")
    again = import_model("tiny-llama", name="tiny", version="int8", quantization="int8", root=tiny_registry)
    assert again.created_at == before.created_at
    with pytest.raises(RegistryError, match="immutable"):
        import_model("tiny-llama", name="tiny", version="int8", quantization="float32", root=tiny_registry)


def test_import_rejects_unknown_sources_and_quantizations(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown model source"):
        import_model("gpt-17", name="x", version="v1", root=tmp_path)
    with pytest.raises(ConfigurationError, match="quantization"):
        import_model("tiny-llama", name="x", version="v1", quantization="int4", root=tmp_path)


def test_open_generator_rejects_unsupported_compute_type(tiny_registry: Path) -> None:
    with pytest.raises(ConfigurationError, match="not supported on this CPU"):
        CT2Generator(tiny_registry / "tiny" / "int8", compute_type="float16")


def test_generator_meets_the_protocol(generator: CT2Generator) -> None:
    assert isinstance(generator, TextGenerator)
    assert generator.version.startswith("tiny@")
    assert generator.max_context_tokens == 2048


def test_render_chat_uses_the_model_chat_template(generator: CT2Generator) -> None:
    text = generator.render_chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_count_tokens_matches_the_prompt_tokens_reported(generator: CT2Generator) -> None:
    prompt = generator.render_chat([{"role": "user", "content": "Hi"}])
    assert generator.count_tokens("<|im_start|>") == 1
    assert generator.count_tokens("") == 0
    [result] = generator.generate_batch([prompt], max_tokens=[2], temperature=[0.0])
    assert result.prompt_tokens == generator.count_tokens(prompt)


def test_greedy_is_deterministic_and_batch_equals_one_by_one(generator: CT2Generator) -> None:
    prompts = _prompts(generator)
    batch = generator.generate_batch(prompts, max_tokens=[12] * 4, temperature=[0.0] * 4)
    again = generator.generate_batch(prompts, max_tokens=[12] * 4, temperature=[0.0] * 4)
    singles = [generator.generate_batch([p], max_tokens=[12], temperature=[0.0])[0] for p in prompts]
    assert batch == again
    assert [g.text for g in batch] == [g.text for g in singles]


def test_max_tokens_is_respected_per_item(generator: CT2Generator) -> None:
    prompts = _prompts(generator)[:3]
    results = generator.generate_batch(prompts, max_tokens=[1, 5, 9], temperature=[0.0] * 3)
    assert [r.completion_tokens for r in results] == [1, 5, 9]  # random weights never pick <|im_end|> this early
    assert {r.finish_reason for r in results} == {"length"}
    longest = generator.generate_batch(prompts[2:], max_tokens=[9], temperature=[0.0])[0]
    shorter = generator.generate_batch(prompts[2:], max_tokens=[5], temperature=[0.0])[0]
    assert results[2].text == longest.text
    assert longest.text.startswith(shorter.text)


def test_mixed_temperatures_keep_input_order(generator: CT2Generator) -> None:
    prompts = _prompts(generator)
    budgets = [3, 4, 5, 6]
    results = generator.generate_batch(prompts, max_tokens=budgets, temperature=[0.0, 0.8, 0.0, 1.2])
    assert [r.completion_tokens for r in results] == budgets
    assert [r.prompt_tokens for r in results] == [generator.count_tokens(p) for p in prompts]
    greedy = generator.generate_batch([prompts[0], prompts[2]], max_tokens=[3, 5], temperature=[0.0, 0.0])
    assert [results[0], results[2]] == greedy


def test_generate_batch_validates_its_arguments(generator: CT2Generator) -> None:
    prompt = _prompts(generator)[0]
    assert generator.generate_batch([], max_tokens=[], temperature=[]) == []
    with pytest.raises(ValueError, match="differ in length"):
        generator.generate_batch([prompt], max_tokens=[1, 2], temperature=[0.0])
    with pytest.raises(ValueError, match="max_tokens"):
        generator.generate_batch([prompt], max_tokens=[0], temperature=[0.0])
    with pytest.raises(ValueError, match="temperature"):
        generator.generate_batch([prompt], max_tokens=[1], temperature=[-1.0])
    with pytest.raises(ValueError, match="no room"):
        generator.generate_batch(["hello " * 2100], max_tokens=[1], temperature=[0.0])


def test_max_tokens_is_clipped_to_the_context(generator: CT2Generator) -> None:
    prompt = "hello" + " hello" * 2040
    room = generator.max_context_tokens - generator.count_tokens(prompt)
    assert 0 < room < 20
    [result] = generator.generate_batch([prompt], max_tokens=[50], temperature=[0.0])
    assert result.completion_tokens == room and result.finish_reason == "length"


def test_a_shared_prefix_run_once_changes_no_output(generator: CT2Generator) -> None:
    # Prompts that open alike (chat markup, the template's instructions): the shared part runs as CTranslate2's
    # static prompt, once per batch. Greedy outputs and token counts must be exactly those of full prompts.
    system = "You are the assistant for acme. Answer briefly. Use only the records below and cite them. Records: "
    prompts = [
        generator.render_chat([{"role": "system", "content": f"{system}[r{i}] order {i} left late"}]) for i in range(5)
    ]
    assert shared_prefix_length([generator._encode([p])[0] for p in prompts]) >= MIN_SHARED_PREFIX_TOKENS
    steps: list[str] = []
    generator.share_prefix = True
    shared = generator.generate_batch(
        prompts, max_tokens=[12] * 5, temperature=[0.0] * 5, on_step=[steps.append, None, None, None, None]
    )
    generator.share_prefix = False
    try:
        whole = generator.generate_batch(prompts, max_tokens=[12] * 5, temperature=[0.0] * 5)
    finally:
        generator.share_prefix = True
    assert [(g.text, g.prompt_tokens, g.completion_tokens) for g in shared] == [
        (g.text, g.prompt_tokens, g.completion_tokens) for g in whole
    ]
    assert len(steps) == shared[0].completion_tokens  # the per-token callback still sees every token


def test_shared_prefix_length_leaves_every_prompt_a_token_and_ignores_short_prefixes() -> None:
    assert shared_prefix_length([[1] * 20 + [2], [1] * 20 + [3]]) == 20
    assert shared_prefix_length([[1] * 20, [1] * 20]) == 19  # one token of each stays outside
    assert shared_prefix_length([[1] * 10 + [2], [1] * 10 + [3]]) == 0  # below the minimum
    assert shared_prefix_length([[1] * 40]) == 0  # a batch of one shares nothing


def test_half_a_character_at_the_token_budget_is_dropped_not_sent() -> None:
    assert without_cut_character("订单已发\ufffd", "length") == "订单已发"
    assert without_cut_character("订单已发\ufffd", "stop") == "订单已发\ufffd"  # the model's own, left alone
    assert without_cut_character("done", "length") == "done"
