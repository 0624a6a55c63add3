"""Who may do what on the secured local broker: one principal per role, its SCRAM credential, and its ACLs.

The broker denies whatever no ACL allows (`allow.everyone.if.no.acl.found=false`), so this table is the whole of
what each principal can do. Principals:

- `admin`: super user; what the `sluice` CLI connects as (topics, credentials, ACLs, demo, tools);
- `worker-<role>` for deidentify, index, audit, inference: `sluice up` starts each worker as its role's;
- `producer-<source>` for erp, crm, logs: an upstream system, which may write its own source topic only;
- `tenant-<tenant>`: a client of one tenant, which may write inference.requests.<tenant>.v1 and read
  inference.responses.<tenant>.v1 only (agents/inference/binding.py relies on that);
- `compliance`: may read audit.events.v1 only.

Passwords are generated once per principal (O_EXCL, 0600) under var/secrets/kafka/<principal>.password and are
only ever read from there, never printed. ACLs are created idempotently; nothing here deletes an ACL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, cast

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from agents.core.kafka_io import READER_GROUP_PREFIX
from agents.core.settings import LOCAL_ADMIN, Settings
from agents.processes.tls import write_private
from schemas.errors import ConfigurationError
from schemas.records import TENANT_RULE, is_valid_tenant
from topics.admin import ApplyOutcome, apply_topics
from topics.specs import (
    AUDIT_EVENTS,
    AUDIT_PENDING,
    INFERENCE_CONTEXT,
    INFERENCE_DLQ,
    INFERENCE_STREAMS,
    INGEST_DLQ,
    MODELS_REGISTRY,
    RECORDS_DEIDENTIFIED,
    RECORDS_INDEXED,
    REVIEW_DECISIONS,
    REVIEW_PENDING,
    RULES,
    SOURCE_TOPICS,
    TENANT_REQUESTS_PREFIX,
    TENANT_RESPONSES_PREFIX,
    table_changelog,
    tenant_of_request_topic,
    tenant_request_topic,
    tenant_response_topic,
)

ADMIN = LOCAL_ADMIN
# The KRaft controller listener's own user (SASL/PLAIN, known only to the broker's config): never a client.
CONTROLLER = "controller"
COMPLIANCE = "compliance"
WORKER_ROLES = ("deidentify", "index", "audit", "inference")
SCRAM_ITERATIONS = 8192
# A client's own consumer groups start with "<principal>:". No principal name holds ":", so one tenant's prefix is
# never the start of another's (with "." it would be: tenant "a" and tenant "a.b").
GROUP_SEPARATOR = ":"

Resource = Literal["topic", "group", "transactional_id"]
Operation = Literal["READ", "WRITE", "DESCRIBE"]
_RESOURCE_TYPES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
}


def worker_principal(role: str) -> str:
    return f"worker-{role}"


def producer_principal(source: str) -> str:
    return f"producer-{source}"


def tenant_principal(tenant: str) -> str:
    return f"tenant-{tenant}"


def client_group_prefix(principal: str) -> str:
    """Consumer groups a client principal may use: `<principal>:anything`."""
    return f"{principal}{GROUP_SEPARATOR}"


@dataclass(frozen=True)
class Grant:
    """One ALLOW ACL: `principal` may `operation` the `resource` named `name` (or every one starting with it)."""

    principal: str
    resource: Resource
    name: str
    operation: Operation
    prefixed: bool = False

    def binding(self) -> AclBinding:
        return AclBinding(
            _RESOURCE_TYPES[self.resource],
            self.name,
            ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL,
            f"User:{self.principal}",
            "*",
            getattr(AclOperation, self.operation),
            AclPermissionType.ALLOW,
        )

    def describe(self) -> str:
        pattern = f"{self.name}*" if self.prefixed else self.name
        return f"{self.principal:<22} {self.operation:<8} {self.resource:<16} {pattern}"


def _topics(principal: str, operation: Operation, names: Iterable[str]) -> list[Grant]:
    return [Grant(principal, "topic", name, operation) for name in names]


def worker_grants(app_id: str) -> list[Grant]:
    """What each worker role reads and writes. A worker's consumer group is `<app_id>-<role>` (roles.consumer_group)
    and Faust names its transactional producers `<group>-<topic group>-<partition>`."""
    from agents.inference.flow import INFERENCE_TABLES

    dead_letters_and_audit = (AUDIT_PENDING.name,)  # every role's runner emits audit drafts, dead letters too
    reads: dict[str, list[str]] = {
        "deidentify": [*(t.name for t in SOURCE_TOPICS), RULES.name],
        # The review console (served by the index worker's API) reads the open queue and the kept context.
        "index": [RECORDS_DEIDENTIFIED.name, REVIEW_PENDING.name, INFERENCE_CONTEXT.name],
        # The chainer reads the tail of audit.events.v1 to continue each chain.
        "audit": [AUDIT_PENDING.name, AUDIT_EVENTS.name],
        "inference": [
            MODELS_REGISTRY.name,
            RULES.name,
            REVIEW_PENDING.name,
            REVIEW_DECISIONS.name,
            INFERENCE_STREAMS.name,
        ],
    }
    writes: dict[str, list[str]] = {
        "deidentify": [RECORDS_DEIDENTIFIED.name, INGEST_DLQ.name, *dead_letters_and_audit],
        "index": [RECORDS_INDEXED.name, INGEST_DLQ.name, REVIEW_DECISIONS.name, *dead_letters_and_audit],
        # The one writer of audit.events.v1; it also sends itself checkpoint ticks on audit.pending.v1.
        "audit": [AUDIT_EVENTS.name, INGEST_DLQ.name, *dead_letters_and_audit],
        # Review ticks go to review.decisions.v1; the review agent tombstones decided items on review.pending.v1.
        "inference": [
            REVIEW_PENDING.name,
            REVIEW_DECISIONS.name,
            INFERENCE_CONTEXT.name,
            INFERENCE_DLQ.name,
            # Streamed answers' state: written with each partial, read back by a restarted worker.
            INFERENCE_STREAMS.name,
            *dead_letters_and_audit,
        ],
    }
    grants: list[Grant] = []
    for role in WORKER_ROLES:
        principal, group = worker_principal(role), f"{app_id}-{role}"
        grants += _topics(principal, "READ", reads[role])
        grants += _topics(principal, "WRITE", writes[role])
        grants += [
            Grant(principal, "group", group, "READ"),
            Grant(principal, "transactional_id", f"{group}-", "WRITE", prefixed=True),
            Grant(principal, "group", READER_GROUP_PREFIX, "DESCRIBE", prefixed=True),
        ]
    inference = worker_principal("inference")
    changelogs = [table_changelog(f"{app_id}-inference", table).name for table in INFERENCE_TABLES]
    grants += _topics(inference, "READ", changelogs) + _topics(inference, "WRITE", changelogs)
    # The shared request topic and every tenant's; every response topic (reply_to and the tenants' own).
    grants += [
        Grant(inference, "topic", TENANT_REQUESTS_PREFIX, "READ", prefixed=True),
        Grant(inference, "topic", TENANT_RESPONSES_PREFIX, "WRITE", prefixed=True),
    ]
    return grants


def producer_grants() -> list[Grant]:
    """An upstream system writes its own source topic and nothing else."""
    return [Grant(producer_principal(t.source or t.name), "topic", t.name, "WRITE") for t in SOURCE_TOPICS]


def compliance_grants() -> list[Grant]:
    return [
        Grant(COMPLIANCE, "topic", AUDIT_EVENTS.name, "READ"),
        Grant(COMPLIANCE, "group", client_group_prefix(COMPLIANCE), "READ", prefixed=True),
        # `sluice audit verify|replay` run as compliance read with Sluice's throwaway reader groups.
        Grant(COMPLIANCE, "group", READER_GROUP_PREFIX, "DESCRIBE", prefixed=True),
    ]


def tenant_grants(tenant: str) -> list[Grant]:
    """A tenant writes its request topic and reads its reply topic, with consumer groups of its own."""
    principal = tenant_principal(tenant)
    return [
        Grant(principal, "topic", tenant_request_topic(tenant).name, "WRITE"),
        Grant(principal, "topic", tenant_response_topic(tenant).name, "READ"),
        Grant(principal, "group", client_group_prefix(principal), "READ", prefixed=True),
    ]


def role_principals() -> list[str]:
    """The principals `sluice up --secure` makes: workers, upstream producers, the compliance reader."""
    return [
        *(worker_principal(role) for role in WORKER_ROLES),
        *(producer_principal(t.source or t.name) for t in SOURCE_TOPICS),
        COMPLIANCE,
    ]


# --- credentials ---------------------------------------------------------------------------------------------------
def ensure_password(settings: Settings, principal: str) -> bool:
    """Generate `principal`'s password once (O_EXCL, 0600); True when it was made now."""
    directory = settings.kafka_credentials_dir
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    try:
        write_private(directory / f"{principal}.password", secrets.token_urlsafe(32).encode())
    except FileExistsError:
        return False
    return True


