"""Switching an installation's processing guarantee keeps the inference tables (real broker, real workers)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.core.settings import Settings
from agents.processes import runtime
from tests.integration.conftest import wait_for
from tests.integration.helpers import values
from tests.integration.test_inference_flow import ask, responses

# Kills workers or the broker and waits for them to recover: `make test-resilience`, not `make test`.
pytestmark = pytest.mark.resilience


def request(tenant: str, name: str) -> dict[str, Any]:
    return {
        "request_id": f"{tenant}-{name}",
        "tenant": tenant,
        "session_id": f"{tenant}-s",
        "prompt": "where is my order?",
        "max_tokens": 4,
    }


def test_exactly_once_tables_are_restored_by_an_at_least_once_worker(
    sluice_up: dict[str, Any], settings: Settings, bootstrap: str, tenant: str
) -> None:
    assert settings.processing_guarantee == "exactly_once"
    answered_before = request(tenant, "before")
    ask(bootstrap, [answered_before])
    assert len(responses(bootstrap, answered_before["request_id"], 1)[answered_before["request_id"]]) == 1
    # The transactional changelogs now end in a transaction marker, which an at_least_once worker must read past.
    try:
        runtime.restart_workers(settings, bootstrap, "at_least_once", log=lambda *_: None)
        after = request(tenant, "after")
        ask(bootstrap, [answered_before, after])
        found = responses(bootstrap, tenant, 2)
        assert [a["status"] for a in found[after["request_id"]]] == ["ok"]
        # The restored answered_requests table still knows the request answered under exactly-once.
        assert len(found[answered_before["request_id"]]) == 1, "the table was not restored: answered again"
        suppressed = wait_for(
            lambda: [
                e["subject_id"]
                for e in values(bootstrap, "audit.events.v1", tenant=tenant)
                if e["event_type"] == "request.duplicate_suppressed"
            ],
            timeout_s=30,
        )
        assert suppressed == [answered_before["request_id"]]
    finally:
        runtime.restart_workers(settings, bootstrap, settings.processing_guarantee, log=lambda *_: None)
    # And back: the exactly_once worker restores what at_least_once wrote after the marker.
    again = request(tenant, "again")
    ask(bootstrap, [again])
    assert [a["status"] for a in responses(bootstrap, again["request_id"], 1)[again["request_id"]]] == ["ok"]
