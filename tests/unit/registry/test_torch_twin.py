"""The torch twin of a generator version: found where its source was built, refused with a way back when gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.embedding.encoder import file_sha256
from models.registry import RegistryError, TorchTwinMissingError, torch_twin_dir
from models.registry.manifest import write_manifest
from models.registry.sources import SOURCE_MARKER, source_cache_name, tiny_llama_descriptor


def register(root: Path, source: dict[str, object], *, kind: str = "generator", version: str = "v1") -> Path:
    """A version directory with a manifest, as import_model leaves it (the weights themselves do not matter)."""
    model_dir = root / "tiny-llama" / version
    model_dir.mkdir(parents=True)
    (model_dir / "model.bin").write_bytes(b"\x00" * 64)
    data = {
        "name": "tiny-llama",
        "version": version,
        "kind": kind,
        "quantization": "int8",
        "source": source,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    write_manifest(model_dir, data)
    return model_dir


@pytest.fixture()
def registry(tmp_path: Path, tiny_llama_twin: Path) -> Path:
    """A registry holding tiny-llama@v1 and its twin where the importer caches the tiny-llama source."""
    root = tmp_path / "registry"
    descriptor = tiny_llama_descriptor()
    register(root, descriptor)
    shutil.copytree(tiny_llama_twin, root / "_sources" / source_cache_name(descriptor) / "hf")
    return root


def test_a_version_finds_the_model_it_was_converted_from(registry: Path) -> None:
    twin = torch_twin_dir(registry, "tiny-llama", "v1")
    assert twin == registry / "_sources" / source_cache_name(tiny_llama_descriptor()) / "hf"
    config = json.loads((twin / "config.json").read_text(encoding="utf-8"))
    assert config["num_hidden_layers"] == tiny_llama_descriptor()["num_hidden_layers"]


def test_a_deleted_twin_names_the_version_and_how_to_restore_it(registry: Path) -> None:
    shutil.rmtree(registry / "_sources")
    with pytest.raises(TorchTwinMissingError) as caught:
        torch_twin_dir(registry, "tiny-llama", "v1")
    message = str(caught.value)
    assert "tiny-llama@v1" in message
    assert "sluice models import tiny-llama --name tiny-llama --version v1 --quantization int8" in message


def test_a_twin_without_weights_is_missing(registry: Path) -> None:
    twin = registry / "_sources" / source_cache_name(tiny_llama_descriptor()) / "hf"
    for weights in twin.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(TorchTwinMissingError, match="missing or incomplete"):
        torch_twin_dir(registry, "tiny-llama", "v1")


def test_a_twin_built_from_another_recipe_is_not_taken(registry: Path) -> None:
    twin = registry / "_sources" / source_cache_name(tiny_llama_descriptor()) / "hf"
    marker = json.loads((twin / SOURCE_MARKER).read_text(encoding="utf-8"))
    marker["source"] = {**marker["source"], "seed": 1}
    (twin / SOURCE_MARKER).write_text(json.dumps(marker), encoding="utf-8")
    with pytest.raises(TorchTwinMissingError):
        torch_twin_dir(registry, "tiny-llama", "v1")


def test_a_version_imported_from_a_directory_has_that_directory_as_twin(tmp_path: Path, tiny_llama_twin: Path) -> None:
    source = shutil.copytree(tiny_llama_twin, tmp_path / "my-model")
    root = tmp_path / "registry"
    register(root, {"path": str(source), "config_sha256": file_sha256(source / "config.json")})
    assert torch_twin_dir(root, "tiny-llama", "v1") == source

    (source / "config.json").write_text((source / "config.json").read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(TorchTwinMissingError, match="has changed"):
        torch_twin_dir(root, "tiny-llama", "v1")
    shutil.rmtree(source)
    with pytest.raises(TorchTwinMissingError, match="no longer holds a model"):
        torch_twin_dir(root, "tiny-llama", "v1")


def test_an_encoder_or_an_unknown_version_has_no_twin(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    register(root, {"kind": "minilm"}, kind="encoder")
    with pytest.raises(RegistryError, match="not a generator"):
        torch_twin_dir(root, "tiny-llama", "v1")
    with pytest.raises(RegistryError, match="no model tiny-llama@v2"):
        torch_twin_dir(root, "tiny-llama", "v2")
    with pytest.raises(RegistryError, match="invalid model version"):
        torch_twin_dir(root, "tiny-llama", "../v1")
