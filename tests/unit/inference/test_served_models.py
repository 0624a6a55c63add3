"""ServedModels: registry messages are checked before anything is opened; idle versions are unloaded, oldest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.core.settings import Settings, load_settings
from agents.inference.serving import ServedModels
from models.registry import Registry, RegistryError
from tests.unit.inference.test_service import FakeGenerator


def registry_with(root: Path, *versions: str) -> None:
    registry = Registry(root)
    for version in versions:
        registry.add_version("gen", version)


def settings_for(tmp_path: Path, *, max_idle: int = 2) -> Settings:
    return load_settings(
        var_dir=tmp_path, registry_dir=tmp_path / "registry", generator_model="gen", max_idle_model_versions=max_idle
    )


class Opener:
    """The fake registry: every version opened, in order; no files involved."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def __call__(self, version: str) -> FakeGenerator:
        self.opened.append(version)
        return FakeGenerator(f"gen@{version}")


def message(promoted: str | None, weights: dict[str, float] | None = None, name: str = "gen", **extra: Any) -> bytes:
    state = {"versions": [promoted] if promoted else [], "promoted": promoted, "weights": weights or {}, **extra}
    return json.dumps({"name": name, "state": state}).encode()


@pytest.fixture()
def served(tmp_path: Path) -> tuple[ServedModels, Opener]:
    registry_with(tmp_path / "registry", "v1")
    opener = Opener()
    return ServedModels(settings_for(tmp_path), open_version=opener), opener


def test_versions_beyond_the_idle_allowance_are_unloaded_least_recently_routed_first(
    served: tuple[ServedModels, Opener],
) -> None:
    models, opener = served
    for offset, version in enumerate(["v2", "v3", "v4"]):
        models.on_registry_message(b"gen", message(version, {version: 1.0}), offset)
    # v4 routed, v3 and v2 the two most recently routed idle ones; v1 dropped.
    assert models.loaded() == ["gen@v2", "gen@v3", "gen@v4"]
    assert set(models.router.versions()) == {"gen@v4"}
    with pytest.raises(LookupError, match="no longer loaded"):
        models.router.model("gen@v1")
    # Rolling back to a version still loaded opens nothing; to an unloaded one, opens it again.
    models.on_registry_message(b"gen", message("v3", {"v3": 1.0}), 3)
    assert opener.opened == ["v1", "v2", "v3", "v4"]
    models.on_registry_message(b"gen", message("v1", {"v1": 1.0}), 4)
    assert opener.opened[-1] == "v1" and models.loaded() == ["gen@v4", "gen@v3", "gen@v1"]


def test_every_routed_version_stays_loaded_whatever_the_allowance(tmp_path: Path) -> None:
    registry_with(tmp_path / "registry", "v1")
    models = ServedModels(settings_for(tmp_path, max_idle=0), open_version=Opener())
    models.on_registry_message(b"gen", message("v2", {"v2": 0.5, "v3": 0.5}), 0)
    assert models.loaded() == ["gen@v2", "gen@v3"]  # v1 is idle and the allowance is 0
    models.on_registry_message(b"gen", message("v3", {"v3": 1.0}), 1)
    assert models.loaded() == ["gen@v3"]


@pytest.mark.parametrize(
    "bad",
    [
        message("../../tmp/x", {"../../tmp/x": 1.0}),
        message("/tmp/x"),
        message("v2", {"/etc": 1.0}),
        message("v2", {"v2": float("inf")}),
        message("v2\n", {"v2\n": 1.0}),
        message("v2", history=[".."]),
        message("v1", name="../../gen"),
        message("v1", name="/tmp"),
        json.dumps({"name": "gen", "state": {"weights": ["v2"]}}).encode(),
    ],
)
def test_a_registry_message_with_a_bad_name_is_refused_before_anything_is_opened(
    served: tuple[ServedModels, Opener], bad: bytes
) -> None:
    models, opener = served
    with pytest.raises(RegistryError):  # the watcher turns it into a dead letter
        models.on_registry_message(b"gen", bad, 7)
    assert opener.opened == ["v1"] and set(models.router.versions()) == {"gen@v1"}


def test_a_bad_message_for_another_model_is_refused_too(served: tuple[ServedModels, Opener]) -> None:
    models, _ = served
    with pytest.raises(RegistryError):
        models.on_registry_message(b"other", message("../x", name="other"), 0)
    models.on_registry_message(b"other", message("v9", name="other"), 1)  # a valid one is simply not ours


def test_a_configured_generator_model_that_is_a_path_is_refused(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path, registry_dir=tmp_path / "registry", generator_model="../gen")
    with pytest.raises(RegistryError, match="invalid model name"):
        ServedModels(settings, open_version=Opener())
