"""A Sluice worker process: load models once, wire the agents and the API, run Faust until stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import faust
import structlog
from confluent_kafka import Producer

from agents.app import create_app, topic_sender
from agents.audit import AuditEmitter
from agents.broker import resolve_bootstrap_servers
from agents.control import CompactedTopicWatcher
from agents.dead_letters import DeadLetterBuilder, DeadLetterWriter, StageFailure
from agents.ingest.flow import BatchRunner, IngestFlow
from agents.ingest.rules import RulePackListener
from agents.ingest.stages import DeidentifyStage, IndexStage, RuleEngineRef
from agents.logs import configure_logging
from agents.settings import Settings
from topics.specs import AUDIT_EVENTS, INGEST_DLQ, RULES, SOURCE_BY_TOPIC

log = structlog.get_logger(__name__)

Role = Literal["all", "deidentify"]


@dataclass
class ReadyFlag:
    control_caught_up: bool = False
    app_started: bool = False

    def __call__(self) -> bool:
        return self.control_caught_up and self.app_started


def source_of_topic(topic: str) -> str:
    try:
        return SOURCE_BY_TOPIC[topic]
    except KeyError:
        raise ValueError(f"topic {topic} is not an ingest source topic") from None


def build_worker(settings: Settings, *, role: Role = "all", web_port: int | None = None) -> faust.App:
    """Everything a worker needs, built once. `role="deidentify"` runs without the index (scale-out workers)."""
    from models.cleaning import RuleEngine, load_bundled_packs
    from models.deid import PresidioDeidentifier
    from models.deid.fields import DeclaredFieldAnonymizer

    bootstrap = resolve_bootstrap_servers(settings)
    ready = ReadyFlag()
    rules = RuleEngineRef(RuleEngine(load_bundled_packs()))
    key = settings.pseudonym_secret()
    deidentifier = PresidioDeidentifier(
        pseudonym_key=key, operators=settings.deid_operators, ner_enabled=settings.ner_enabled
    )
    deidentify = DeidentifyStage(
        rules=rules,
        deidentifier=deidentifier,
        fields=DeclaredFieldAnonymizer(pseudonym_key=key, operators=settings.deid_operators),
        max_message_bytes=settings.max_message_bytes,
        source_of_topic=source_of_topic,
    )
    index: IndexStage | None = None
    app = create_app(settings, bootstrap, web_port=web_port if role == "all" else None)
    send = topic_sender(app)
    builder = DeadLetterBuilder(settings.dead_letter_secret())
    runner = BatchRunner(DeadLetterWriter(builder, INGEST_DLQ.name, send), AuditEmitter(AUDIT_EVENTS.name, send))
    if role == "all":
        from agents.web import ApiServices, register_api
        from models.embedding.encoder import CT2Encoder
        from models.store import MilvusStore

        embedder = CT2Encoder(settings.resolved_embedder_dir, intra_threads=1)
        token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
        store = MilvusStore(
            settings.resolved_milvus_uri, collection=settings.milvus_collection, dim=embedder.dim, token=token
        )
        index = IndexStage(
            embedder=embedder,
            store=store,
            chunk_max_chars=settings.chunk_max_chars,
            chunk_overlap_chars=settings.chunk_overlap_chars,
            max_message_bytes=settings.max_message_bytes,
        )
        register_api(app, ApiServices(store, embedder, rules, deidentifier.version, ready))
    flow = IngestFlow(deidentify, index, runner, send, settings.batch_size, settings.batch_within_s)
    flow.register(app)

    # Rule packs: read rules.v1 to its end before the first record, then follow it.
    control_producer = Producer({**settings.kafka_options, "bootstrap.servers": bootstrap})

    def on_rule_failure(failure: StageFailure) -> None:
        letter = builder.build(failure)
        control_producer.produce(INGEST_DLQ.name, key=None, value=letter.model_dump_json().encode())
        control_producer.flush(10)

    watcher = CompactedTopicWatcher(
        bootstrap,
        RULES.name,
        RulePackListener(rules, on_rule_failure, settings.max_message_bytes),
        settings.kafka_options,
    )
    watcher.start()
    if not watcher.wait_caught_up(60):
        log.warning("rules_not_caught_up", topic=RULES.name)
    ready.control_caught_up = True

    @app.task  # type: ignore[untyped-decorator]  # faust's decorators are untyped
    async def mark_started() -> None:
        ready.app_started = True
        log.info(
            "worker_ready",
            role=role,
            bootstrap_servers=bootstrap,
            web_port=web_port,
            rule_pack_version=rules.engine.version,
            deid_version=deidentifier.version,
        )

    return app


class SluiceWorker(faust.Worker):
    """Faust's worker with Sluice's JSON logging instead of its coloured console format."""

    log_level: str = "INFO"

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        configure_logging(self.log_level)


def run_worker(settings: Settings, *, role: Role = "all", web_port: int | None = None) -> None:
    configure_logging(settings.log_level)
    app = build_worker(settings, role=role, web_port=web_port)
    worker = SluiceWorker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.log_level = settings.log_level
    worker.execute_from_commandline()
