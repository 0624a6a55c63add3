"""Registry state transitions, weights validation, serialisation and manifest checksums."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.registry.manifest import Manifest, write_manifest
from models.registry.state import (
    ModelEntry,
    Registry,
    RegistryError,
    RegistryState,
    add_version,
    promote,
    rollback,
    set_weights,
)


def _state(*versions: str) -> RegistryState:
    state = RegistryState()
    for version in versions:
        state = add_version(state, "gen", version)
    return state


def test_first_version_is_promoted_and_later_ones_are_not() -> None:
    state = _state("v1", "v2")
    entry = state.entry("gen")
    assert entry.versions == ("v1", "v2")
    assert entry.promoted == "v1"
    assert dict(entry.weights) == {"v1": 1.0}
    assert add_version(state, "gen", "v2") == state


def test_promote_then_rollback_restores_the_previous_promoted_version() -> None:
    state = promote(_state("v1", "v2", "v3"), "gen", "v2")
    state = promote(state, "gen", "v3")
    assert state.entry("gen").history == ("v1", "v2")
    state = rollback(state, "gen")
    assert state.entry("gen").promoted == "v2"
    assert dict(state.entry("gen").weights) == {"v2": 1.0}
    state = rollback(state, "gen")
    assert state.entry("gen").promoted == "v1"
    with pytest.raises(RegistryError, match="no previously promoted version"):
        rollback(state, "gen")


def test_promoting_the_serving_version_again_adds_no_history() -> None:
    state = promote(_state("v1"), "gen", "v1")
    assert state.entry("gen").history == ()


def test_promote_unknown_version_or_model_is_an_error() -> None:
    with pytest.raises(RegistryError, match="no version 'v9'"):
        promote(_state("v1"), "gen", "v9")
    with pytest.raises(RegistryError, match="no model named 'other'"):
        promote(_state("v1"), "other", "v1")


def test_set_weights_accepts_an_ab_split() -> None:
    state = set_weights(_state("v1", "v2"), "gen", {"v1": 0.9, "v2": 0.1})
    assert dict(state.entry("gen").weights) == {"v1": 0.9, "v2": 0.1}
    assert state.entry("gen").promoted == "v1"


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"v9": 1.0}, "no version 'v9'"),
        ({"v1": -0.5, "v2": 1.0}, "finite number >= 0"),
        ({"v1": float("nan")}, "finite number >= 0"),
        ({"v1": 0.0, "v2": 0.0}, "sum to 0"),
        ({}, "empty"),
    ],
)
def test_set_weights_rejects_bad_weights(weights: dict[str, float], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        set_weights(_state("v1", "v2"), "gen", weights)


def test_state_round_trips_through_json() -> None:
    state = set_weights(promote(_state("v1", "v2"), "gen", "v2"), "gen", {"v1": 1, "v2": 3})
    state = add_version(state, "enc", "int8")
    text = json.dumps(state.to_dict())
    assert RegistryState.from_dict(json.loads(text)) == state


def test_unknown_state_format_is_rejected() -> None:
    with pytest.raises(RegistryError, match="format"):
        RegistryState.from_dict({"format": 99, "models": {}})


def test_file_registry_persists_every_change(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    assert registry.list() == []
    registry.add_version("gen", "v1")
    registry.add_version("gen", "v2")
    registry.promote("gen", "v2")
    registry.set_weights("gen", {"v1": 1, "v2": 1})
    reopened = Registry(tmp_path)
    assert reopened.list() == [
        ModelEntry(name="gen", versions=("v1", "v2"), promoted="v2", history=("v1",), weights={"v1": 1.0, "v2": 1.0})
    ]
    assert reopened.rollback("gen").entry("gen").promoted == "v1"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".registry-")] == []


def _write_model(tmp_path: Path) -> Manifest:
    model_dir = tmp_path / "gen" / "v1"
    model_dir.mkdir(parents=True)
    (model_dir / "model.bin").write_bytes(b"\x00" * 1000)
    (model_dir / "tokenizer.json").write_text("{}", encoding="utf-8")
    return write_manifest(
        model_dir,
        {
            "name": "gen",
            "version": "v1",
            "kind": "generator",
            "quantization": "int8",
            "source": {"kind": "test"},
            "created_at": "2026-01-01T00:00:00+00:00",
            "quality": {},
        },
    )


def test_manifest_records_every_file_and_verifies(tmp_path: Path) -> None:
    manifest = _write_model(tmp_path)
    assert sorted(manifest.files) == ["model.bin", "tokenizer.json"]
    assert manifest.total_bytes == 1002
    assert manifest.verify() == []


def test_manifest_verify_detects_a_modified_file(tmp_path: Path) -> None:
    manifest = _write_model(tmp_path)
    (manifest.path / "model.bin").write_bytes(b"\x01" + b"\x00" * 999)  # same size, different content
    assert manifest.verify(full=False) == []
    assert manifest.verify() == ["model.bin: sha256 differs from the manifest"]
    (manifest.path / "tokenizer.json").unlink()
    assert "tokenizer.json: missing" in manifest.verify()


def test_manifest_load_names_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="unreadable model manifest"):
        Manifest.load(tmp_path)
