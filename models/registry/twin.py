"""The torch twin of a generator version: the Hugging Face directory its CTranslate2 model was converted from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.embedding.encoder import file_sha256
from models.registry.importer import SOURCES_DIR
from models.registry.manifest import Manifest
from models.registry.names import RegistryError
from models.registry.sources import SMOLLM2_PACKAGE, TINY_LLAMA_NAME, is_built_source, source_cache_name
from models.registry.state import Registry

HF_SUBDIR = "hf"
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


class TorchTwinMissingError(RegistryError):
    """A generator version's torch twin is gone (cache deleted, source directory moved or changed)."""


def torch_twin_dir(root: Path, name: str, version: str) -> Path:
    """The Hugging Face directory name@version was converted from, complete and matching its manifest's source.

    smollm2 and tiny-llama versions find it under <root>/_sources/<source>/hf; a version imported from a local
    directory finds that directory, if its config.json still has the sha256 the manifest recorded. Anything else is
    a TorchTwinMissingError that says how to restore it.
    """
    root = Path(root)
    model_dir = Registry(root).model_dir(name, version)
    if not model_dir.is_dir():
        raise RegistryError(f"no model {name}@{version} under {root}")
    try:
        manifest = Manifest.load(model_dir)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    if manifest.kind != "generator":
        raise RegistryError(f"{name}@{version} is a {manifest.kind}, not a generator: it has no torch twin")
    source = manifest.source
    if "path" in source:
        return _imported_directory(name, version, source)
    twin = root / SOURCES_DIR / source_cache_name(source) / HF_SUBDIR
    if not (is_built_source(twin, source) and _has_weights(twin)):
        raise TorchTwinMissingError(
            f"the torch twin of {name}@{version} is missing or incomplete at {twin} (source {source}); restore it "
            f"by re-importing the version: {_reimport_command(name, version, manifest)}"
        )
    return twin


def _imported_directory(name: str, version: str, source: dict[str, Any]) -> Path:
    # Nothing was copied at import: the directory the operator named is the twin, and only it can restore it.
    twin = Path(str(source["path"]))
    config = twin / "config.json"
    if not (config.is_file() and _has_weights(twin)):
        raise TorchTwinMissingError(
            f"the torch twin of {name}@{version} is missing: it was imported from {twin}, which no longer holds a "
            "model (config.json and weights); put that directory back, or import a new version from where it is now"
        )
    if file_sha256(config) != source.get("config_sha256"):
        raise TorchTwinMissingError(
            f"the torch twin of {name}@{version} has changed: {config} differs from the one imported (sha256); put "
            "the original back, or import a new version from the changed directory"
        )
    return twin


def _has_weights(directory: Path) -> bool:
    return (directory / "config.json").is_file() and any(any(directory.glob(pattern)) for pattern in WEIGHT_PATTERNS)


def _reimport_command(name: str, version: str, manifest: Manifest) -> str:
    source = manifest.source
    if source.get("package") == SMOLLM2_PACKAGE:
        what = "smollm2"
    elif source.get("kind") == TINY_LLAMA_NAME:
        what = "tiny-llama"
    else:
        what = "<the original source>"
    return f"`sluice models import {what} --name {name} --version {version} --quantization {manifest.quantization}`"
