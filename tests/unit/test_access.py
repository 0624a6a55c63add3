"""The secured broker's access table: what each principal may do, and the credential files behind it."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from cryptography import x509

from agents.core.settings import load_settings
from agents.processes.access import (
    COMPLIANCE,
    WORKER_ROLES,
    Grant,
    client_group_prefix,
    compliance_grants,
    ensure_password,
    producer_grants,
    role_principals,
    tenant_grants,
    tenant_principal,
    worker_grants,
    worker_principal,
)
from agents.processes.roles import consumer_group
from agents.processes.tls import ensure_tls
from topics.specs import AUDIT_EVENTS, SOURCE_TOPICS, tenant_request_topic, tenant_response_topic

APP_ID = "sluice"


def every_grant(*tenants: str) -> list[Grant]:
    return [
        *worker_grants(APP_ID),
        *producer_grants(),
        *compliance_grants(),
        *(grant for tenant in tenants for grant in tenant_grants(tenant)),
    ]


def allows(grants: list[Grant], principal: str, resource: str, name: str, operation: str) -> bool:
    """Whether the grants let `principal` do `operation` on `name` (WRITE or READ imply DESCRIBE, as in Kafka)."""
    implied = {operation, "READ", "WRITE"} if operation == "DESCRIBE" else {operation}
    return any(
        g.principal == principal
        and g.resource == resource
        and g.operation in implied
        and (name.startswith(g.name) if g.prefixed else name == g.name)
        for g in grants
    )


def test_an_upstream_producer_writes_its_own_source_topic_and_nothing_else() -> None:
    grants = every_grant("acme")
    for source in SOURCE_TOPICS:
        principal = f"producer-{source.source}"
        assert [(g.resource, g.name, g.operation) for g in grants if g.principal == principal] == [
            ("topic", source.name, "WRITE")
        ]


def test_a_tenant_writes_only_its_request_topic_and_reads_only_its_reply_topic() -> None:
    grants = every_grant("acme", "globex")
    acme = tenant_principal("acme")
    assert allows(grants, acme, "topic", tenant_request_topic("acme").name, "WRITE")
    assert allows(grants, acme, "topic", tenant_response_topic("acme").name, "READ")
    assert not allows(grants, acme, "topic", tenant_request_topic("globex").name, "WRITE")
    assert not allows(grants, acme, "topic", tenant_response_topic("globex").name, "READ")
    assert not allows(grants, acme, "topic", tenant_response_topic("acme").name, "WRITE")
    assert not allows(grants, acme, "topic", "inference.requests.v1", "WRITE")
    assert not allows(grants, acme, "topic", "inference.responses.v1", "READ")


def test_a_tenants_consumer_groups_never_include_another_tenants() -> None:
    # With "." as separator, tenant "a" would own the groups of tenant "a.b".
    grants = every_grant("a", "a.b")
    other = client_group_prefix(tenant_principal("a.b")) + "replies"
    assert allows(grants, tenant_principal("a.b"), "group", other, "READ")
    assert not allows(grants, tenant_principal("a"), "group", other, "READ")


def test_only_the_chainer_writes_audit_events_and_compliance_only_reads_them() -> None:
    grants = every_grant("acme")
    writers = {g.principal for g in grants if allows(grants, g.principal, "topic", AUDIT_EVENTS.name, "WRITE")}
    assert writers == {worker_principal("audit")}
    topics = [(g.name, g.operation) for g in grants if g.principal == COMPLIANCE and g.resource == "topic"]
    assert topics == [(AUDIT_EVENTS.name, "READ")]


def test_each_worker_may_use_its_own_consumer_group_and_transactional_producers_only() -> None:
    grants = every_grant()
    settings = load_settings(app_id=APP_ID)
    for role in WORKER_ROLES:
        group = consumer_group(settings, role)
        assert allows(grants, worker_principal(role), "group", group, "READ")
        # Faust names transactional producers <group>-<topic group>-<partition>.
        assert allows(grants, worker_principal(role), "transactional_id", f"{group}-0-2", "WRITE")
        for other in (consumer_group(settings, r) for r in WORKER_ROLES if r != role):
            assert not allows(grants, worker_principal(role), "group", other, "READ")
            assert not allows(grants, worker_principal(role), "transactional_id", f"{other}-0-2", "WRITE")


def test_the_inference_worker_reads_every_tenants_requests_and_answers_on_their_reply_topics() -> None:
    grants = every_grant("acme")
    inference = worker_principal("inference")
    assert allows(grants, inference, "topic", tenant_request_topic("acme").name, "READ")
    assert allows(grants, inference, "topic", tenant_response_topic("acme").name, "WRITE")
    assert allows(grants, inference, "topic", f"{APP_ID}-inference-sessions-changelog", "WRITE")
    assert not allows(grants, inference, "topic", tenant_request_topic("acme").name, "WRITE")


def test_no_grant_is_a_wildcard_or_a_deny() -> None:
    for grant in every_grant("acme"):
        assert grant.name and grant.name != "*"
        binding = grant.binding()
        assert binding.principal == f"User:{grant.principal}" and binding.host == "*"
        assert binding.permission_type.name == "ALLOW"


def test_role_principals_are_one_per_worker_role_producer_and_compliance() -> None:
    assert role_principals() == [
        "worker-deidentify",
        "worker-index",
        "worker-audit",
        "worker-inference",
        "producer-erp",
        "producer-crm",
        "producer-logs",
        "compliance",
    ]


def test_a_password_is_generated_once_private_and_never_overwritten(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    assert ensure_password(settings, "tenant-acme") is True
    path = tmp_path / "secrets" / "kafka" / "tenant-acme.password"
    first = path.read_text()
    assert len(first) >= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", first)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert ensure_password(settings, "tenant-acme") is False
    assert path.read_text() == first
    assert settings.principal_password("tenant-acme").get_secret_value() == first


def test_the_local_ca_signs_a_loopback_broker_certificate_once(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path / "tls")
    assert files.ca_key.stat().st_mode & 0o777 == 0o600 and files.broker_keystore.stat().st_mode & 0o777 == 0o600
    pem = files.broker_keystore.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, what Kafka's PEM keystore reads
    chain = x509.load_pem_x509_certificates(pem)
    ca = x509.load_pem_x509_certificate(files.ca_certificate.read_bytes())
    assert chain[0].issuer == ca.subject and chain[1] == ca
    chain[0].verify_directly_issued_by(ca)
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    before = files.ca_certificate.read_bytes()
    ensure_tls(tmp_path / "tls")
    assert files.ca_certificate.read_bytes() == before
