"""A Sluice worker process: load models once, wire the agents and the API, run Faust until stopped.

Roles split the ingest flow across processes. De-identification is pure-Python-heavy (jiagu, Presidio)
and holds the GIL; embedding runs in CTranslate2 and needs the GIL only between batches. In one process
the two starve each other, so `sluice up` runs them as separate processes: `deidentify` workers (scale out
in their own consumer group) and one `index` worker that owns the vector store and serves the HTTP API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import faust
import structlog

from agents.core.app import SendFn, create_app, topic_sender
from agents.core.audit import AuditEmitter
from agents.core.control import CompactedTopicWatcher
from agents.core.dead_letters import (
    DeadLetterBuilder,
    DeadLetterWriter,
    StageFailure,
    dead_letter_builder,
    dead_letter_sink,
)
from agents.core.deid import build_deidentifier, build_field_anonymizer
from agents.core.forgotten import ErasureRecorder, ForgottenSubjects
from agents.core.kafka_io import TopicCatalog
from agents.core.liveness import Heartbeat, heartbeat_path, register_heartbeat
from agents.core.logs import configure_logging
from agents.core.packs import EngineRef, pack_listener
from agents.core.readiness import clear_ready, mark_ready_when_recovered
from agents.core.runner import BatchRunner
from agents.core.settings import Settings
from agents.core.stalls import StallJournal, journal_path
from agents.core.watchdog import BatchWatchdog, FaulthandlerBackstop
from agents.ingest.deidentify import DeidentifyStage, RuleEngineRef
from agents.ingest.flow import IngestFlow
from agents.ingest.index import IndexStage
from agents.processes.broker import resolve_bootstrap_servers
from schemas.errors import BrokerUnavailableError
from topics.specs import INGEST_DLQ, RULES, SUBJECTS_FORGOTTEN

if TYPE_CHECKING:
    from agents.api.review_desk import ReviewDesk

log = structlog.get_logger(__name__)

Role = Literal["all", "deidentify", "index", "inference", "audit"]
ROLES: tuple[Role, ...] = ("all", "deidentify", "index", "inference", "audit")


@dataclass
class ReadyFlag:
    """Healthy once control state is applied and the Faust app has started."""

    waiting_for: set[str] = field(default_factory=lambda: {"app"})

    def done(self, what: str) -> None:
        self.waiting_for.discard(what)

    def __call__(self) -> bool:
        return not self.waiting_for


def consumer_group(settings: Settings, role: Role) -> str:
    """One consumer group per role, so that adding deidentify workers never takes partitions from the index."""
    return settings.app_id if role == "all" else f"{settings.app_id}-{role}"


def watch_packs(
    settings: Settings,
    bootstrap: str,
    make_listener: Callable[[Callable[[StageFailure], None]], Callable[[bytes | None, bytes | None, int], None]],
    *,
    dead_letter_topic: str,
    builder: DeadLetterBuilder,
) -> CompactedTopicWatcher:
    """Follow rules.v1 from the beginning (every worker sees every pack); read it to its end before the first
    record or request, so a restarted worker never runs on stale packs. A rejected pack becomes a dead letter."""
    on_failure = dead_letter_sink(bootstrap, dead_letter_topic, builder, settings.kafka_client_config())
    watcher = CompactedTopicWatcher(bootstrap, RULES.name, make_listener(on_failure), settings.kafka_client_config())
    watcher.start()
    if not watcher.wait_caught_up(60):
        log.warning("packs_not_caught_up", topic=RULES.name)
    return watcher


def follow_forgotten(
    settings: Settings, bootstrap: str, forgotten: ForgottenSubjects, *, builder: DeadLetterBuilder
) -> CompactedTopicWatcher:
    """Follow subjects.forgotten.v1 from the beginning (every worker sees every erasure), read to its end before
    the first record: a worker that does not know who was forgotten would index them again, so it does not start.
    A message that is not a forgotten subject becomes a dead letter."""
    on_failure = dead_letter_sink(bootstrap, INGEST_DLQ.name, builder, settings.kafka_client_config())
    watcher = CompactedTopicWatcher(
        bootstrap, SUBJECTS_FORGOTTEN.name, forgotten.apply, settings.kafka_client_config(), on_failure=on_failure
    )
    watcher.start()
    if not watcher.wait_caught_up(120):
        watcher.stop()
        raise BrokerUnavailableError(f"{SUBJECTS_FORGOTTEN.name} was not read to its end within 120 s")
    log.info("forgotten_subjects_loaded", topic=SUBJECTS_FORGOTTEN.name, subjects=len(forgotten))
    return watcher


def build_deidentify_stage(
    settings: Settings, rules: RuleEngineRef, forgotten: ForgottenSubjects | None = None
) -> DeidentifyStage:
    """The de-identification stage as a worker runs it (the ingest bench measures this same stage)."""
    return DeidentifyStage(
        rules=rules,
        deidentifier=build_deidentifier(settings),
        fields=build_field_anonymizer(settings),
        max_message_bytes=settings.max_message_bytes,
        forgotten=forgotten,
    )


def build_index_stage(settings: Settings, forgotten: ForgottenSubjects | None = None) -> IndexStage:
    """The index stage as a worker runs it: the prepared encoder and the vector store from settings."""
    from models.embedding.opening import open_embedder
    from models.store import MilvusStore

    embedder = open_embedder(settings.resolved_embedder_dir, threads=settings.embed_threads)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    store = MilvusStore(
        settings.resolved_milvus_uri, collection=settings.milvus_collection, dim=embedder.dim, token=token
    )
    return IndexStage(
        embedder=embedder,
        store=store,
        chunk_max_chars=settings.chunk_max_chars,
        chunk_overlap_chars=settings.chunk_overlap_chars,
        max_message_bytes=settings.max_message_bytes,
        forgotten=forgotten,
    )


def build_worker(settings: Settings, *, role: Role = "all", web_port: int | None = None) -> faust.App:
    """Everything a worker of `role` needs, built once; its event loop touches the slot's heartbeat file."""
    bootstrap = resolve_bootstrap_servers(settings)
    if role == "inference":
        app = build_inference_worker(settings, bootstrap)
    elif role == "audit":
        app = create_app(settings, bootstrap, group_id=consumer_group(settings, role))
        register_chainer(app, settings, bootstrap, _ingest_runner(settings, topic_sender(app), role))

        @app.task  # type: ignore[untyped-decorator]  # faust's decorators are untyped
        async def chainer_ready() -> None:
            await mark_ready_when_recovered(app, settings.run_dir, settings.worker_slot, role=role)

    else:
        app = build_ingest_worker(settings, bootstrap, role=role, web_port=web_port)
    heartbeat = Heartbeat(heartbeat_path(settings.run_dir, settings.slot(role)))
    register_heartbeat(app, heartbeat, settings.heartbeat_interval_s)
    return app


