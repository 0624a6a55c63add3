"""Sluice's own callers of the HTTP API get their credentials: `sluice up` hands the service credential to the
workers that use it, and the demo calls with one token per tenant and revokes them when it ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.api.tokens import TokenStore
from agents.core.settings import load_settings
from agents.demo.run import tenant_apis
from agents.processes import runtime

SERVICE = "service-credential-" + "s" * 32


class Spawned:
    def __init__(self) -> None:
        self.envs: dict[str, dict[str, str]] = {}

    def __call__(self, command: list[str], **kwargs: Any) -> Any:
        self.envs[command[command.index("--role") + 1]] = kwargs["env"]

        class Process:
            pid = 4242

        return Process()


@pytest.mark.parametrize(("slot", "gets_it"), [("index-0", True), ("inference-0", True), ("deidentify-0", False)])
def test_up_gives_the_service_credential_to_the_index_and_inference_workers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slot: str, gets_it: bool
) -> None:
    spawned = Spawned()
    monkeypatch.setattr("agents.processes.runtime.subprocess.Popen", spawned)
    runtime._spawn(load_settings(var_dir=tmp_path), slot, None, "http://127.0.0.1:6066", SERVICE)
    env = spawned.envs[slot.split("-")[0]]
    assert (env.get("SLUICE_API_SERVICE_TOKEN") == SERVICE) is gets_it
    assert ("SLUICE_API_SERVICE_TOKEN" in env) is gets_it


def test_the_demo_calls_with_one_token_per_tenant_and_revokes_them_at_the_end(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    store = TokenStore(settings.resolved_api_tokens_file)
    with tenant_apis(settings, "http://127.0.0.1:6066", ["acme-1", "globex-1"]) as apis:
        entries = list(store.entries().values())
        assert sorted(e.tenant or "" for e in entries) == ["acme-1", "globex-1"]
        assert all(e.kind == "tenant" and e.active for e in entries)
        for tenant, api in apis.items():
            checked = store.check(api._headers["Authorization"].removeprefix("Bearer "))
            assert checked.entry is not None and checked.entry.tenant == tenant
    assert all(not e.active for e in store.entries().values())
