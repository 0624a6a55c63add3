"""The multilingual USE encoder from its wheel: prepared once, opened by its manifest, a translation lands close."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.embedding.opening import open_embedder, prepare_model
from models.embedding.use import USE_DIM, USEEncoder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def use_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_model(tmp_path_factory.mktemp("models") / "embedder", "use-multilingual")


def test_the_directory_is_opened_as_use_and_gives_unit_vectors(use_dir: Path) -> None:
    encoder = open_embedder(use_dir, threads=1)
    assert isinstance(encoder, USEEncoder)
    vectors = encoder.embed(["客户投诉物流太慢", "an invoice was paid", ""])
    assert vectors.shape == (3, USE_DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    assert encoder.version.startswith("use-multilingual-v3@numpy-")


def test_a_translation_is_closer_than_another_topic_in_the_same_language(use_dir: Path) -> None:
    encoder = open_embedder(use_dir, threads=1)
    zh, en, other = encoder.embed(
        ["客户投诉物流太慢", "The customer complained that delivery was too slow", "发票已经开具"]
    )
    assert float(zh @ en) > float(zh @ other) + 0.2


def test_batches_keep_input_order(use_dir: Path) -> None:
    texts = [f"订单 {i} 已发货" for i in range(7)]
    whole = USEEncoder(use_dir, max_batch_size=64).embed(texts)
    split = USEEncoder(use_dir, max_batch_size=3).embed(texts)
    assert np.allclose(whole, split, atol=1e-5)


def test_prepare_is_idempotent_and_the_manifest_names_the_kind(use_dir: Path) -> None:
    before = (use_dir / "weights.npz").stat().st_mtime_ns
    assert prepare_model(use_dir, "use-multilingual") == use_dir
    assert (use_dir / "weights.npz").stat().st_mtime_ns == before
    manifest = json.loads((use_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "use-numpy" and manifest["dim"] == USE_DIM
    assert set(manifest["files"]) == {"weights.npz", "sp.model"}