def build_ingest_worker(settings: Settings, bootstrap: str, *, role: Role, web_port: int | None) -> faust.App:
    """De-identification and/or indexing (and, for role `all`, the audit chainer) in one app."""
    from models.cleaning import RuleEngine, load_bundled_packs

    ready = ReadyFlag()
    rules = RuleEngineRef(RuleEngine(load_bundled_packs()))
    # One registry per process: the de-identification and index stages of an `all` worker share it.
    forgotten = ForgottenSubjects()
    deidentify = build_deidentify_stage(settings, rules, forgotten) if role in ("all", "deidentify") else None
    index = build_index_stage(settings, forgotten) if role in ("all", "index") else None
    serves_api = index is not None and web_port is not None
    app = create_app(
        settings, bootstrap, group_id=consumer_group(settings, role), web_port=web_port if serves_api else None
    )
    send = topic_sender(app)
    builder = dead_letter_builder(settings)
    runner = _ingest_runner(settings, send, role)
    flow = IngestFlow(deidentify, index, runner, send, settings.batch_size, settings.batch_within_s)
    flow.register(app)
    if role == "all":
        register_chainer(app, settings, bootstrap, runner)
    if serves_api and index is not None:
        from agents.api.auth import build_authenticator
        from agents.api.server import ApiServices, register_api

        auth = build_authenticator(settings)
        erasures = ErasureRecorder(topic_sender(app, delivered=True), forgotten)
        register_api(
            app,
            ApiServices(
                index.store,
                index.embedder,
                ready,
                audit=runner.audit,
                auth=auth,
                erasures=erasures,
                retriever=settings.search_retriever,
                review=build_review_desk(settings, bootstrap, topic_sender(app, delivered=True)),
            ),
        )

    # Forgotten subjects: read subjects.forgotten.v1 to its end before the first record, then follow it.
    ready.waiting_for.add("forgotten")
    follow_forgotten(settings, bootstrap, forgotten, builder=builder)
    ready.done("forgotten")

    if deidentify is not None:
        ready.waiting_for.add("rules")
        # Rule packs: read rules.v1 to its end before the first record, then follow it.
        watch_packs(
            settings,
            bootstrap,
            lambda on_failure: pack_listener("cleaning", rules, on_failure, settings.max_message_bytes),
            dead_letter_topic=INGEST_DLQ.name,
            builder=builder,
        )
        ready.done("rules")

    @app.task  # type: ignore[untyped-decorator]  # faust's decorators are untyped
    async def mark_started() -> None:
        ready.done("app")
        await mark_ready_when_recovered(
            app,
            settings.run_dir,
            settings.worker_slot,
            role=role,
            group=consumer_group(settings, role),
            bootstrap_servers=bootstrap,
            web_port=web_port if serves_api else None,
            web_bind=settings.api_bind if serves_api else None,
            rule_pack_version=rules.engine.version if deidentify else None,
            deid_version=deidentify.deidentifier.version if deidentify else None,
            embedder_version=index.embedder.version if index else None,
        )

    return app


