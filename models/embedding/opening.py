"""Open whichever encoder a prepared embedder directory holds, as its manifest says (CTranslate2 or USE on numpy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from models.embedding.encoder import MANIFEST_NAME, CT2Encoder, Embedder
from models.embedding.use import USE_KIND, USEEncoder, prepare_use

EmbedderModel = Literal["use-multilingual", "minilm"]
EMBEDDER_MODELS: tuple[EmbedderModel, ...] = ("use-multilingual", "minilm")


def open_embedder(model_dir: Path, *, threads: int) -> Embedder:
    """The Embedder of a directory `prepare_model` (or convert.prepare_embedder) wrote; `threads` are its compute
    threads (CTranslate2 intra-op threads, or numpy's BLAS threads)."""
    manifest_path = Path(model_dir) / MANIFEST_NAME
    kind = None
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        kind = manifest.get("kind") if isinstance(manifest, dict) else None
    if kind == USE_KIND:
        return USEEncoder(Path(model_dir), threads=threads)
    # Directories written before the manifest named a kind are all CTranslate2 encoders.
    return CT2Encoder(Path(model_dir), intra_threads=threads)


def prepare_model(out_dir: Path, model: EmbedderModel, *, progress: bool = True) -> Path:
    """Make out_dir hold `model`, from its PyPI wheel (nothing fetched); idempotent."""
    if model == "use-multilingual":
        return prepare_use(out_dir)
    from models.embedding.convert import prepare_embedder

    return prepare_embedder(out_dir, progress=progress)
