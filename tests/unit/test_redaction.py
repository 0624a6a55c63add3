"""Secrets never shown: `sluice config` and log lines hide secret options, URI credentials and SecretStr values."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from agents.core.logs import configure_logging
from agents.core.redaction import MASK, is_secret_name, redact, redact_text
from agents.core.settings import load_settings


@pytest.mark.parametrize(
    "name",
    [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.pem",
        "sasl.jaas.config",
        "api_token",
        "pseudonym_key",
    ],
)
def test_secret_option_names_are_recognised(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["bootstrap.servers", "security.protocol", "sasl.username", "audit_signing_key_id", "key_sha256", "acks"]
)
def test_ordinary_option_names_and_key_ids_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://root:Milvus@milvus:19530", f"http://root:{MASK}@milvus:19530"),
        ("http://u:p@ss@host/db", f"http://u:{MASK}@host/db"),
        ("https://ghp_abcdef@example.com/x", f"https://{MASK}@example.com/x"),
        ("connect to kafka://u:p%40ss@h:9092 failed", f"connect to kafka://u:{MASK}@h:9092 failed"),
        ("http://host:19530/?db=x&token=abc123", f"http://host:19530/?db=x&token={MASK}"),
        ('PlainLoginModule required username="u" password="hunter2";', f'... username="u" password={MASK};'),
        ("mailto-like user@example.com stays", "mailto-like user@example.com stays"),
        ("http://host:19530", "http://host:19530"),
    ],
)
def test_credentials_inside_text_are_hidden_and_the_rest_kept(text: str, shown: str) -> None:
    assert redact_text(text).replace("PlainLoginModule required", "...") == shown


def test_counts_under_token_names_are_not_secrets() -> None:
    assert redact({"max_batch_tokens": 8192, "api_token": "t0k"}) == {"max_batch_tokens": 8192, "api_token": MASK}


def test_config_hides_kafka_secrets_milvus_credentials_and_audit_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka security settings live in their own fields (SLUICE_KAFKA_OPTIONS refuses them), secrets as SecretStr.
    monkeypatch.setenv("SLUICE_KAFKA_OPTIONS", json.dumps({"client.id": "sluice", "socket.keepalive.enable": "true"}))
    monkeypatch.setenv("SLUICE_KAFKA_USERNAME", "sluice")
    monkeypatch.setenv("SLUICE_KAFKA_PASSWORD", "kafka-pass-1")
    monkeypatch.setenv("SLUICE_MILVUS_URI", "http://root:milvus-pass-4@milvus.internal:19530")
    monkeypatch.setenv("SLUICE_AUDIT_HMAC_KEYS", json.dumps({"2026-11": "audit-key-5"}))
    monkeypatch.setenv("SLUICE_AUDIT_SIGNING_KEYS", json.dumps({"2026-12": "audit-signing-seed-7"}))
    monkeypatch.setenv("SLUICE_MILVUS_TOKEN", "root:milvus-token-6")
    shown = load_settings().redacted()
    text = json.dumps(shown)  # no default=str: every value is plain JSON
    secrets = ("kafka-pass-1", "milvus-pass-4", "audit-key-5", "milvus-token-6")
    for secret in (*secrets, "audit-signing-seed-7"):
        assert secret not in text
    assert shown["kafka_username"] == "sluice" and shown["kafka_options"]["client.id"] == "sluice"
    assert shown["milvus_uri"] == shown["resolved_milvus_uri"] == f"http://root:{MASK}@milvus.internal:19530"
    assert shown["audit_hmac_keys"] == {"2026-11": MASK}
    assert shown["audit_signing_keys"] == {"2026-12": MASK}
    assert shown["audit_signing_key_id"] == "local-1" and shown["max_batch_tokens"] == 16384


def test_log_lines_hide_secret_fields_and_uri_credentials() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    structlog.get_logger("test").info(
        "store_opened", uri="http://root:milvus-pass@milvus:19530", options={"sasl.password": "kafka-pass"}
    )
    structlog.get_logger("test").info("login", password="plain-pass", tokens=12)
    logging.getLogger("pymilvus").error("cannot reach http://root:lib-pass@milvus:19530")
    text = stream.getvalue()
    for secret in ("milvus-pass", "kafka-pass", "plain-pass", "lib-pass"):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    opened = next(line for line in lines if line["event"] == "store_opened")
    assert opened["uri"] == f"http://root:{MASK}@milvus:19530"
    assert opened["options"] == {"sasl.password": MASK}
    assert next(line for line in lines if line["event"] == "login")["tokens"] == 12