def _ingest_runner(settings: Settings, send: SendFn, role: Role) -> BatchRunner:
    """The batch runner of an ingest or audit worker: a time budget per batch, and the slot's stall journal
    (read now: a batch the previous run of this slot died in is run record by record)."""
    return BatchRunner(
        DeadLetterWriter(dead_letter_builder(settings), INGEST_DLQ.name, send),
        AuditEmitter(send),
        journal=StallJournal(journal_path(settings.run_dir, settings.slot(role))),
        watchdog=BatchWatchdog(settings.batch_time_budget_s, backstop=FaulthandlerBackstop()),
    )


def register_chainer(app: faust.App, settings: Settings, bootstrap: str, runner: BatchRunner) -> None:
    """The audit chainer: seals audit.pending.v1 into the hash chains of audit.events.v1 and signs checkpoints."""
    from agents.audit_chain.chainer import AuditChainer, KafkaChainReader

    # The one place a local signing key is generated (refused with an external cluster): the chainer signs.
    key_id, private_keys = settings.audit_signer(create_local=True)
    AuditChainer(
        runner,
        KafkaChainReader(bootstrap, settings.kafka_client_config()),
        key_id,
        private_keys,
        settings.audit_checkpoint_keys(),
        settings.audit_checkpoint_every,
        settings.audit_checkpoint_interval_s,
        settings.max_message_bytes,
        accept_legacy_tail=settings.audit_accept_legacy_tail,
    ).register(app)


