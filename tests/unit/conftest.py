"""Unit-test fixtures shared across folders: the tiny random Llama that stands in for a torch twin."""

from __future__ import annotations

from pathlib import Path

import pytest

TEST_MODELS = Path(__file__).resolve().parents[2] / "var" / "test-models"


@pytest.fixture(scope="session")
def tiny_llama_twin() -> Path:
    """A tiny random-weight Llama directory (SmolLM2's tokenizer and chat template), built once and cached."""
    from models.registry import build_tiny_llama_source

    return build_tiny_llama_source(TEST_MODELS / "tiny-llama-twin")