def ensure_principals(settings: Settings, admin: AdminClient, principals: Sequence[str]) -> list[str]:
    """Give each principal a SCRAM-SHA-512 credential on the broker unless it has one already; returns those set.

    A principal whose password file was made just now gets its credential set even if the broker has one (an older
    password file was removed), so the file and the broker always agree.
    """
    made_now = {p for p in principals if ensure_password(settings, p)}
    try:
        # With no user named, the client answers with one future for every user's description.
        every_user = cast("Future[dict[str, Any]]", admin.describe_user_scram_credentials())
        known = set(every_user.result(timeout=30))
    except KafkaException as exc:
        if "RESOURCE_NOT_FOUND" not in str(exc):  # no SCRAM users at all
            raise
        known = set()
    wanted = [p for p in principals if p in made_now or p not in known]
    if not wanted:
        return []
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            principal,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            settings.principal_password(principal).get_secret_value().encode(),
        )
        for principal in wanted
    ]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(timeout=30)
    return wanted


def apply_grants(admin: AdminClient, grants: Sequence[Grant]) -> None:
    """Create the ACLs (an existing one is left as it is)."""
    if not grants:
        return
    for future in admin.create_acls([grant.binding() for grant in grants], request_timeout=30).values():
        future.result()


# --- what `sluice up --secure` and `sluice tenants` do ---------------------------------------------------------------
def tenants_on(admin: AdminClient) -> list[str]:
    """Tenants with a request topic on the cluster (the cluster is the register of tenants)."""
    topics = admin.list_topics(timeout=30).topics
    return sorted(tenant for name in topics if (tenant := tenant_of_request_topic(name)) is not None)


