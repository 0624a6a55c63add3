"""The one place the Faust app is created: broker, guarantees and timeouts come from settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import faust

from agents.core import committed_reads, transactions
from agents.core.settings import Settings


def create_app(
    settings: Settings, bootstrap_servers: str, *, group_id: str | None = None, web_port: int | None = None
) -> faust.App:
    """A Faust app for Sluice; `group_id` is its consumer group. `web_port=None` runs without HTTP."""
    app = faust.App(
        group_id or settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")],
        autodiscover=False,
        store="memory://",
        # Topics are declared in topics/specs.py and created by `sluice topics apply`, never by Faust.
        topic_allow_declare=False,
        topic_disable_leader=True,
        processing_guarantee=settings.processing_guarantee,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Short group timeouts: a restarted worker gets its partitions back in seconds, not minutes.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_commit_interval=1.0,
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


SendFn = Callable[[str, bytes | None, bytes], Awaitable[None]]


def topic_sender(app: faust.App, *, delivered: bool = False) -> SendFn:
    """send(topic, key, value) over the app's producer, with one raw-bytes Faust topic object per name.

    A send returns once the message is handed to the producer, or with `delivered=True` once Kafka acknowledged
    it: for a send no input's transaction covers (an API call) whose caller acts on it having been written.
    """
    topics: dict[str, faust.TopicT] = {}

    async def send(name: str, key: bytes | None, value: bytes) -> None:
        topic = topics.get(name)
        if topic is None:
            topic = topics[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        sent = await topic.send(key=key, value=value)
        if delivered:
            await sent

    return send
