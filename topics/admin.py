"""Creates the declared topics idempotently and reports drift; never relies on broker auto-create."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from topics.specs import ALL_TOPICS, TopicSpec


@dataclass(frozen=True)
class ApplyOutcome:
    topic: str
    action: str  # "created" | "exists" | "config-updated"
    partitions: int


def admin_client(bootstrap_servers: str, options: dict[str, str] | None = None) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers, **(options or {})})


def apply_topics(
    admin: AdminClient,
    *,
    default_partitions: int,
    replication: int,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    timeout_s: float = 30.0,
) -> list[ApplyOutcome]:
    """Create missing topics and align the config of existing ones. Safe to run any number of times."""
    wanted = list(specs)
    existing: dict[str, Any] = admin.list_topics(timeout=timeout_s).topics
    to_create = [
        NewTopic(
            topic.name,
            num_partitions=topic.partitions or default_partitions,
            replication_factor=replication,
            config=topic.config(),
        )
        for topic in wanted
        if topic.name not in existing
    ]
    outcomes: list[ApplyOutcome] = []
    if to_create:
        for name, future in admin.create_topics(to_create, operation_timeout=timeout_s).items():
            try:
                future.result()
            except KafkaException as exc:
                # Another process may have created it between list and create: that is success.
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
            created = next(t for t in to_create if t.topic == name)
            outcomes.append(ApplyOutcome(name, "created", created.num_partitions))
    present = [t for t in wanted if t.name in existing]
    if present:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name, set_config=t.config()) for t in present]
        # incremental_alter_configs would be finer-grained; alter_configs with the full declared set is the
        # simplest correct way to make the broker match the declaration.
        for resource, future in admin.alter_configs(resources).items():
            future.result()
            topic_meta = existing[resource.name]
            outcomes.append(ApplyOutcome(resource.name, "exists", len(topic_meta.partitions)))
    return sorted(outcomes, key=lambda o: o.topic)