def provision(settings: Settings, admin: AdminClient) -> list[str]:
    """Role principals and every ACL: roles, upstream producers, compliance and each tenant already added.

    Idempotent; `sluice up --secure` runs it each time, so ACLs deleted by hand come back. Returns the principals
    whose credential was set now."""
    made = ensure_principals(settings, admin, role_principals())
    grants = [*worker_grants(settings.app_id), *producer_grants(), *compliance_grants()]
    for tenant in tenants_on(admin):
        grants += tenant_grants(tenant)
    apply_grants(admin, grants)
    return made


@dataclass(frozen=True)
class TenantAccess:
    tenant: str
    principal: str
    password_file: str
    request_topic: str
    response_topic: str
    group_prefix: str
    topics: list[ApplyOutcome]


def add_tenant(settings: Settings, admin: AdminClient, tenant: str) -> TenantAccess:
    """The tenant's principal, its two topics and their ACLs; running it again changes nothing."""
    if not is_valid_tenant(tenant):
        raise ConfigurationError(f"tenant {tenant!r} is not valid: {TENANT_RULE}")
    principal = tenant_principal(tenant)
    ensure_principals(settings, admin, [principal])
    request, response = tenant_request_topic(tenant), tenant_response_topic(tenant)
    outcomes = apply_topics(
        admin,
        default_partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        specs=[request, response],
    )
    apply_grants(admin, tenant_grants(tenant))
    return TenantAccess(
        tenant=tenant,
        principal=principal,
        password_file=str(settings.kafka_credentials_dir / f"{principal}.password"),
        request_topic=request.name,
        response_topic=response.name,
        group_prefix=client_group_prefix(principal),
        topics=outcomes,
    )