def build_review_desk(settings: Settings, bootstrap: str, send: SendFn) -> ReviewDesk:
    """The review console's parts: the open queue read from review.pending.v1, decisions sent to
    review.decisions.v1 (acknowledged before the reviewer is told), explanation reports from the kept context."""
    from agents.api.review_desk import ReviewDesk, read_review_queue
    from agents.inference.serving import DeidScrubber
    from topics.specs import REVIEW_DECISIONS

    options = settings.kafka_client_config()

    async def submit(key: bytes, value: bytes) -> None:
        await send(REVIEW_DECISIONS.name, key, value)

    def explain(tenant: str, request_id: str) -> str:
        from agents.tools.explain import explain_report_html

        return explain_report_html(settings, bootstrap, tenant, request_id)

    scrubbers: list[DeidScrubber] = []

    def scrub(text: str) -> str:
        # The engine (spaCy, jiagu) loads on the first edit, not at start: most index workers never review.
        if not scrubbers:
            scrubbers.append(DeidScrubber(build_deidentifier(settings)))
        return scrubbers[0].scrub(text)[0]

    return ReviewDesk(
        load_queue=lambda: read_review_queue(bootstrap, options), submit=submit, explain=explain, scrub=scrub
    )


def build_inference_worker(settings: Settings, bootstrap: str) -> faust.App:
    """Answers requests: registry models behind the dynamic batcher, sessions in a table, hot model switches."""
    from agents.api.client import IndexApi, IndexApiRetriever
    from agents.inference.flow import InferenceFlow
    from agents.inference.reply_to import ReplyToRule
    from agents.inference.review import ReviewFlow
    from agents.inference.serving import ServedModels, build_batcher, build_service
    from agents.inference.streaming import kafka_streams
    from models.dialog import PolicyEngine, load_default_policy
    from topics.specs import INFERENCE_DLQ, INFERENCE_REQUESTS, MODELS_REGISTRY, tenant_request_topics

    loop_box: list[asyncio.AbstractEventLoop] = []

    def audit_switch(details: dict[str, Any]) -> None:
        # Called on the registry watcher's thread: hand the audit event to the app's event loop.
        if loop_box:
            event = runner.audit.emit(
                "model.switched",
                stage="inference",
                subject_id=details["model"],
                tenant=None,
                versions={"serving": ",".join(sorted(details["to"]))},
                details=details,
            )
            asyncio.run_coroutine_threadsafe(event, loop_box[0])

    served = ServedModels(settings, on_switch=audit_switch)
    batcher = build_batcher(settings, served.router)
    policy: EngineRef[PolicyEngine] = EngineRef(PolicyEngine([load_default_policy()]))
    # Retrieval runs for whichever tenant sent the request: the service credential, which names it on each call.
    retriever = (
        IndexApiRetriever(IndexApi(settings.retrieval_url, token=settings.api_service_secret(), timeout_s=5.0))
        if settings.retrieval_url
        else None
    )
    service = build_service(settings, served.router, batcher, lambda: policy.engine, retriever)
    app = create_app(
        settings,
        bootstrap,
        group_id=consumer_group(settings, "inference"),
        commit_interval_s=settings.inference_commit_interval_s,
    )
    catalog = TopicCatalog(bootstrap, settings.kafka_client_config())
    tenant_topics = tenant_request_topics(catalog.names())
    follow_tenant_topics(app, catalog, tenant_topics, settings.tenant_topics_check_s)
    send = topic_sender(app)
    runner = BatchRunner(
        DeadLetterWriter(dead_letter_builder(settings), INFERENCE_DLQ.name, send),
        AuditEmitter(send),
    )
    InferenceFlow(
        service,
        runner,
        send,
        settings.inference_take,
        settings.inference_within_s,
        settings.max_message_bytes,
        settings.topic_partitions,
        max_in_flight=settings.inference_max_in_flight,
        answered_retention_s=settings.answered_request_retention_s,
        session_retention_s=settings.session_retention_s,
        max_sessions_per_tenant=settings.max_sessions_per_tenant,
        reply_to_rule=ReplyToRule.from_patterns(settings.reply_to_patterns),
        topic_exists=catalog.exists,
        request_topics=(INFERENCE_REQUESTS.name, *tenant_topics),
        streams=kafka_streams(
            app,
            bootstrap,
            settings.kafka_client_config(),
            exactly_once=settings.processing_guarantee == "exactly_once",
        ),
    ).register(app)
    # Reviewers' decisions become final responses here, where the scrubber and the reply topics already are.
    ReviewFlow(
        runner,
        send,
        scrub=lambda text: service.scrubber.scrub(text)[0],
        digest=service.digest,
        partitions=settings.topic_partitions,
        max_message_bytes=settings.max_message_bytes,
        check_interval_s=settings.review_check_interval_s,
    ).register(app)
    registry_dead_letters = dead_letter_sink(
        bootstrap, INFERENCE_DLQ.name, dead_letter_builder(settings), settings.kafka_client_config()
    )
    watcher = CompactedTopicWatcher(
        bootstrap,
        MODELS_REGISTRY.name,
        served.on_registry_message,
        settings.kafka_client_config(),
        on_failure=registry_dead_letters,
    )
    watcher.start()
    if not watcher.wait_caught_up(120):
        log.warning("registry_not_caught_up", topic=MODELS_REGISTRY.name)
    # Policy packs arrive on rules.v1 beside the cleaning packs; a bad one is dead-lettered, the old stays.
    watch_packs(
        settings,
        bootstrap,
        lambda on_failure: pack_listener("policy", policy, on_failure, settings.max_message_bytes),
        dead_letter_topic=INFERENCE_DLQ.name,
        builder=dead_letter_builder(settings),
    )

    @app.task  # type: ignore[untyped-decorator]  # faust's decorators are untyped
    async def start_batcher() -> None:
        loop_box.append(asyncio.get_running_loop())
        await batcher.start()
        await mark_ready_when_recovered(
            app,
            settings.run_dir,
            settings.worker_slot,
            role="inference",
            group=consumer_group(settings, "inference"),
            models=sorted(served.router.versions()),
        )

    return app


