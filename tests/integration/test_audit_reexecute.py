"""`sluice audit replay --reexecute`: recorded requests run again on a registry version, compared by answer hash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import wait_for
from tests.integration.helpers import values
from tests.integration.test_cli import sluice
from tests.integration.test_inference_flow import answered_events, ask, responses

PROMPT = "my phone is 13812345678, where is order 77?"


def test_recorded_answers_reproduce_on_their_own_version_and_the_report_holds_no_text(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, tmp_path: Path
) -> None:
    prefix = f"{tenant}-rx-"
    session = f"{tenant}-s"
    for turn in range(3):  # one turn after the other: each ran alone, as a re-execution of one session does
        request_id = f"{prefix}{turn}"
        body = {"request_id": request_id, "tenant": tenant, "session_id": session, "prompt": f"{PROMPT} ({turn})"}
        ask(bootstrap, [{**body, "max_tokens": 6}])
        assert request_id in responses(bootstrap, request_id, 1)
    wait_for(lambda: len(answered_events(bootstrap, tenant)) >= 3, timeout_s=30)
    model = next(e["versions"]["model"] for e in values(bootstrap, "audit.events.v1", tenant=tenant) if e["versions"])

    jsonl = sluice("audit", "replay", "--tenant", tenant, "--reexecute", model)
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert sorted(r["request_id"] for r in rows) == [f"{prefix}{t}" for t in range(3)]
    assert all(r["model"] == model and r["status"] == "ok" and len(r["sha256"]) == 64 for r in rows)
    assert [r["same"] for r in rows] == [True, True, True], "greedy answers did not reproduce on their own version"
    assert "3 same, 0 would differ" in jsonl.stderr

    report = tmp_path / "reexecution.html"
    sluice("audit", "replay", "--tenant", tenant, "--reexecute", model, "--format", "html", "--output", str(report))
    page = report.read_text(encoding="utf-8")
    assert "Re-execution on" in page and "would differ" in page
    assert "13812345678" not in page and "where is order" not in page


def test_reexecute_rejects_a_reference_without_version(sluice_up: dict[str, Any], tenant: str) -> None:
    result = sluice("audit", "replay", "--tenant", tenant, "--reexecute", "tiny-llama", check=False)
    assert result.returncode != 0 and "MODEL@VERSION" in result.stderr
