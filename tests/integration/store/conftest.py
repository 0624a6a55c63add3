"""Fixtures for the store and embedder integration tests: real Milvus Lite, the tiny converted encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.embedding.convert import prepare_embedder
from models.embedding.encoder import CT2Encoder
from models.store import MilvusStore
from tests.integration.store.store_rows import DIM


@pytest.fixture(scope="session")
def fresh_tiny_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random BERT, built and converted in this session through the same path as the real encoder.

    Not the cached one of tests/integration/conftest.py: these tests check what the current converter writes.
    """
    return prepare_embedder(tmp_path_factory.mktemp("models") / "embedder", tiny=True, progress=False)


@pytest.fixture(scope="session")
def tiny_encoder(fresh_tiny_embedder_dir: Path) -> CT2Encoder:
    return CT2Encoder(fresh_tiny_embedder_dir, compute_type="int8", intra_threads=1)


@pytest.fixture
def milvus_uri(tmp_path: Path) -> str:
    # A directory that does not exist yet: the store must create it.
    return str(tmp_path / "var" / "milvus" / "test.db")


@pytest.fixture
def store(milvus_uri: str) -> Iterator[MilvusStore]:
    opened = MilvusStore(milvus_uri, collection="chunks", dim=DIM)
    yield opened
    opened.close()
