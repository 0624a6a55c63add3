"""Builds what an inference worker serves: registry models, the batcher, retrieval, de-identification, hot swaps."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from agents.core import metrics
from agents.core.deid import build_deidentifier
from agents.core.settings import Settings
from agents.inference.service import GenerationJob, InferenceService, ModelRouter, Retriever, ServingModel
from models.batching import BatchLimits, BatchStats, DynamicBatcher
from models.dialog import PolicyEngine
from models.generation.generator import Generation, TextGenerator
from schemas.inference import RegistryMessage

if TYPE_CHECKING:
    from models.registry import ModelEntry

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
    # One line per generate_batch call: what a slow answer waited for (batch shape, time in the queue, run time).
    log.info(
        "batch_ran",
        model=stats.model_version,
        batch_id=stats.batch_id,
        size=stats.batch_size,
        padded_tokens=stats.batch_tokens,
        oldest_queued_ms=round(stats.oldest_queued_ms, 1),
        run_ms=round(stats.run_ms, 1),
        queue_depth_after=stats.queue_depth_after,
        failed=stats.failed,
    )


class ServedModels:
    """Loads registry versions into a ModelRouter and applies registry updates from models.registry.v1.

    A new version is loaded while the current one keeps serving, then the router swaps atomically. Versions no
    longer routed stay loaded for a while, so that requests already queued for them finish on the version they
    were routed to and a rollback is instant: the `max_idle_model_versions` most recently routed of them stay,
    older ones are unloaded (their generator dropped), so a worker that sees many switches does not run out of
    memory. Every name in a registry message is checked (models.registry.names) before anything is opened; a
    message that fails is raised, and the watcher turns it into a dead letter.
    """

    def __init__(
        self,
        settings: Settings,
        on_switch: Callable[[dict[str, Any]], None] | None = None,
        *,
        open_version: Callable[[str], TextGenerator] | None = None,
    ) -> None:
        from models.registry import Registry
        from models.registry.names import checked_name

        self.settings = settings
        self.on_switch = on_switch
        self.name = checked_name(settings.generator_model)
        self.max_idle = settings.max_idle_model_versions
        self._open_version = open_version or self._open_from_registry
        # name@version → model, least recently routed first (routed ones move to the end on every update).
        self._loaded: OrderedDict[str, ServingModel] = OrderedDict()
        entry = Registry(settings.resolved_registry_dir).state().entry(self.name)
        self.router = ModelRouter(*self._load(entry))

    def loaded(self) -> list[str]:
        """The loaded versions (name@version), least recently routed first."""
        return list(self._loaded)

    def _open_from_registry(self, version: str) -> TextGenerator:
        from models.registry import open_generator

        return open_generator(
            self.settings.resolved_registry_dir, self.name, version, intra_threads=self.settings.generate_threads
        )

    def _load(self, entry: ModelEntry) -> tuple[dict[str, ServingModel], dict[str, float]]:
        from models.registry import RegistryError

        serving = {v: w for v, w in entry.weights.items() if w > 0} or ({entry.promoted: 1.0} if entry.promoted else {})
        if not serving:
            raise RegistryError(f"model {self.name!r} has no promoted version: run `sluice models promote`")
        routed = [f"{self.name}@{version}" for version in serving]
        for version, label in zip(serving, routed, strict=True):
            if label not in self._loaded:
                self._loaded[label] = ServingModel(label, self._open_version(version))
                log.info("model_loaded", model=label)
        for label in routed:
            self._loaded.move_to_end(label)
        self._unload_idle(set(routed))
        return dict(self._loaded), {f"{self.name}@{v}": w for v, w in serving.items()}

    def _unload_idle(self, routed: set[str]) -> None:
        idle = [label for label in self._loaded if label not in routed]  # least recently routed first
        for label in idle[: max(0, len(idle) - self.max_idle)]:
            # Dropping the last reference frees the generator; a batch running on it holds its own until done.
            del self._loaded[label]
            log.info("model_unloaded", model=label, kept_idle=self.max_idle)

    def on_registry_message(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        from models.registry import ModelEntry
        from models.registry.names import checked_name

        if value is None:
            return
        message = RegistryMessage.model_validate_json(value)
        # Checked for every model, not only ours: a message naming `../..` is an attack or a bug either way.
        checked_name(message.name)
        if message.state is None:
            return
        entry = ModelEntry.from_dict(message.name, message.state)
        if message.name != self.name:
            return
        before = self.router.versions()
        self.router.replace(*self._load(entry))
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
        max_length_ratio=settings.max_length_ratio,
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
    from agents.inference.long_input import LongInputLimits
    from models.codegen import RunLimits
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
        review_deadline_s=settings.review_deadline_s,
        keep_context=settings.keep_request_context,
        context_tokens=settings.context_tokens or None,
        history_tokens=settings.history_tokens,
        alias_pseudonyms=settings.prompt_aliases,
        code_limits=RunLimits(
            cpu_seconds=settings.code_cpu_seconds,
            wall_seconds=settings.code_wall_seconds,
            memory_mb=settings.code_memory_mb,
        ),
        code_max_attempts=settings.code_max_attempts,
        code_failure_action=settings.code_failure_action,
        long_inputs=LongInputLimits(
            max_input_tokens=settings.max_input_tokens,
            window_tokens=settings.long_input_window_tokens,
            overlap_tokens=settings.long_input_overlap_tokens,
        ),
    )
