"""The command line as a user runs it: status, topics, de-identification on stdin, search, configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from agents.core.settings import Settings
from topics.specs import ALL_TOPICS


def sluice(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def test_status_json_reports_broker_api_processes_and_health(sluice_up: dict[str, Any]) -> None:
    status = json.loads(sluice("status", "--json").stdout)
    assert set(status) == {"bootstrap_servers", "api_url", "processes", "healthy"}
    assert status["healthy"] is True
    assert status["bootstrap_servers"].startswith("127.0.0.1:")
    assert status["api_url"].startswith("http://127.0.0.1:")
    roles = sorted(p["role"] for p in status["processes"])
    assert roles == ["audit", "broker", "deidentify", "index", "inference"]
    assert all(isinstance(p["pid"], int) for p in status["processes"])


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
