"""The one place the Faust app is created: broker, guarantees and timeouts come from settings."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import faust
from faust.types.auth import CredentialsT

from agents.core import committed_reads, transactions
from agents.core.settings import KafkaSecurity, Settings
from topics.specs import TOPIC_MAX_MESSAGE_BYTES


def create_app(
    settings: Settings,
    bootstrap_servers: str,
    *,
    group_id: str | None = None,
    web_port: int | None = None,
    commit_interval_s: float = 1.0,
) -> faust.App:
    """A Faust app for Sluice; `group_id` is its consumer group. `web_port=None` runs without HTTP.

    Outputs become visible to read_committed readers when their input commits, at most every `commit_interval_s`:
    a throughput stage commits every second, the inference worker (a client waits for each answer) more often."""
    faust_dir = settings.var_dir / "faust"
    faust_dir.mkdir(parents=True, exist_ok=True)  # Faust makes its data directory, but not the folders above it
    app = faust.App(
        group_id or settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")],
        # The same principal and trust as the process's confluent-kafka clients (settings.kafka_security()).
        broker_credentials=broker_credentials(settings.kafka_security()),
        autodiscover=False,
        store="memory://",
        # Faust makes "{id}-data" in the working directory even with in-memory tables; keep it under var/.
        datadir=str(faust_dir / "{conf.name}-data"),
        # Topics are declared in topics/specs.py and created by `sluice topics apply`, never by Faust.
        topic_allow_declare=False,
        topic_disable_leader=True,
        processing_guarantee=settings.processing_guarantee,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Outputs up to the topics' limit (a long document's kept context, a de-identified 32K-token record).
        producer_max_request_size=TOPIC_MAX_MESSAGE_BYTES,
        # Short group timeouts: a restarted worker gets its partitions back in seconds, not minutes.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_commit_interval=commit_interval_s,
        web_enabled=web_port is not None,
        web_host="127.0.0.1",
        web_bind=settings.api_bind,  # loopback unless configured; agents/api/auth.py guards what is served
        web_port=web_port or 6066,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_router_enabled=False,
        web_tables_enabled=False,
        web_metrics_enabled=False,
        logging_config=None,
        # Table recovery that ends at a changelog's trailing transaction marker in either guarantee.
        TableManager=committed_reads.MarkerAwareTableManager,
    )
    committed_reads.install(app)
    if settings.processing_guarantee == "exactly_once":
        transactions.install(app)
    return app


def broker_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """Faust's (aiokafka's) form of the process's Kafka security: SASL with TLS, SASL alone, TLS alone, or none."""
    context = ssl.create_default_context(cafile=security.ca_location) if security.uses_tls else None
    if security.uses_sasl:
        assert security.username is not None and security.password is not None, "kafka_security() checks both"
        return faust.SASLCredentials(
            username=security.username,
            password=security.password.get_secret_value(),
            mechanism=security.mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


# value None is a tombstone (compacted topics).
SendFn = Callable[[str, bytes | None, bytes | None], Awaitable[None]]


def topic_sender(app: faust.App, *, delivered: bool = False) -> SendFn:
    """send(topic, key, value) over the app's producer, with one raw-bytes Faust topic object per name.

    A send returns once the message is handed to the producer, or with `delivered=True` once Kafka acknowledged
    it: for a send no input's transaction covers (an API call) whose caller acts on it having been written.
    """
    topics: dict[str, faust.TopicT] = {}

    async def send(name: str, key: bytes | None, value: bytes | None) -> None:
        topic = topics.get(name)
        if topic is None:
            topic = topics[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        sent = await topic.send(key=key, value=value)
        if delivered:
            await sent

    return send
