"""The command line as a user runs it: status, topics, de-identification on stdin, search, configuration, rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agents.core.settings import Settings
from tests.integration.helpers import produce
from topics.specs import ALL_TOPICS


def sluice(
    *args: str, stdin: str | None = None, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`sluice ARGS` in a subprocess with this session's environment, plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
        env={**os.environ, **env} if env else None,
    )


def test_status_json_reports_broker_api_processes_and_health(sluice_up: dict[str, Any]) -> None:
    status = json.loads(sluice("status", "--json").stdout)
    assert set(status) == {"bootstrap_servers", "secure", "api_url", "processes", "healthy"}
    assert status["healthy"] is True and status["secure"] is False
    assert status["bootstrap_servers"].startswith("127.0.0.1:")
    assert status["api_url"].startswith("http://127.0.0.1:")
    roles = sorted(p["role"] for p in status["processes"])
    assert roles == ["audit", "broker", "deidentify", "index", "inference"]
    assert all(isinstance(p["pid"], int) for p in status["processes"])
    # Every worker has said it is ready (models loaded, control topics read, tables recovered).
    assert all(p["ready"] is True for p in status["processes"] if p["role"] != "broker")


def test_topics_apply_is_idempotent(sluice_up: dict[str, Any]) -> None:
    second = sluice("topics", "apply").stdout
    lines = second.strip().splitlines()
    assert len(lines) >= len(ALL_TOPICS) and all(" exists " in line for line in lines)


def test_deid_reads_jsonl_and_writes_text_and_entities(settings: Settings) -> None:  # its keys, its var dir
    lines = [
        {"id": 1, "text": "客户张伟，手机 138-1234-5678，邮箱 zhang.wei@example.com"},
        {"id": 2, "text": "nothing personal here"},
    ]
    result = sluice("deid", stdin="\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n")
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 3
    assert "138-1234-5678" not in out[0]["text"] and "zhang.wei@example.com" not in out[0]["text"]
    assert {e["type"] for e in out[0]["entities"]} >= {"CN_MOBILE", "EMAIL_ADDRESS"}
    assert out[0]["id"] == 1 and out[1]["entities"] == []
    assert "error" in out[2] and "not json" not in json.dumps(out[2])


def test_config_prints_settings_without_secrets(settings: Settings) -> None:
    shown = json.loads(sluice("config").stdout)
    assert shown["var_dir"] == str(settings.var_dir)
    assert shown["pseudonym_key"] in (None, "**********")


def test_search_requires_a_tenant_with_a_clear_error(sluice_up: dict[str, Any]) -> None:
    result = sluice("search", "anything", check=False)
    assert result.returncode != 0 and "--tenant" in result.stderr


def test_rules_show_sees_a_published_pack_live_on_the_topic_and_gone_after_its_tombstone(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, tmp_path: Path
) -> None:
    # A policy that answers only this tenant's own keyword, so the running inference worker changes for no one else.
    name, version = f"p{tenant}", f"1.0.0-{tenant}"
    pack_file = tmp_path / "policy.yaml"
    pack_file.write_text(
        f"name: {name}\n"
        f'version: "{version}"\n'
        "description: a policy published by test_cli\n"
        "rules:\n"
        f"  - id: {name}.kettle\n"
        f"    when: {{keywords: [kettle-{tenant}], tenants: [{tenant}]}}\n"
        "    action: answer\n"
        "    text: Kettles ship on Mondays.\n",
        encoding="utf-8",
    )
    published = sluice("rules", "publish", "--kind", "policy", str(pack_file))
    assert published.stdout == f"published {name}@{version} on rules.v1\n"
    try:
        shown = json.loads(sluice("rules", "show", "--json").stdout)
        (live,) = [p for p in shown["live"] if (p["kind"], p["name"]) == ("policy", name)]
        assert live["version"] == version and isinstance(live["offset"], int)
        assert f"{name}@{version}" in shown["versions"]["policy"]
        assert ("policy", "default") in {(p["kind"], p["name"]) for p in shown["bundled_in_force"]}
        text = sluice("rules", "show").stdout
        assert f"rules.v1 offset {live['offset']}" in text and version in text
    finally:
        # A tombstone on its key, so the pack does not outlive the test.
        produce(bootstrap, [("rules.v1", f"policy:{name}".encode(), None)])
    after = json.loads(sluice("rules", "show", "--json").stdout)
    assert all(p["name"] != name for p in after["live"])
    assert any((p["kind"], p["name"]) == ("policy", name) for p in after["removed"])
