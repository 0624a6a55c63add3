"""Audit keys: the chainer alone creates a local signing key (once, private, never for an external cluster);
verifying reads public keys only and never creates anything."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.core.audit_keys import (
    create_local_signing_key,
    parse_public_key_assignment,
    private_key_text,
    public_key_text,
    read_public_keys_file,
)
from agents.core.settings import load_settings
from schemas.errors import ConfigurationError

SEED = Ed25519PrivateKey.from_private_bytes(bytes([3]) * 32)


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_the_chainer_creates_the_local_signing_key_once_private_and_its_public_key_beside_it(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    key_id, keys = settings.audit_signer(create_local=True)
    assert key_id == "local-1" and set(keys) == {"local-1"}
    private = tmp_path / "secrets" / "audit-ed25519-local-1.key"
    assert private.stat().st_mode & 0o077 == 0
    again = load_settings(var_dir=tmp_path).audit_signer(create_local=True)[1]["local-1"]
    assert private_key_text(again) == private_key_text(keys["local-1"])
    public = settings.audit_checkpoint_keys().public
    assert public_key_text(public["local-1"]) == public_key_text(keys["local-1"])


def test_workers_starting_at_once_end_with_one_key(tmp_path: Path) -> None:
    made: list[str] = []

    def make() -> None:
        made.append(private_key_text(create_local_signing_key(tmp_path, "k")))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 1
    assert sorted(os.listdir(tmp_path)) == ["audit-ed25519-k.key", "audit-ed25519-k.pub"]


def test_verifying_and_printing_keys_create_nothing(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    keys = settings.audit_checkpoint_keys()
    assert not keys.public and not keys.hmac
    with pytest.raises(ConfigurationError, match="generated when the audit chainer first starts"):
        settings.audit_signer()
    assert files(tmp_path) == []


def test_an_external_cluster_refuses_a_generated_key_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092")
    with pytest.raises(ConfigurationError, match="SLUICE_AUDIT_SIGNING_KEYS"):
        load_settings().audit_signer(create_local=True)


def test_configured_keys_sign_and_verify_by_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLUICE_AUDIT_SIGNING_KEYS", json.dumps({"2026-11": private_key_text(SEED)}))
    monkeypatch.setenv("SLUICE_AUDIT_SIGNING_KEY_ID", "2026-11")
    monkeypatch.setenv("SLUICE_AUDIT_PUBLIC_KEYS", json.dumps({"2026-11": public_key_text(SEED)}))
    settings = load_settings(var_dir=tmp_path)
    key_id, keys = settings.audit_signer(create_local=True)
    assert key_id == "2026-11" and private_key_text(keys[key_id]) == private_key_text(SEED)
    assert list(settings.audit_checkpoint_keys().public) == ["2026-11"]
    assert files(tmp_path) == []
    assert private_key_text(SEED) not in json.dumps(settings.redacted(), default=str)


def test_a_signing_id_without_its_key_names_both_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_AUDIT_SIGNING_KEYS", json.dumps({"old": private_key_text(SEED)}))
    monkeypatch.setenv("SLUICE_AUDIT_SIGNING_KEY_ID", "new")
    with pytest.raises(ConfigurationError, match=r"SLUICE_AUDIT_SIGNING_KEY_ID='new'.*SLUICE_AUDIT_SIGNING_KEYS"):
        load_settings().audit_signer()


def test_a_bad_public_key_names_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_AUDIT_PUBLIC_KEYS", json.dumps({"k": "not-base64!"}))
    with pytest.raises(ConfigurationError, match="SLUICE_AUDIT_PUBLIC_KEYS"):
        load_settings().audit_checkpoint_keys()


def test_public_keys_read_as_id_equals_base64_or_a_json_file(tmp_path: Path) -> None:
    text = public_key_text(SEED)
    key_id, key = parse_public_key_assignment(f"2026-11={text}")
    assert key_id == "2026-11" and public_key_text(key) == text
    lines = tmp_path / "keys.txt"
    lines.write_text(f"# auditors' copy\n2026-11={text}\n\n")
    as_json = tmp_path / "keys.json"
    as_json.write_text(json.dumps({"2026-11": text}))
    assert list(read_public_keys_file(lines)) == list(read_public_keys_file(as_json)) == ["2026-11"]
    for bad in ("no-equals-sign", "bad id=" + text, "k=" + text[:-4]):
        with pytest.raises(ConfigurationError):
            parse_public_key_assignment(bad)


def test_legacy_hmac_keys_are_read_from_the_setting_or_the_old_local_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "audit-hmac-local-1.key").write_text("abcd\n")
    assert load_settings(var_dir=tmp_path).audit_checkpoint_keys().hmac == {"local-1": b"abcd"}
    monkeypatch.setenv("SLUICE_AUDIT_HMAC_KEYS", json.dumps({"2025": "s3cret"}))
    assert load_settings(var_dir=tmp_path).audit_checkpoint_keys().hmac == {"2025": b"s3cret"}
