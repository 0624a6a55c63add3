"""The torch twin of an imported version: where import_model left it, and back after its cache was deleted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.registry import TorchTwinMissingError, import_model, torch_twin_dir
from models.registry.sources import SOURCE_MARKER


def test_an_imported_version_finds_its_twin(tiny_registry: Path) -> None:
    twin = torch_twin_dir(tiny_registry, "tiny", "int8")
    assert twin.is_relative_to(tiny_registry / "_sources")
    assert (twin / SOURCE_MARKER).is_file() and (twin / "config.json").is_file()


def test_re_importing_a_version_restores_its_deleted_twin(tiny_registry: Path, tmp_path: Path) -> None:
    # A registry of its own, holding a copy of the version but not its source cache (as after `rm -r _sources`).
    root = tmp_path / "registry"
    shutil.copytree(tiny_registry / "tiny" / "int8", root / "tiny" / "int8")
    with pytest.raises(TorchTwinMissingError) as caught:
        torch_twin_dir(root, "tiny", "int8")
    assert "sluice models import tiny-llama --name tiny --version int8 --quantization int8" in str(caught.value)

    import_model("tiny-llama", name="tiny", version="int8", quantization="int8", root=root, progress=False)
    twin = torch_twin_dir(root, "tiny", "int8")
    assert (twin / "config.json").read_bytes() == (
        torch_twin_dir(tiny_registry, "tiny", "int8") / "config.json"
    ).read_bytes()
