"""Right to erasure on the real broker and index: `sluice forget` removes one data subject's chunks, audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agents.core.settings import Settings
from agents.ingest.normalise import record_id_for
from agents.processes.broker import free_port
from models.deid.pseudonym_format import legacy_pseudonym
from tests.integration.conftest import api, wait_for
from tests.integration.helpers import event, key_digest, produce, raw_values, values
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


def crm_event(key: bytes, tenant: str, notes: str, id_number: str | None = None) -> tuple[str, bytes, bytes]:
    payload: dict[str, Any] = {"customer_id": "C-1", "channel": "phone", "notes": notes}
    if id_number:
        payload["contact"] = {"id_number": id_number}
    return "crm.events.v1", key, event(key.decode(), tenant, payload)


def test_a_forgotten_subject_is_not_indexed_again_when_its_events_come_back(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    """As a user found it: after `forget`, re-sending the same event indexed the subject again. Now the erasure is
    recorded on subjects.forgotten.v1, and every de-identification and index worker refuses the subject's records."""
    a_key, b_key, c_key = (f"{tenant}-{x}".encode() for x in "abc")
    sent_a = crm_event(a_key, tenant, "客户要求退货", ID_A)
    sent_b = crm_event(b_key, tenant, "另一位客户要求退货", ID_B)
    produce(bootstrap, [sent_a, sent_b])
    before = wait_for(lambda: (r := records_of(sluice_up, tenant))["total"] == 2 and r, timeout_s=90)
    by_event = {r["lineage"]["event_id"].encode(): r["record_id"] for r in before["records"]}
    a_record, b_record = by_event[a_key], by_event[b_key]
    # What de-identification wrote before the erasure: the index worker may meet it again (a replay).
    (old_a,) = [r for r in values(bootstrap, "records.deidentified.v1", tenant=tenant) if r["record_id"] == a_record]

    forgot = sluice(
        "forget",
        "--tenant",
        tenant,
        "--identifier",
        "-",
        "--type",
        "CN_RESIDENT_ID",
        "--json",
        stdin=ID_A,
        env={"SLUICE_API_TOKEN": sluice_up["api_token"]},
    )
    subject = json.loads(forgot.stdout)["subject"]
    assert subject == sluice("deid", "pseudonym", "--type", "CN_RESIDENT_ID", ID_A).stdout.strip()
    recorded = values(bootstrap, "subjects.forgotten.v1", tenant=tenant)
    # Both spellings are recorded: the 16-digit pseudonym and the 10 digits records indexed before hold.
    assert [(r["tenant"], r["subject"]) for r in recorded] == [(tenant, subject), (tenant, legacy_pseudonym(subject))]
    assert {r["record_id"] for r in records_of(sluice_up, tenant)["records"]} == {b_record}

    def audited(event_type: str, record_id: str) -> list[dict[str, Any]]:
        return [
            a
            for a in values(bootstrap, "audit.events.v1", tenant=tenant)
            if a["event_type"] == event_type and a["subject_id"] == record_id
        ]

    # The same events again, as an upstream retry or a replay from the beginning sends them.
    produce(bootstrap, [sent_a, sent_b])
    (again,) = wait_for(lambda: audited("record.subject_suppressed", a_record), timeout_s=90)
    wait_for(lambda: len(audited("record.indexed", b_record)) == 2, timeout_s=90)
    assert {r["record_id"] for r in records_of(sluice_up, tenant)["records"]} == {b_record}
    assert again["details"]["forgotten"] == [subject] and subject in again["details"]["subjects"]
    # De-identification refuses it once its watcher has read the erasure; the index worker had it before the
    # delete, so whichever saw it first, it is not indexed.
    assert again["stage"] in ("deidentify", "index")

    # Defence in depth: a record de-identified before the erasure comes back to the index worker.
    produce(bootstrap, [("records.deidentified.v1", a_record.encode(), json.dumps(old_a).encode())])
    wait_for(lambda: len(audited("record.subject_suppressed", a_record)) == 2, timeout_s=90)
    by_index = audited("record.subject_suppressed", a_record)[1]
    assert (by_index["stage"], by_index["source_topic"]) == ("index", "records.deidentified.v1")

    # A new event naming the subject, now that every worker has read the erasure: refused by de-identification,
    # so not even records.deidentified.v1 holds a new copy.
    produce(bootstrap, [crm_event(c_key, tenant, f"身份证{ID_A}，来电询问发票")])
    c_record = record_id_for("crm", tenant, c_key.decode())
    (refused,) = wait_for(lambda: audited("record.subject_suppressed", c_record), timeout_s=90)
    assert (refused["stage"], refused["details"]["action"]) == ("deidentify", "dead_lettered")
    assert c_record not in {r["record_id"] for r in values(bootstrap, "records.deidentified.v1", tenant=tenant)}
    assert {r["record_id"] for r in records_of(sluice_up, tenant)["records"]} == {b_record}

    # Each refusal is a dead letter that describes its input without carrying it.
    keys = {key_digest(key) for key in (a_key, c_key, a_record.encode())}
    letters = [d for d in values(bootstrap, "ingest.dlq.v1") if d["key_sha256"] in keys]
    assert len(letters) == 3
    assert all(d["error_type"] == "SubjectForgotten" and not d["original_included"] for d in letters)

    # The compliance view: replay --subject lists the erasure and every refusal.
    replayed = sluice("audit", "replay", "--subject", subject, "--tenant", tenant, "--format", "jsonl")
    lines = [json.loads(line)["event"] for line in replayed.stdout.splitlines()]
    kinds = [(e["event_type"], e["subject_id"]) for e in lines]
    assert ("subject.forgotten", subject) in kinds and ("record.subject_suppressed", c_record) in kinds
    assert kinds.count(("record.subject_suppressed", a_record)) == 2

    topics = ("audit.events.v1", "ingest.dlq.v1", "subjects.forgotten.v1")
    written = "\n".join(raw for topic in topics for raw in raw_values(bootstrap, topic))
    assert ID_A not in written and ID_B not in written
