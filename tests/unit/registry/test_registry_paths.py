"""Registry names and paths: strict names only, directories inside the root only, files the manifest vouches for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.registry import Registry, RegistryError, import_model, open_generator
from models.registry.manifest import Manifest, write_manifest
from models.registry.names import checked_name

BAD_NAMES = ["..", "../..", "../../etc", "/tmp/x", "a/b", "", ".hidden", "_sources", "v1\n", "v 1", "v1/", "é"]
BAD_NAMES.append("x" * 129)


def _model(root: Path, name: str = "gen", version: str = "v1", **manifest: str) -> Manifest:
    model_dir = root / name / version
    model_dir.mkdir(parents=True)
    (model_dir / "model.bin").write_bytes(b"\x00" * 1000)
    (model_dir / "tokenizer.json").write_text("{}", encoding="utf-8")
    data = {
        "name": name,
        "version": version,
        "kind": "generator",
        "quantization": "int8",
        "source": {"kind": "test"},
        "created_at": "2026-01-01T00:00:00+00:00",
        **manifest,
    }
    return write_manifest(model_dir, data)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_names_are_checked_whole(bad: str) -> None:
    with pytest.raises(RegistryError, match="invalid model"):
        checked_name(bad)


@pytest.mark.parametrize("good", ["smollm2", "tiny-llama", "int8-3f9a1c2b7d", "v1.2_rc-1", "V" * 128])
def test_ordinary_names_pass(good: str) -> None:
    assert checked_name(good) == good


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_a_model_directory_is_only_ever_a_valid_name_under_the_root(tmp_path: Path, bad: str) -> None:
    registry = Registry(tmp_path / "registry")
    with pytest.raises(RegistryError):
        registry.model_dir("gen", bad)
    with pytest.raises(RegistryError):
        registry.model_dir(bad, "v1")


def test_a_version_directory_that_is_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _model(outside)  # a perfectly good-looking model, elsewhere
    root = tmp_path / "registry"
    (root / "gen").mkdir(parents=True)
    (root / "gen" / "v1").symlink_to(outside / "gen" / "v1")
    with pytest.raises(RegistryError, match="outside the registry root"):
        Registry(root).model_dir("gen", "v1")
    with pytest.raises(RegistryError, match="outside the registry root"):
        open_generator(root, "gen", "v1")


def test_a_symlink_inside_the_root_is_allowed(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    _model(root, version="v1")
    (root / "gen" / "current").symlink_to(root / "gen" / "v1")
    assert Registry(root).model_dir("gen", "current") == root / "gen" / "current"


def test_registry_state_naming_a_path_is_refused_when_read(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    state = {"format": 1, "models": {"gen": {"versions": ["v1"], "promoted": "/tmp/x", "weights": {}}}}
    (root / "registry.json").write_text(json.dumps(state))
    with pytest.raises(RegistryError, match="invalid model version '/tmp/x'"):
        Registry(root).state()


def test_a_tampered_weight_file_is_refused_at_load(tmp_path: Path) -> None:
    manifest = _model(tmp_path)
    (manifest.path / "model.bin").write_bytes(b"\x01" + b"\x00" * 999)  # same size: a size check would pass
    with pytest.raises(RegistryError, match=r"model\.bin: sha256 differs"):
        open_generator(tmp_path, "gen", "v1")


def test_a_manifest_for_another_model_is_refused_at_load(tmp_path: Path) -> None:
    _model(tmp_path, version="v1", name="gen")
    (tmp_path / "gen" / "v1").rename(tmp_path / "gen" / "v2")
    with pytest.raises(RegistryError, match="holds gen@v1, not gen@v2"):
        open_generator(tmp_path, "gen", "v2")


def test_manifest_entries_cannot_point_outside_the_model_directory(tmp_path: Path) -> None:
    manifest = _model(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    (manifest.path / "tokenizer.json").unlink()
    (manifest.path / "tokenizer.json").symlink_to(secret)
    data = json.loads((manifest.path / "manifest.json").read_text())
    data["files"]["../../secret.txt"] = {"sha256": "0" * 64, "bytes": 1}
    (manifest.path / "manifest.json").write_text(json.dumps(data))
    problems = Manifest.load(manifest.path).verify()
    assert "'../../secret.txt': not a plain file name" in problems
    assert "tokenizer.json: resolves outside the model directory" in problems


def test_import_refuses_a_bad_name_before_touching_anything(tmp_path: Path) -> None:
    for name, version in (("../x", "v1"), ("gen", "../../x"), ("gen", "/tmp/x")):
        with pytest.raises(RegistryError, match="invalid model"):
            import_model("no-such-source", name=name, version=version, root=tmp_path / "registry", progress=False)
    assert not (tmp_path / "registry").exists()
