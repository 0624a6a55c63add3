"""One secured broker (SASL/SCRAM-SHA-512 over TLS, ACLs) and `sluice up --secure` on it, for the security tests.

It lives in a var directory of its own and its fixtures are scoped to this package, so the plain-mode session
(tests/integration/conftest.py) is untouched: its broker, its settings and its environment are the same whether
these tests run or not.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.core.settings import Settings, load_settings
from agents.processes.broker import LocalBroker
from tests.integration.conftest import TEST_MODELS, TEST_VAR

SECURE_VAR = TEST_VAR.with_name(f"{TEST_VAR.name}-secure")
TENANTS = ("acme", "globex")


@dataclass(frozen=True)
class SecuredSluice:
    settings: Settings
    bootstrap: str
    status: dict[str, Any]

    def options(self, principal: str, password: str | None = None) -> dict[str, str]:
        """librdkafka options of a client that logs in as `principal` (with its generated password unless given)."""
        settings = load_settings(
            var_dir=self.settings.var_dir, secure=True, kafka_username=principal, kafka_password=password
        )
        return {**settings.kafka_client_config(), "bootstrap.servers": self.bootstrap}


@pytest.fixture(scope="package")
def secure_settings(tiny_embedder_dir: Path, tiny_generator: str) -> Iterator[Settings]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("SLUICE_KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("secure mode secures the local broker; KAFKA_BOOTSTRAP_SERVERS points elsewhere")
    for stale in ("kafka", "milvus", "run", "secrets"):
        shutil.rmtree(SECURE_VAR / stale, ignore_errors=True)
    env = {
        "SLUICE_SECURE": "true",
        "SLUICE_VAR_DIR": str(SECURE_VAR),
        "SLUICE_EMBEDDER_DIR": str(tiny_embedder_dir),
        "SLUICE_APP_ID": f"sluice-sec-{uuid.uuid4().hex[:6]}",
        "SLUICE_BATCH_WITHIN_S": "0.1",
        "SLUICE_BATCH_SIZE": "16",
        "SLUICE_REGISTRY_DIR": str(TEST_MODELS / "registry"),
        "SLUICE_GENERATOR_MODEL": "tiny-llama",
        "SLUICE_MAX_WAIT_MS": "50",
        # Pattern recognizers are enough here; NER would only slow the workers' start on a shared machine.
        "SLUICE_NER_ENABLED": "false",
        "SLUICE_TENANT_TOPICS_CHECK_S": "3",
        # Signed checkpoints every few events and soon after the chain goes quiet, as in the plain session.
        "SLUICE_AUDIT_CHECKPOINT_EVERY": "5",
        "SLUICE_AUDIT_CHECKPOINT_INTERVAL_S": "5",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield load_settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="package")
def secured(secure_settings: Settings) -> Iterator[SecuredSluice]:
    """The secured broker with tenants acme and globex, then `sluice up --secure`: every worker as its role."""
    from agents.processes import runtime
    from agents.processes.access import add_tenant
    from topics.admin import admin_client

    broker = LocalBroker(secure_settings)
    state = broker.up()
    try:
        admin = admin_client(state.bootstrap_servers, secure_settings.kafka_client_config())
        for tenant in TENANTS:
            add_tenant(secure_settings, admin, tenant)
        status = runtime.up(secure_settings, log=lambda *_: None)
        yield SecuredSluice(secure_settings, state.bootstrap_servers, status)
    finally:
        runtime.down(secure_settings, log=lambda *_: None)
        broker.down()
