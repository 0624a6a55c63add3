"""Builds what an inference worker serves: registry models, the batcher, retrieval, de-identification, hot swaps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog

from agents.core import metrics
from agents.core.deid import build_deidentifier
from agents.core.settings import Settings
from agents.inference.service import GenerationJob, InferenceService, ModelRouter, Retriever, ServingModel
from models.batching import BatchLimits, BatchStats, DynamicBatcher
from models.dialog import PolicyEngine
from models.generation.generator import Generation
from schemas.inference import RegistryMessage

log = structlog.get_logger(__name__)


class DeidScrubber:
    """The ingest de-identification engine applied to prompts and answers."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._lock = threading.Lock()  # spaCy and jiagu objects are not shared across threads safely

    def scrub(self, text: str) -> tuple[str, list[str]]:
        with self._lock:
            result = self._engine.deidentify_batch([text])[0]
        return result.text, [entity.type for entity in result.entities]


def record_batch(stats: BatchStats) -> None:
    metrics.MODEL_BATCH_SIZE.labels(stats.model_version).observe(stats.batch_size)
    metrics.MODEL_QUEUE_DEPTH.set(stats.queue_depth_after)
    metrics.MODEL_QUEUED_SECONDS.labels(stats.model_version).observe(stats.oldest_queued_ms / 1000)
    if stats.run_ms > 0:
        metrics.MODEL_TOKENS_PER_SECOND.labels(stats.model_version).set(stats.batch_tokens / (stats.run_ms / 1000))


class ServedModels:
    """Loads registry versions into a ModelRouter and applies registry updates from models.registry.v1.

    A new version is loaded while the current one keeps serving, then the router swaps atomically; versions
    stay loaded so that requests already queued for them finish on the version they were routed to.
    """

    def __init__(self, settings: Settings, on_switch: Callable[[dict[str, Any]], None] | None = None) -> None:
        from models.registry import Registry

        self.settings = settings
        self.on_switch = on_switch
        self.name = settings.generator_model
        self._loaded: dict[str, ServingModel] = {}
        entry = Registry(settings.resolved_registry_dir).state().entry(self.name)
        self.router = ModelRouter(*self._load(entry.promoted, dict(entry.weights)))

    def _load(
        self, promoted: str | None, weights: dict[str, float]
    ) -> tuple[dict[str, ServingModel], dict[str, float]]:
        from models.registry import RegistryError, open_generator

        serving = {v: w for v, w in weights.items() if w > 0} or ({promoted: 1.0} if promoted else {})
        if not serving:
            raise RegistryError(f"model {self.name!r} has no promoted version: run `sluice models promote`")
        for version in serving:
            label = f"{self.name}@{version}"
            if label not in self._loaded:
                generator = open_generator(
                    self.settings.resolved_registry_dir,
                    self.name,
                    version,
                    intra_threads=self.settings.generate_threads,
                )
                self._loaded[label] = ServingModel(label, generator)
                log.info("model_loaded", model=label)
        return dict(self._loaded), {f"{self.name}@{v}": w for v, w in serving.items()}

    def on_registry_message(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        if value is None:
            return
        message = RegistryMessage.model_validate_json(value)
        if message.name != self.name or message.state is None:
            return
        before = self.router.versions()
        self.router.replace(*self._load(message.state.get("promoted"), dict(message.state.get("weights") or {})))
        after = self.router.versions()
        if after != before:  # replaying an unchanged state at start-up is not a switch
            log.info("models_switched", model=self.name, offset=offset, serving=after)
            if self.on_switch is not None:
                self.on_switch({"model": self.name, "from": before, "to": after, "registry_offset": offset})


def build_batcher(settings: Settings, router: ModelRouter) -> DynamicBatcher[GenerationJob, Generation]:
    limits = BatchLimits(
        max_batch_size=settings.max_batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
    )
    return DynamicBatcher(router.run_batch, limits, on_batch=record_batch)


def build_service(
    settings: Settings,
    router: ModelRouter,
    batcher: DynamicBatcher[GenerationJob, Generation],
    policy: Callable[[], PolicyEngine],
    retriever: Retriever | None,
) -> InferenceService:
    """The request pipeline (scrub, policy, retrieval, template, batcher) as the worker and a re-execution run it."""
    from models.dialog import load_templates

    engine = build_deidentifier(settings)
    return InferenceService(
        policy=policy,
        templates=load_templates(),
        router=router,
        batcher=batcher,
        scrubber=DeidScrubber(engine),
        digest_key=settings.digest_secret(),
        retriever=retriever,
        retrieval_k=settings.retrieval_k,
        pseudonymise_for=frozenset(settings.pseudonymise_prompts),
    )
