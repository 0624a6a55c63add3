"""`sluice explain` against the real broker: the latest context kept on inference.context.v1, or a clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from agents.cli import main
from agents.core.kafka_io import produce_all
from agents.core.settings import Settings
from agents.inference.tenancy import request_key
from agents.tools.explain import read_request_context
from schemas.inference import ContextMessage, KeptRecord, RequestContext
from topics.admin import admin_client, apply_topics
from topics.specs import INFERENCE_CONTEXT


def kept(tenant: str, request_id: str, model: str, answer: str) -> RequestContext:
    return RequestContext(
        request_id=request_id,
        tenant=tenant,
        session_id=None,
        task="chat",
        model=model,
        messages=[
            ContextMessage(role="system", content="Records:\n1. [rec-1] Refunds take 7 days."),
            ContextMessage(role="user", content="How long do refunds take?"),
        ],
        retrieved=[KeptRecord(record_id="rec-1", text="Refunds take 7 days.", score=0.9)],
        answer=answer,
        citations=["rec-1"],
        status="ok",
        kept_at=datetime.now(UTC),
    )


def test_explain_reads_the_latest_kept_context_and_refuses_one_that_is_gone(
    settings: Settings, bootstrap: str, tenant: str, tiny_generator: str, tmp_path: Path
) -> None:
    options = settings.kafka_client_config()
    apply_topics(
        admin_client(bootstrap, options),
        default_partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        specs=[INFERENCE_CONTEXT],
    )
    model = f"tiny-llama@{tiny_generator}"
    messages = [
        (request_key(tenant, "req-1"), kept(tenant, "req-1", model, "Seven days.")),
        (request_key(tenant, "req-1"), kept(tenant, "req-1", model, "Refunds take 7 days [rec-1].")),
        (request_key(tenant, "req-2"), kept(tenant, "req-2", model, "Forgotten.")),
        (request_key(tenant, "req-2"), None),
    ]
    produce_all(
        bootstrap,
        [
            (INFERENCE_CONTEXT.name, key, None if value is None else value.model_dump_json().encode())
            for key, value in messages
        ],
        options=options,
    )

    assert read_request_context(settings, bootstrap, tenant, "req-1").answer == "Refunds take 7 days [rec-1]."

    out = tmp_path / "req-1.html"
    result = CliRunner().invoke(main, ["explain", "req-1", "--tenant", tenant, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n" and 'id="heatmap"' in out.read_text(encoding="utf-8")
    assert "loading the torch twin" in result.stderr or "reading attention" in result.stderr

    for request_id, why in (("req-2", "deleted"), ("req-3", "retention")):
        result = CliRunner().invoke(main, ["explain", request_id, "--tenant", tenant])
        assert result.exit_code == 1
        assert INFERENCE_CONTEXT.name in result.stderr and why in result.stderr
