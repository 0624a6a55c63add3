"""File-backed model registry: import and convert models, record manifests, promote, roll back and weigh versions."""

from __future__ import annotations

from models.registry.importer import QUALITY_PROMPTS, QUANTIZATIONS, import_model, open_generator
from models.registry.manifest import Manifest
from models.registry.sources import build_tiny_llama_source, find_smollm2_gguf
from models.registry.state import ModelEntry, Registry, RegistryError, RegistryState
from models.registry.twin import TorchTwinMissingError, torch_twin_dir

DEFAULT_ROOT_NAME = "var/models/registry"

__all__ = [
    "DEFAULT_ROOT_NAME",
    "QUALITY_PROMPTS",
    "QUANTIZATIONS",
    "Manifest",
    "ModelEntry",
    "Registry",
    "RegistryError",
    "RegistryState",
    "TorchTwinMissingError",
    "build_tiny_llama_source",
    "find_smollm2_gguf",
    "import_model",
    "open_generator",
    "torch_twin_dir",
]
