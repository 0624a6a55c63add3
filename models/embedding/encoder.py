"""Sentence embeddings from a CTranslate2 encoder: tokenise, forward, mean-pool, L2-normalise."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from schemas.errors import ConfigurationError

# sentence-transformers trains and serves all-MiniLM-L6-v2 with max_seq_length 256; longer inputs only
# cost time and drift from the reference vectors. Chunking keeps texts well below this.
MAX_TOKENS = 256
MANIFEST_NAME = "manifest.json"
MODEL_FILE = "model.bin"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors; the seam between the streams and the model."""

    dim: int
    version: str

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return an array of shape (len(texts), dim), float32, with L2-normalised rows."""
        ...


def mean_pool_normalize(hidden: npt.NDArray[Any], lengths: Sequence[int]) -> npt.NDArray[np.float32]:
    """Mean of each sequence's first lengths[i] token vectors, scaled to unit L2 norm.

    hidden has shape (batch, max_len, dim) and is right-padded, as CTranslate2 returns ragged batches;
    padded positions must not dilute the mean, which is why the mask comes from the true lengths.
    """
    states = np.asarray(hidden, dtype=np.float32)
    if states.ndim != 3:
        raise ValueError(f"hidden states must be (batch, length, dim), got shape {states.shape}")
    batch, max_len, _ = states.shape
    if len(lengths) != batch:
        raise ValueError(f"{len(lengths)} lengths for a batch of {batch}")
    lens = np.asarray(lengths, dtype=np.int64)
    if batch and (lens.min() < 1 or lens.max() > max_len):
        raise ValueError(f"lengths must be in [1, {max_len}], got {lens.tolist()}")
    mask = (np.arange(max_len)[None, :] < lens[:, None]).astype(np.float32)
    summed = np.einsum("bld,bl->bd", states, mask)
    pooled = summed / lens[:, None].astype(np.float32)
    return l2_normalize(pooled)


def l2_normalize(vectors: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length; an all-zero row stays zero instead of becoming NaN."""
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    normalized: npt.NDArray[np.float32] = (arr / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
    return normalized


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks so large weights do not sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CT2Encoder:
    """An Embedder backed by a converted CTranslate2 encoder directory (see models.embedding.convert)."""

    def __init__(
        self,
        model_dir: Path,
        *,
        compute_type: str = "int8",
        intra_threads: int = 0,
        max_batch_size: int = 64,
    ) -> None:
        import ctranslate2
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        if not (model_dir / MODEL_FILE).is_file():
            raise ConfigurationError(
                f"embedder_dir {model_dir} holds no CTranslate2 {MODEL_FILE}; run the embedder preparation "
                "(models.embedding.convert.prepare_embedder) first"
            )
        supported = ctranslate2.get_supported_compute_types("cpu")
        if compute_type not in supported:
            raise ConfigurationError(
                f"compute_type {compute_type!r} is not supported on this CPU; supported: {sorted(supported)}"
            )
        if max_batch_size < 1:
            raise ConfigurationError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if intra_threads < 0:
            raise ConfigurationError(f"intra_threads must be >= 0, got {intra_threads}")

        self.model_dir = model_dir
        self.compute_type = compute_type
        self.max_batch_size = max_batch_size
        self._encoder = ctranslate2.Encoder(
            str(model_dir), device="cpu", compute_type=compute_type, intra_threads=intra_threads
        )
        # The `tokenizers` library reads tokenizer.json directly; going through transformers would import
        # torch and cost the index worker about 1 GB of resident memory for nothing.
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        # Rust-backed tokenizers fail with "Already borrowed" when one instance is used from two threads.
        self._tokenizer_lock = threading.Lock()

        manifest = _read_manifest(model_dir)
        self.model_name: str = str(manifest.get("model_name") or model_dir.name)
        # A BERT WordPiece encoder (MiniLM) maps most Chinese to [UNK]: hybrid search fuses it by rank instead.
        self.reads_chinese = False
        dim = manifest.get("dim")
        self.dim: int = int(dim) if isinstance(dim, int) else self._probe_dim()
        # The hash is of the weights actually loaded, not of what a manifest claims, so a version always
        # identifies the vectors it produced.
        short_sha = file_sha256(model_dir / MODEL_FILE)[:8]
        self.version: str = f"{self.model_name}@ct2-{compute_type}-{short_sha}"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts; batches larger than max_batch_size are split, output order follows input order."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = self._tokenize(texts)
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for lo in range(0, len(order), self.max_batch_size):
            idx = order[lo : lo + self.max_batch_size]
            batch = [ids[i] for i in idx]
            result = self._encoder.forward_batch(batch)
            hidden = np.asarray(result.last_hidden_state, dtype=np.float32)
            out[idx] = mean_pool_normalize(hidden, [len(seq) for seq in batch])
        return out

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        with self._tokenizer_lock:
            encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        return [list(item.ids) for item in encoded]

    def _probe_dim(self) -> int:
        result = self._encoder.forward_batch(self._tokenize(["dimension probe"]))
        return int(np.asarray(result.last_hidden_state).shape[-1])


def _read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
