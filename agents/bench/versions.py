"""The SmolLM2 versions the inference benches measure: imported once, promoted, and switched while the worker runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agents.core.kafka_io import produce_all
from agents.core.settings import Settings
from agents.demo.inference_client import InferenceClient
from schemas.errors import SluiceError
from topics.specs import MODELS_REGISTRY

SWITCH_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Versions:
    name: str
    int8: str
    float32: str


def ensure_models(settings: Settings) -> Versions:
    """Import SmolLM2 int8 and float32 when missing (idempotent), and make int8 the promoted version."""
    from models.registry import Registry, import_model

    name = settings.generator_model
    if name != "smollm2":
        raise SluiceError(
            f"the inference bench measures SmolLM2: settings.generator_model must be 'smollm2', not {name!r}"
        )
    root = settings.resolved_registry_dir
    print(f"== models: {name} int8 and float32 in {root} (imported once, then cached) ==", flush=True)
    int8 = import_model("smollm2", name=name, version=None, quantization="int8", root=root).version
    float32 = import_model("smollm2", name=name, version=None, quantization="float32", root=root).version
    registry = Registry(root)
    if registry.state().entry(name).promoted != int8:
        registry.promote(name, int8)
        print(f"  promoted {name}@{int8}", flush=True)
    return Versions(name, int8, float32)


def model_bytes(settings: Settings, versions: Versions) -> dict[str, int]:
    from models.registry import Manifest, Registry

    registry = Registry(settings.resolved_registry_dir)
    return {
        "int8": Manifest.load(registry.model_dir(versions.name, versions.int8)).total_bytes,
        "float32": Manifest.load(registry.model_dir(versions.name, versions.float32)).total_bytes,
    }


def publish_registry(settings: Settings, bootstrap: str, name: str) -> None:
    """What `sluice models promote` does after saving: the model's registry state on models.registry.v1."""
    from models.registry import Registry
    from schemas.inference import RegistryMessage

    entry = Registry(settings.resolved_registry_dir).state().entry(name)
    message = RegistryMessage(name=name, state=entry.to_dict())
    produce_all(
        bootstrap,
        [(MODELS_REGISTRY.name, name.encode(), message.model_dump_json().encode())],
        options=settings.kafka_client_config(),
    )


def switch_to(
    settings: Settings, bootstrap: str, client: InferenceClient, name: str, version: str, probe: Callable[[], str]
) -> float:
    """Promote version, publish it, and wait until the worker answers with it; returns the seconds it took."""
    from models.registry import Registry

    registry = Registry(settings.resolved_registry_dir)
    entry = registry.state().entry(name)
    if entry.promoted == version:
        pass  # published again below: the worker may not have seen it yet
    elif entry.history and entry.history[-1] == version:
        registry.rollback(name)  # back to what served before: keeps the registry's history as it was
    else:
        registry.promote(name, version)
    publish_registry(settings, bootstrap, name)
    wanted = f"{name}@{version}"
    started = time.monotonic()
    deadline = started + SWITCH_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SluiceError(f"the inference worker still does not answer with {wanted} after {SWITCH_TIMEOUT_S:.0f}s")
        _, body = client.ask_one(probe(), "Is the blender in stock?", remaining, max_tokens=1)
        if body.get("model") == wanted:
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)
