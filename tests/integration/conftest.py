"""One real KRaft broker and one real worker (tiny models, Milvus Lite) for the whole integration session."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.core.keys import create_generated_keys
from agents.core.settings import REPO_ROOT, Settings, load_settings
from agents.processes.broker import LocalBroker
from tests.integration.browser import browser  # noqa: F401  (the fixture, for every integration test)

# SLUICE_TEST_VAR lets two test sessions run side by side (each starts its own broker there).
TEST_VAR = Path(os.environ.get("SLUICE_TEST_VAR") or REPO_ROOT / "var" / "test").resolve()
TEST_MODELS = REPO_ROOT / "var" / "test-models"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tiny_embedder_dir() -> Path:
    """A tiny random-weight BERT converted through the same CTranslate2 path as the real encoder (cached)."""
    from models.embedding.convert import prepare_embedder

    return prepare_embedder(TEST_MODELS / "embedder", tiny=True, progress=False)


@pytest.fixture(scope="session")
def tiny_generator() -> str:
    """A tiny random-weight Llama imported and promoted through the real registry path (cached)."""
    from models.registry import Registry, import_model

    root = TEST_MODELS / "registry"
    manifest = import_model(
        "tiny-llama", name="tiny-llama", version="v1", quantization="int8", root=root, progress=False
    )
    registry = Registry(root)
    registry.promote("tiny-llama", manifest.version)
    registry.set_weights("tiny-llama", {manifest.version: 1.0})
    return manifest.version


@pytest.fixture(scope="session")
def settings(tiny_embedder_dir: Path, tiny_generator: str) -> Iterator[Settings]:
    """Settings of the test session, exported to the environment so that spawned workers share them."""
    for stale in ("kafka", "milvus", "run", "demo"):
        shutil.rmtree(TEST_VAR / stale, ignore_errors=True)
    env = {
        "SLUICE_VAR_DIR": str(TEST_VAR),
        "SLUICE_EMBEDDER_DIR": str(tiny_embedder_dir),
        "SLUICE_APP_ID": f"sluice-test-{uuid.uuid4().hex[:6]}",
        "SLUICE_BATCH_WITHIN_S": "0.1",
        "SLUICE_BATCH_SIZE": "16",
        "SLUICE_REGISTRY_DIR": str(TEST_MODELS / "registry"),
        "SLUICE_GENERATOR_MODEL": "tiny-llama",
        "SLUICE_MAX_WAIT_MS": "50",
        # Checkpoints every few events, so that every test run signs and verifies several.
        "SLUICE_AUDIT_CHECKPOINT_EVERY": "5",
        "SLUICE_AUDIT_CHECKPOINT_INTERVAL_S": "5",
        # Request ids are forgotten after seconds, not a week, so that a test can watch one expire.
        "SLUICE_ANSWERED_REQUEST_RETENTION_S": "15",
    }
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("SLUICE_KAFKA_BOOTSTRAP_SERVERS"):
        # An external cluster refuses generated keys; the session shares keys of its own instead (unless set).
        for variable in ("SLUICE_PSEUDONYM_KEY", "SLUICE_DEAD_LETTER_KEY", "SLUICE_API_SERVICE_TOKEN"):
            env[variable] = os.environ.get(variable) or secrets.token_hex(32)
        if not os.environ.get("SLUICE_AUDIT_SIGNING_KEYS"):
            from agents.core.audit_keys import private_key_text, public_key_text

            signing = Ed25519PrivateKey.generate()
            env["SLUICE_AUDIT_SIGNING_KEYS"] = json.dumps({"test-1": private_key_text(signing)})
            env["SLUICE_AUDIT_SIGNING_KEY_ID"] = "test-1"
            env["SLUICE_AUDIT_PUBLIC_KEYS"] = json.dumps({"test-1": public_key_text(signing)})
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = load_settings()
        # What `sluice up` does first; tests that read keys before (or without) it find them made.
        create_generated_keys(settings)
        yield settings
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def bootstrap(settings: Settings) -> Iterator[str]:
    """The project's own launcher starts the broker, unless KAFKA_BOOTSTRAP_SERVERS points at one."""
    if settings.kafka_bootstrap_servers:
        yield settings.kafka_bootstrap_servers
        return
    broker = LocalBroker(settings)
    state = broker.up()
    try:
        yield state.bootstrap_servers
    finally:
        from agents.processes import runtime

        runtime.down(settings, log=lambda *_: None)
        broker.down()


@pytest.fixture(scope="session")
def sluice_up(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """`sluice up` against the test broker: topics applied, one worker running, healthy.

    Besides what `sluice status` reports, `api_token` is the credential the session calls the worker's API with:
    the service credential `sluice up` made, which names the tenant on every call, since each test owns a tenant.
    What a tenant's own token may and may not do is pinned by test_api_auth.py.
    """
    from agents.processes import runtime

    return {**runtime.up(settings, log=lambda *_: None), "api_token": settings.api_service_secret()}


@pytest.fixture(scope="session")
def api_token(sluice_up: dict[str, Any]) -> str:
    """The session's API credential (see sluice_up)."""
    return str(sluice_up["api_token"])


@pytest.fixture()
def tenant() -> str:
    """Each test owns a tenant, so tests sharing the topics and the index never see each other's records."""
    return f"t{uuid.uuid4().hex[:10]}"


def wait_for(predicate: Callable[[], Any], timeout_s: float = 60.0, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)


def api(api_url: str, path: str, body: dict[str, Any] | None = None, *, token: str | None) -> Any:
    """The reply of one API call as JSON; an error reply is its JSON with `status` added. `token=None` sends none."""
    status, _, reply = api_call(api_url, path, body, token=token)
    return reply if status < 400 else {"status": status, **reply}


def api_call(
    api_url: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON reply) of one call with plain urllib: a POST when there is a body."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(f"{api_url}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")
