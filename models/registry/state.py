"""registry.json: per model name its versions, the promoted (serving) version, rollback history and A/B weights."""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from models.registry.names import RegistryError, checked_name, confined

REGISTRY_FILE = "registry.json"
STATE_FORMAT = 1

__all__ = ["ModelEntry", "Registry", "RegistryError", "RegistryState"]


@dataclass(frozen=True)
class ModelEntry:
    """One model name: its registered versions (oldest first), what serves, what served before, A/B weights."""

    name: str
    versions: tuple[str, ...] = ()
    promoted: str | None = None
    history: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "versions": list(self.versions),
            "promoted": self.promoted,
            "history": list(self.history),
            "weights": dict(self.weights),
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> ModelEntry:
        """An entry from registry.json or a models.registry.v1 message; every name is checked whole, since a
        version becomes a directory a worker loads (models.registry.names)."""
        if not isinstance(data, Mapping):
            raise RegistryError(f"the entry of model {name!r} must be an object, got {type(data).__name__}")
        versions = data.get("versions") or ()
        history = data.get("history") or ()
        weights = data.get("weights") or {}
        if not isinstance(versions, list | tuple) or not isinstance(history, list | tuple):
            raise RegistryError(f"versions and history of model {name!r} must be lists")
        if not isinstance(weights, Mapping):
            raise RegistryError(f"weights of model {name!r} must be an object of version: weight")
        promoted = data.get("promoted")
        return cls(
            name=checked_name(name),
            versions=tuple(checked_name(v, "version") for v in versions),
            promoted=None if promoted is None else checked_name(promoted, "version"),
            history=tuple(checked_name(v, "version") for v in history),
            weights={checked_name(k, "version"): _weight(name, k, v) for k, v in weights.items()},
        )


@dataclass(frozen=True)
class RegistryState:
    """The whole registry; what the streaming side publishes on the compacted models.registry.v1 topic."""

    models: Mapping[str, ModelEntry] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "models": {n: e.to_dict() for n, e in sorted(self.models.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegistryState:
        if data.get("format", STATE_FORMAT) != STATE_FORMAT:
            raise RegistryError(f"registry format {data.get('format')!r} is not supported (expected {STATE_FORMAT})")
        models = dict(data.get("models") or {})
        return cls(models={str(n): ModelEntry.from_dict(str(n), e) for n, e in models.items()})

    def entry(self, name: str) -> ModelEntry:
        if name not in self.models:
            raise RegistryError(f"no model named {name!r} in the registry (known: {sorted(self.models)})")
        return self.models[name]

    def with_entry(self, entry: ModelEntry) -> RegistryState:
        return RegistryState(models={**self.models, entry.name: entry})


def _weight(name: str, version: object, value: object) -> float:
    try:
        weight = float(value)  # type: ignore[arg-type]  # anything float() refuses is reported below
    except (TypeError, ValueError):
        weight = math.nan
    if not math.isfinite(weight) or weight < 0:
        raise RegistryError(f"weight of {name}@{version} must be a finite number >= 0, got {value!r}")
    return weight


def add_version(state: RegistryState, name: str, version: str) -> RegistryState:
    """Register version under name (no-op if already there); the first version of a model is promoted."""
    checked_name(name)
    checked_name(version, "version")
    entry = state.models.get(name, ModelEntry(name=name))
    if version in entry.versions:
        return state
    entry = replace(entry, versions=(*entry.versions, version))
    if entry.promoted is None:
        # A model with nothing serving is useless to the streams; its first import serves until told otherwise.
        entry = replace(entry, promoted=version, weights={version: 1.0})
    return state.with_entry(entry)


def promote(state: RegistryState, name: str, version: str) -> RegistryState:
    """Serve version (all traffic); the version it replaces is remembered for rollback."""
    entry = state.entry(name)
    _require_version(entry, version)
    history = entry.history
    if entry.promoted is not None and entry.promoted != version:
        history = (*history, entry.promoted)
    return state.with_entry(replace(entry, promoted=version, history=history, weights={version: 1.0}))


def rollback(state: RegistryState, name: str) -> RegistryState:
    """Serve the previously promoted version again (all traffic)."""
    entry = state.entry(name)
    if not entry.history:
        raise RegistryError(f"model {name!r} has no previously promoted version to roll back to")
    previous = entry.history[-1]
    return state.with_entry(replace(entry, promoted=previous, history=entry.history[:-1], weights={previous: 1.0}))


def set_weights(state: RegistryState, name: str, weights: Mapping[str, float]) -> RegistryState:
    """Split traffic between registered versions; weights are relative (they need not sum to 1)."""
    entry = state.entry(name)
    if not weights:
        raise RegistryError(f"weights for {name!r} are empty")
    clean: dict[str, float] = {}
    for version, weight in weights.items():
        _require_version(entry, version)
        value = float(weight)
        if not math.isfinite(value) or value < 0:
            raise RegistryError(f"weight of {name}@{version} must be a finite number >= 0, got {weight!r}")
        clean[version] = value
    if sum(clean.values()) <= 0:
        raise RegistryError(f"weights for {name!r} sum to 0: no version would receive traffic")
    return state.with_entry(replace(entry, weights=clean))


def _require_version(entry: ModelEntry, version: str) -> None:
    if version not in entry.versions:
        raise RegistryError(f"model {entry.name!r} has no version {version!r} (known: {list(entry.versions)})")


class Registry:
    """A file-backed registry under root: <name>/<version>/ model directories and registry.json."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / REGISTRY_FILE

    def state(self) -> RegistryState:
        if not self.path.is_file():
            return RegistryState()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RegistryError(f"{self.path} is not valid JSON: {exc}") from exc
        return RegistryState.from_dict(data)

    def list(self) -> list[ModelEntry]:
        return [entry for _, entry in sorted(self.state().models.items())]

    def model_dir(self, name: str, version: str) -> Path:
        """<root>/<name>/<version>, for valid names only and only if it resolves inside the root."""
        return confined(self.root, checked_name(name), checked_name(version, "version"))

    def promote(self, name: str, version: str) -> RegistryState:
        return self._update(lambda s: promote(s, name, version))

    def rollback(self, name: str) -> RegistryState:
        return self._update(lambda s: rollback(s, name))

    def set_weights(self, name: str, weights: Mapping[str, float]) -> RegistryState:
        return self._update(lambda s: set_weights(s, name, weights))

    def add_version(self, name: str, version: str) -> RegistryState:
        return self._update(lambda s: add_version(s, name, version))

    def _update(self, change: Callable[[RegistryState], RegistryState]) -> RegistryState:
        with self._locked():
            new = change(self.state())
            self._save(new)
        return new

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Two operators (or an import and a promote) must not interleave their read-modify-write cycles.
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".registry.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _save(self, state: RegistryState) -> None:
        # Written beside the target then renamed, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(prefix=".registry-", suffix=".json", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state.to_dict(), handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