def follow_tenant_topics(app: faust.App, catalog: TopicCatalog, subscribed: list[str], every_s: float) -> None:
    """Restart the inference worker when tenants' request topics come or go (`sluice tenants add`), so that it
    subscribes to exactly those. Faust 0.15 subscribes by name only (its pattern subscription does not work), and
    a restart is its one safe way to change a subscription: what was in flight is redelivered to the new worker."""
    from confluent_kafka import KafkaException

    from agents.core.restart import exit_for_restart
    from topics.specs import tenant_request_topics

    @app.timer(interval=every_s)  # type: ignore[untyped-decorator]  # faust's decorators are untyped
    async def check_tenant_topics() -> None:
        try:
            found = await asyncio.to_thread(lambda: tenant_request_topics(catalog.names(max_age_s=0)))
        except KafkaException as exc:  # the broker is away: the next check tries again
            log.warning("tenant_topics_unknown", error=str(exc.args[0]))
            return
        if found != subscribed:
            added, removed = sorted(set(found) - set(subscribed)), sorted(set(subscribed) - set(found))
            log.info("tenant_topics_changed", added=added, removed=removed)
            exit_for_restart(
                "inference", f"tenant request topics changed (+{len(added)}/-{len(removed)}): resubscribing"
            )


class SluiceWorker(faust.Worker):
    """Faust's worker with Sluice's JSON logging instead of its coloured console format."""

    log_level: str = "INFO"

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        configure_logging(self.log_level)


def run_worker(settings: Settings, *, role: Role = "all", web_port: int | None = None) -> None:
    configure_logging(settings.log_level)
    clear_ready(settings.run_dir, settings.worker_slot)  # not ready again until this run has recovered
    app = build_worker(settings, role=role, web_port=web_port)
    worker = SluiceWorker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.log_level = settings.log_level
    worker.execute_from_commandline()
