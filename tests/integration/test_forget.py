"""Right to erasure on the real broker and index: `sluice forget` removes one data subject's chunks, audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agents.core.settings import Settings
from agents.processes.broker import free_port
from tests.integration.conftest import api, wait_for
from tests.integration.helpers import event, produce, raw_values, values
from tests.integration.test_cli import sluice

ID_A = "44030419850612321X"
PHONE_A = "13687654321"
ID_B = "310115199203054564"


def records_of(sluice_up: dict[str, Any], tenant: str) -> dict[str, Any]:
    path = f"/records?tenant={tenant}&limit=500"
    return api(sluice_up["api_url"], path, token=sluice_up["api_token"])  # type: ignore[no-any-return]


def subject_events(tenant: str) -> list[tuple[str, bytes | None, bytes | None]]:
    """Subject A: an ID number in a declared field, in CRM notes and in ERP remarks; its phone alone in a log
    line. Subject B: another ID number."""
    return [
        (
            "crm.events.v1",
            b"a-1",
            event(
                "a-1",
                tenant,
                {
                    "customer_id": "C-A",
                    "channel": "phone",
                    "notes": "客户要求退货",
                    "contact": {"id_number": ID_A, "phone": PHONE_A},
                },
            ),
        ),
        (
            "crm.events.v1",
            b"a-2",
            event("a-2", tenant, {"customer_id": "C-A", "channel": "visit", "notes": f"身份证{ID_A}，来电询问发票"}),
        ),
        (
            "erp.events.v1",
            b"a-3",
            event("a-3", tenant, {"doc_type": "order", "doc_no": "SO-A", "remarks": f"客户身份证 {ID_A} 要求退货加急"}),
        ),
        (
            "logs.events.v1",
            b"a-4",
            event("a-4", tenant, {"level": "INFO", "service": "crm", "message": f"回电请求，手机 {PHONE_A}"}),
        ),
        (
            "crm.events.v1",
            b"b-1",
            event(
                "b-1",
                tenant,
                {
                    "customer_id": "C-B",
                    "channel": "phone",
                    "notes": "另一位客户要求退货",
                    "contact": {"id_number": ID_B},
                },
            ),
        ),
    ]


def test_forget_removes_one_subjects_chunks_keeps_the_others_and_audits_it(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    produce(bootstrap, subject_events(tenant))
    before = wait_for(lambda: (r := records_of(sluice_up, tenant))["total"] == 5 and r, timeout_s=90)
    by_event = {r["lineage"]["event_id"]: r["record_id"] for r in before["records"]}

    # The pseudonym the CLI computes is exactly what ingest stored in the records' subjects.
    id_subject = sluice("deid", "pseudonym", "--type", "CN_RESIDENT_ID", ID_A).stdout.strip()
    phone_subject = sluice("deid", "pseudonym", "--type", "CN_MOBILE", "-", stdin=PHONE_A + "\n").stdout.strip()
    subjects = {
        r["lineage"]["event_id"]: set(r["subjects"])
        for r in values(bootstrap, "records.deidentified.v1", tenant=tenant)
    }
    assert {e for e, s in subjects.items() if id_subject in s} == {"a-1", "a-2", "a-3"}
    assert {e for e, s in subjects.items() if phone_subject in s} == {"a-1", "a-4"}

    # By raw identifier: its pseudonym is computed locally; the value is never shown.
    # The CLI calls the API with the session's credential from SLUICE_API_TOKEN, as an operator would.
    with_token = {"SLUICE_API_TOKEN": sluice_up["api_token"]}
    by_id = sluice(
        "forget", "--tenant", tenant, "--identifier", ID_A, "--type", "CN_RESIDENT_ID", "--json", env=with_token
    )
    reply = json.loads(by_id.stdout)
    after_id = records_of(sluice_up, tenant)
    assert reply["tenant"] == tenant and reply["subject"] == id_subject
    assert reply["chunks_deleted"] == before["chunks"] - after_id["chunks"] > 0
    assert {r["record_id"] for r in after_id["records"]} == {by_event["a-4"], by_event["b-1"]}

    # By pseudonym: the log line that named subject A only by phone goes too; subject B stays.
    by_subject = sluice("forget", "--tenant", tenant, "--subject", phone_subject, env=with_token)
    assert f"forgot {phone_subject} in tenant {tenant}" in by_subject.stdout
    after = records_of(sluice_up, tenant)
    assert [r["record_id"] for r in after["records"]] == [by_event["b-1"]]
    query = {"query": "客户要求退货", "tenant": tenant, "k": 50}
    hits = api(sluice_up["api_url"], "/search", query, token=sluice_up["api_token"])["hits"]
    assert {h["record_id"] for h in hits} == {by_event["b-1"]}

    # Each erasure leaves one audit event that names the pseudonym, never the value.
    # The chainer seals the API's audit draft into audit.events.v1 like any other.
    audit_topic = "audit.events.v1"
    forgotten = wait_for(
        lambda: (
            len(
                e := [
                    a for a in values(bootstrap, audit_topic, tenant=tenant) if a["event_type"] == "subject.forgotten"
                ]
            )
            == 2
            and e
        )
    )
    assert {(a["subject_id"], a["details"]["chunks_deleted"], a["stage"]) for a in forgotten} == {
        (id_subject, reply["chunks_deleted"], "forget"),
        (phone_subject, after_id["chunks"] - after["chunks"], "forget"),
    }
    assert reply["audit_event_id"] in {a["event_id"] for a in forgotten}

    written = "\n".join(raw_values(bootstrap, audit_topic)) + by_id.stdout + by_id.stderr + by_subject.stdout
    written += "\n".join(p.read_text(errors="replace") for p in (settings.run_dir).glob("*.log"))
    for raw in (ID_A, PHONE_A, ID_B):
        assert raw not in written


def test_forget_says_to_start_sluice_when_no_worker_api_is_there(settings: Settings, tmp_path: Path) -> None:
    env_without_state = {"SLUICE_VAR_DIR": str(tmp_path)}
    result = cli_with_env(env_without_state, "forget", "--tenant", "acme", "--subject", "<CN_MOBILE_49e582b863>")
    assert result.returncode == 1 and "run `sluice up` first" in result.stderr

    # A worker that was started once but is gone: the API URL is known, nobody answers.
    run = tmp_path / "run"
    run.mkdir()
    (run / "processes.json").write_text(
        json.dumps({"workers": {"index-0": {"role": "index", "pid": None, "api_port": free_port(), "log": "x"}}})
    )
    result = cli_with_env(env_without_state, "forget", "--tenant", "acme", "--subject", "<CN_MOBILE_49e582b863>")
    assert result.returncode == 1 and "run `sluice up` first" in result.stderr and "no worker API at" in result.stderr


def cli_with_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
