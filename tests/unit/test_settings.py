"""Settings: one object from the environment, clear errors naming the setting, secrets hidden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.core.keys import create_generated_keys
from agents.core.settings import load_settings
from schemas.errors import ConfigurationError


def test_kafka_bootstrap_servers_is_read_without_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    assert load_settings().kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"


def test_bad_value_fails_with_the_setting_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_BATCH_SIZE", "lots")
    with pytest.raises(ConfigurationError, match="SLUICE_BATCH_SIZE"):
        load_settings()


def test_unknown_operator_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_DEID_OPERATORS", json.dumps({"PERSON": "shred"}))
    with pytest.raises(ConfigurationError, match="SLUICE_DEID_OPERATORS"):
        load_settings()


def test_default_operators_keep_public_places_and_replace_addresses_and_unvetted_locations() -> None:
    from models.deid.entity_types import ENTITY_TYPES
    from models.deid.operators import validate_operators

    operators = load_settings().deid_operators
    assert (operators["PLACE"], operators["ADDRESS"], operators["LOCATION"]) == ("keep", "replace", "replace")
    assert operators["PERSON"] == "pseudonym"
    validate_operators(operators, ENTITY_TYPES)  # every default names a type the engine knows


def test_keep_is_an_operator_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_DEID_OPERATORS", json.dumps({"LOCATION": "keep", "PERSON": "replace"}))
    assert load_settings().deid_operators == {"LOCATION": "keep", "PERSON": "replace"}


def test_redacted_view_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_PSEUDONYM_KEY", "super-secret-value")
    shown = json.dumps(load_settings().redacted())
    assert "super-secret-value" not in shown
    assert '"pseudonym_key": "**********"' in shown


def test_generated_keys_are_created_once_and_private(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    created = create_generated_keys(settings)
    assert sorted(p.name for p in created) == [
        "api-service.token",
        "dlq.key",
        "pseudonym.key",
    ]
    first = settings.pseudonym_secret()
    assert create_generated_keys(settings) == created and first == load_settings(var_dir=tmp_path).pseudonym_secret()
    assert all(path.stat().st_mode & 0o077 == 0 for path in created)
    assert len(settings.dead_letter_secret()) == 32


def test_dead_letter_key_must_be_256_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_DEAD_LETTER_KEY", "abcd")
    with pytest.raises(ConfigurationError, match="SLUICE_DEAD_LETTER_KEY"):
        load_settings().dead_letter_secret()


def test_reply_to_patterns_are_read_as_a_json_list_and_each_must_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().reply_to_patterns == [r"^inference\.responses\.[A-Za-z0-9_.-]+$"]
    monkeypatch.setenv("SLUICE_REPLY_TO_PATTERNS", json.dumps([r"^chat\.answers\.v[0-9]+$"]))
    assert load_settings().reply_to_patterns == [r"^chat\.answers\.v[0-9]+$"]
    monkeypatch.setenv("SLUICE_REPLY_TO_PATTERNS", json.dumps(["inference.responses.(unclosed"]))
    with pytest.raises(ConfigurationError, match=r"SLUICE_REPLY_TO_PATTERNS: .*not a regular expression"):
        load_settings()


def test_the_session_cap_per_tenant_is_a_positive_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().max_sessions_per_tenant == 10_000
    monkeypatch.setenv("SLUICE_MAX_SESSIONS_PER_TENANT", "0")
    with pytest.raises(ConfigurationError, match="SLUICE_MAX_SESSIONS_PER_TENANT"):
        load_settings()


def test_a_heartbeat_timeout_shorter_than_three_beats_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_HEARTBEAT_INTERVAL_S", "10")
    monkeypatch.setenv("SLUICE_HEARTBEAT_TIMEOUT_S", "20")
    with pytest.raises(ConfigurationError, match="SLUICE_HEARTBEAT_TIMEOUT_S"):
        load_settings()


def test_the_worker_slot_names_run_files_and_defaults_to_the_role(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().slot("deidentify") == "deidentify"
    monkeypatch.setenv("SLUICE_WORKER_SLOT", "deidentify-2")
    assert load_settings().slot("deidentify") == "deidentify-2"
    monkeypatch.setenv("SLUICE_WORKER_SLOT", "../etc")
    with pytest.raises(ConfigurationError, match="SLUICE_WORKER_SLOT"):
        load_settings()


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0", "::", "::1", "10.0.0.5", "sluice-index.internal"])
def test_the_api_bind_address_takes_addresses_and_host_names(monkeypatch: pytest.MonkeyPatch, bind: str) -> None:
    monkeypatch.setenv("SLUICE_API_BIND", bind)
    assert load_settings().api_bind == bind


def test_the_api_binds_to_loopback_by_default() -> None:
    assert load_settings().api_bind == "127.0.0.1"


@pytest.mark.parametrize("bind", ["http://0.0.0.0", "0.0.0.0:6066", "", "a b"])
def test_a_bind_address_with_scheme_or_port_fails_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, bind: str
) -> None:
    monkeypatch.setenv("SLUICE_API_BIND", bind)
    with pytest.raises(ConfigurationError, match="SLUICE_API_BIND"):
        load_settings()


def test_a_short_service_token_fails_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_API_SERVICE_TOKEN", "too-short")
    with pytest.raises(ConfigurationError, match="SLUICE_API_SERVICE_TOKEN"):
        load_settings()


def test_the_service_token_is_generated_once_and_private_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="SLUICE_API_SERVICE_TOKEN"):  # only `sluice up` creates it
        load_settings(var_dir=tmp_path).api_service_secret()
    create_generated_keys(load_settings(var_dir=tmp_path))
    generated = load_settings(var_dir=tmp_path).api_service_secret()
    assert generated == load_settings(var_dir=tmp_path).api_service_secret() and len(generated) >= 32
    assert (tmp_path / "secrets" / "api-service.token").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("SLUICE_API_SERVICE_TOKEN", "x" * 40)
    assert load_settings(var_dir=tmp_path).api_service_secret() == "x" * 40


def test_api_tokens_live_under_var_secrets_unless_configured(tmp_path: Path) -> None:
    assert load_settings(var_dir=tmp_path).resolved_api_tokens_file == tmp_path / "secrets" / "api-tokens.json"
    shared = tmp_path / "shared" / "tokens.json"
    assert load_settings(var_dir=tmp_path, api_tokens_file=shared).resolved_api_tokens_file == shared


def test_api_tokens_are_hidden_in_the_redacted_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_API_TOKEN", "sluice_0123456789ab_secret-part")
    monkeypatch.setenv("SLUICE_API_SERVICE_TOKEN", "service-secret-" * 3)
    shown = json.dumps(load_settings().redacted())
    assert "secret-part" not in shown and "service-secret-" not in shown
