"""`sluice tokens create | list | revoke`: the token is printed once, on stdout alone; the store keeps its digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.api.tokens import TOKEN_PATTERN, TokenStore
from agents.cli import main


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TokenStore:
    monkeypatch.setenv("SLUICE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SLUICE_API_TOKENS_FILE", raising=False)
    return TokenStore(tmp_path / "secrets" / "api-tokens.json")


def test_create_prints_the_token_alone_on_stdout_and_stores_only_its_digest(store: TokenStore) -> None:
    result = CliRunner().invoke(main, ["tokens", "create", "--tenant", "acme", "--name", "front end"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert TOKEN_PATTERN.fullmatch(token) and result.stdout == token + "\n"
    [entry] = store.entries().values()
    assert f"created API token {entry.token_id} (tenant acme)" in result.stderr and "only this once" in result.stderr
    assert store.check(token).entry == entry and entry.name == "front end"
    assert token not in store.path.read_text()


@pytest.mark.parametrize(("flag", "kind"), [("--service", "service"), ("--admin", "admin")])
def test_service_and_admin_tokens_name_no_tenant(store: TokenStore, flag: str, kind: str) -> None:
    result = CliRunner().invoke(main, ["tokens", "create", flag, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["kind"] == kind and shown["tenant"] is None and "sha256" not in shown
    assert store.check(shown["token"]).entry is not None


@pytest.mark.parametrize(
    "args", [[], ["--service", "--admin"], ["--tenant", "acme", "--admin"], ["--tenant", "acme", "--service"]]
)
def test_create_takes_exactly_one_kind(store: TokenStore, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["tokens", "create", *args])
    assert result.exit_code == 2 and "exactly one of" in result.stderr
    assert not store.path.exists()


def test_a_bad_tenant_is_one_line_and_creates_nothing(store: TokenStore) -> None:
    result = CliRunner().invoke(main, ["tokens", "create", "--tenant", "acme; drop"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: tenant:")
    assert not store.path.exists()


def test_list_shows_every_token_without_its_secret_or_digest(store: TokenStore) -> None:
    tenant = store.create("tenant", tenant="acme", name="app")
    admin = store.create("admin", name="prometheus")
    store.revoke(admin.entry.token_id)
    text = CliRunner().invoke(main, ["tokens", "list"]).stdout
    lines = CliRunner().invoke(main, ["tokens", "list", "--json"]).stdout.splitlines()
    listed = {row["id"]: row for row in map(json.loads, lines)}
    assert listed[tenant.entry.token_id]["tenant"] == "acme" and listed[tenant.entry.token_id]["revoked_at"] is None
    assert listed[admin.entry.token_id]["revoked_at"] is not None
    for issued in (tenant, admin):
        assert issued.token not in text + "".join(lines) and issued.entry.sha256 not in text + "".join(lines)
        assert issued.entry.token_id in text
    assert "revoked" in text and "active" in text


def test_list_without_tokens_says_how_to_make_one(store: TokenStore) -> None:
    result = CliRunner().invoke(main, ["tokens", "list"])
    assert result.exit_code == 0 and result.stdout == "" and "sluice tokens create" in result.stderr


def test_revoke_makes_the_token_fail_its_next_check(store: TokenStore) -> None:
    issued = store.create("tenant", tenant="acme")
    result = CliRunner().invoke(main, ["tokens", "revoke", issued.entry.token_id])
    assert result.exit_code == 0 and f"revoked API token {issued.entry.token_id}" in result.stdout
    assert store.check(issued.token).reason == "revoked_token"


def test_revoking_an_unknown_id_is_one_line(store: TokenStore) -> None:
    result = CliRunner().invoke(main, ["tokens", "revoke", "0123456789ab"])
    assert result.exit_code == 1 and "no API token with id" in result.stderr


def test_the_store_file_can_be_shared_through_its_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared" / "tokens.json"
    monkeypatch.setenv("SLUICE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SLUICE_API_TOKENS_FILE", str(shared))
    token = CliRunner().invoke(main, ["tokens", "create", "--tenant", "acme"]).stdout.strip()
    assert TokenStore(shared).check(token).entry is not None
    assert not (tmp_path / "var" / "secrets" / "api-tokens.json").exists()
