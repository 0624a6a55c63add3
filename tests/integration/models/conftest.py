"""Tiny random Llama imported through the real registry path (int8 and float32) once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.core.settings import REPO_ROOT
from models.registry import Registry, import_model

# Cached across sessions like the tiny embedder: a second run re-converts nothing.
TEST_REGISTRY = REPO_ROOT / "var" / "test-models" / "registry"


@pytest.fixture(scope="session")
def registry_root() -> Path:
    """The cached registry root of the test session."""
    return TEST_REGISTRY


@pytest.fixture(scope="session")
def tiny_registry() -> Path:
    """A registry root holding tiny@int8 and tiny@float32, both imported from the 'tiny-llama' source."""
    for quantization in ("float32", "int8"):
        import_model("tiny-llama", name="tiny", version=quantization, quantization=quantization, root=TEST_REGISTRY)
    Registry(TEST_REGISTRY).promote("tiny", "int8")
    return TEST_REGISTRY
